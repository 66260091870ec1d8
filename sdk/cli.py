"""The `mmedge` command line: info, export, validate, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from mmedge.errors import MMEdgeError

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def _cmd_info(args: argparse.Namespace) -> int:
    from mmedge import info

    report = info.collect()
    print(json.dumps(report, indent=2) if args.json else info.format_report(report))
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    try:
        from mmedge.export import cli as export_cli
    except ImportError as exc:
        raise MMEdgeError(
            f"mmedge export needs the export extra ({exc}): pip install 'mmedge[export]'"
        ) from exc
    return export_cli.run_export(args)


def _cmd_validate(args: argparse.Namespace) -> int:
    from mmedge.bundle import Bundle
    from mmedge.validate import validate_bundle

    with Bundle.load(args.bundle) as bundle:
        print(
            f"{bundle.source}: manifest schema v{bundle.manifest['schema_version']} valid, "
            f"{len(bundle.artifacts)} artifact(s) and {len(bundle.manifest.get('files', []))} "
            "file(s) match their sha256"
        )
        checks = validate_bundle(bundle, backend=args.backend)
        ok = True
        for check in checks:
            if check.report is None:
                print(f"  {check.artifact}: skipped ({check.skipped})")
                continue
            ok &= check.passed
            print(
                f"  {check.artifact} on {check.backend} [{', '.join(check.runs_on)}] vs stored "
                f"PyTorch outputs: {check.report.summary()}"
            )
        if args.model:
            from mmedge.export import cli as export_cli

            ok &= export_cli.validate_against_torch(bundle, args.model, args.weights, args.samples)
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_demo(args: argparse.Namespace) -> int:
    from mmedge import demo

    return demo.run(bundle=args.bundle, backend=args.backend, as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    from mmedge._version import __version__

    parser = argparse.ArgumentParser(
        prog="mmedge", description="Edge deployment SDK for multimodal perception."
    )
    parser.add_argument("--version", action="version", version=f"mmedge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="this machine, this build, the available backends")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("export", help="export a PyTorch model to a checked bundle")
    p.add_argument(
        "factory",
        metavar="MODULE:FUNCTION",
        help="a function returning the nn.Module (package.module:fn or path/file.py:fn)",
    )
    p.add_argument(
        "--weights", required=True, help="state_dict file (loaded with weights_only=True)"
    )
    p.add_argument("-o", "--out", required=True, help="NAME.mmb (directory) or NAME.mmb.tar")
    p.add_argument("--name", help="bundle name (default: from --out)")
    p.add_argument("--preprocess", help="ImageSpec as a JSON file or inline JSON")
    p.add_argument("--input-shape", help="C,H,W of one input (default: from --preprocess)")
    p.add_argument("--labels", help="text file with one label per line")
    p.add_argument("--modality", default="image", choices=["image", "audio", "video", "fusion"])
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--exporter", default="auto", choices=["auto", "dynamo", "torchscript"])
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("validate", help="re-check a bundle: checksums, schema, parity")
    p.add_argument("bundle")
    p.add_argument("--backend", default="auto")
    p.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="also re-run parity against this PyTorch model (needs torch)",
    )
    p.add_argument("--weights", help="state_dict for --model")
    p.add_argument("--samples", type=int, default=32, help="fresh inputs for --model parity")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("demo", help="run the built-in model on built-in sample frames")
    p.add_argument("--bundle", help="a bundle to use instead of the built-in one")
    p.add_argument("--backend", default="auto")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "validate" and args.model and not args.weights:
        parser.error("validate --model needs --weights")
    try:
        return int(args.func(args))
    except MMEdgeError as exc:
        print(f"mmedge {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
