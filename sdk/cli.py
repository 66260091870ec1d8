"""The `mmedge` command line: info, export, export-triton, serve, build-engine, validate, demo,
run."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mmedge.cli_deploy import add_deploy
from mmedge.cli_export import add_export
from mmedge.cli_serve import add_export_triton, add_serve
from mmedge.errors import MMEdgeError

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143: the shells'


class Terminated(BaseException):
    """SIGTERM arrived (systemd stop, docker stop, kill): unwinds like KeyboardInterrupt, so
    a running pipeline's `finally` stops it and joins its threads before the process exits."""


@contextmanager
def _terminate_unwinds() -> Iterator[None]:
    """Turns SIGTERM into Terminated in the main thread for the duration (SIGINT already
    raises KeyboardInterrupt)."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread (main() called from a thread): leave it alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_info(args: argparse.Namespace) -> int:
    from mmedge import info

    if args.target or args.bundles:
        from mmedge.deploy import target

        device = target.probe(args.root)
        verdicts = [target.engine_verdict(device, b) for b in args.bundles]
        if args.json:
            print(json.dumps({"device": device.to_dict(), "bundles": verdicts}, indent=2))
        else:
            print(target.report(device, verdicts))
        return EXIT_OK
    report = info.collect()
    print(json.dumps(report, indent=2) if args.json else info.format_report(report))
    return EXIT_OK


def _add_export(sub: Any) -> None:
    add_export(sub, _cmd_export)


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
    from mmedge.runtime.validate import validate_bundle

    with Bundle.load(args.bundle) as bundle:
        print(
            f"{bundle.source}: manifest schema v{bundle.schema_version} valid, "
            f"{len(bundle.artifacts)} artifact(s) and {len(bundle.files)} "
            "file(s) match their sha256"
        )
        checks = validate_bundle(bundle, backend=args.backend)
        ok = True
        for check in checks:
            if not check.reports:
                print(f"  {check.artifact}: skipped ({check.skipped})")
                continue
            ok &= check.passed
            print(
                f"  {check.artifact} on {check.backend} [{', '.join(check.runs_on)}] vs stored "
                f"PyTorch outputs: {check.summary()}"
            )
        if args.model:
            from mmedge.export import cli as export_cli

            ok &= export_cli.validate_against_torch(bundle, args.model, args.weights)
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_build_engine(args: argparse.Namespace) -> int:
    from mmedge.runtime.tensorrt.build import add_engine

    dims = {}
    for item in args.dim or []:
        name, _, values = item.partition("=")
        try:
            lo, opt, hi = (int(v) for v in values.split(","))
        except ValueError as exc:
            raise MMEdgeError(f"--dim must be NAME=MIN,OPT,MAX, got {item!r}") from exc
        dims[name] = (lo, opt, hi)
    path, entry = add_engine(
        args.bundle,
        args.precision,
        out=args.out,
        min_batch=args.min_batch,
        opt_batch=args.opt_batch,
        max_batch=args.max_batch,
        dims=dims,
        workspace_mb=args.workspace_mb,
        device_id=args.device,
        if_stale=args.if_stale,
    )
    built = entry["built_for"]
    if entry.get("up_to_date"):
        print(
            f"{path}: {entry['file']} is current (TensorRT {built['tensorrt']}, sm "
            f"{built['compute_capability']}, built from {entry['built_from']}): nothing to do"
        )
        return EXIT_OK
    print(
        f"wrote {entry['file']} into {path}: {entry['precision']} from {entry['built_from']}, "
        f"TensorRT {built['tensorrt']} on {built['gpu']} (sm {built['compute_capability']})"
    )
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.task in ("detection", "segmentation"):
        from mmedge import demo_detection, demo_segmentation

        others = [f for f in ("audio", "media", "camera", "mic", "plot") if getattr(args, f)]
        others += ["streams"] if args.streams != 1 else []
        if others:
            raise MMEdgeError(f"--task {args.task} takes --video, not --{others[0]}")
        detection = args.task == "detection"
        task_demo = demo_detection if detection else demo_segmentation
        return task_demo.run(
            video=args.video,
            out=args.out or ("mmedge-detections.mp4" if detection else "mmedge-segmentation.mp4"),
            seconds=args.seconds or (10.0 if detection else 6.0),
            seed=args.seed,
            backend=args.backend,
            as_json=args.json,
        )
    from mmedge import demo

    return demo.run(
        video=args.video,
        audio=args.audio,
        media=args.media,
        camera=args.camera,
        mic=args.mic,
        seconds=args.seconds or 12.0,
        seed=args.seed,
        streams=args.streams,
        backend=args.backend,
        as_json=args.json,
        plot=args.plot,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from mmedge.deploy.notify import ServiceNotifier
    from mmedge.pipeline.config import load_pipeline

    pipe = load_pipeline(args.config)
    service = ServiceNotifier()  # systemd's READY and watchdog (nothing outside systemd); it
    # counts the results: a service runs for months, so they are not kept

    def show(r: object) -> None:
        service.result()
        if args.json:
            print(json.dumps(r.to_dict(), default=str), flush=True)  # type: ignore[attr-defined]
        else:
            contributors = ", ".join(
                f"{c.modality} {c.label} ({c.staleness_ms:.0f} ms)"
                for c in r.contributors  # type: ignore[attr-defined]
            )
            print(f"{r.t_s:8.2f} s  {r.label:<12} {r.score:.2f}  [{contributors}]", flush=True)  # type: ignore[attr-defined]

    pipe.on_result(show)
    try:  # start/wait/stop, not run(): run() keeps every result for its return value
        pipe.start()
        pipe.wait(args.duration)
    finally:
        pipe.stop()
        service.stopping()
    if args.stats:
        pipe.dump_stats(args.stats)
    if args.plot:
        pipe.plot_latency(args.plot)
    if not args.json:
        print(pipe.telemetry.table())
    errors = pipe.stats()["errors"]
    for e in errors:
        print(f"mmedge run: {e['modality']} {e['stage']}: {e['error']}", file=sys.stderr)
    return EXIT_OK if service.results else EXIT_FAILED


def _add_info(sub: Any) -> None:
    """`mmedge info`."""
    p = sub.add_parser("info", help="this machine, this build, the available backends")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--target",
        action="store_true",
        help="the Jetson this runs on (Jetson Linux, JetPack, CUDA, TensorRT, GPU, power mode) "
        "and whether each BUNDLE's engine fits it, must be rebuilt, or runs on ONNX Runtime",
    )
    p.add_argument("bundles", nargs="*", metavar="BUNDLE", help="with --target")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)  # a device's files elsewhere
    p.set_defaults(func=_cmd_info)


def _add_validate(sub: Any) -> None:
    """`mmedge validate`."""
    p = sub.add_parser("validate", help="re-check a bundle: checksums, schema, parity")
    p.add_argument("bundle")
    p.add_argument("--backend", default="auto")
    p.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="also re-run parity against this PyTorch model (needs torch)",
    )
    p.add_argument("--weights", help="state_dict for --model")
    p.set_defaults(func=_cmd_validate)


def _add_build_engine(sub: Any) -> None:
    """`mmedge build-engine`."""
    p = sub.add_parser(
        "build-engine",
        help="build a TensorRT engine into a bundle, on the machine that will run it",
    )
    p.add_argument("bundle")
    p.add_argument(
        "--precision",
        required=True,
        choices=["fp32", "fp16", "int8"],
        help="which ONNX artifact to build from (strongly typed: the graph's types)",
    )
    p.add_argument("--min-batch", type=int, default=1)
    p.add_argument("--opt-batch", type=int, default=1)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument(
        "--dim",
        action="append",
        metavar="NAME=MIN,OPT,MAX",
        help="range of another dynamic dim, e.g. frames=50,101,400",
    )
    p.add_argument("--workspace-mb", type=int, default=1024, help="builder workspace limit")
    p.add_argument("--device", type=int, default=0, help="CUDA device")
    p.add_argument("-o", "--out", help="write a new bundle here instead of updating BUNDLE")
    p.add_argument(
        "--if-stale",
        action="store_true",
        help="do nothing when the bundle already holds a current engine for this GPU, TensorRT, "
        "L4T, precision, profile and ONNX (what the device's engine service runs at boot)",
    )
    p.set_defaults(func=_cmd_build_engine)


def _add_demo(sub: Any) -> None:
    """`mmedge demo`."""
    p = sub.add_parser(
        "demo",
        help="the fused image + video + audio pipeline on a synthetic scene (or your media); "
        "--task detection: the tracked digit detector, written as an annotated video; "
        "--task segmentation: the digit segmenter's masks over the frames",
    )
    p.add_argument(
        "--task",
        choices=("fusion", "detection", "segmentation"),
        default="fusion",
        help="fusion (default), detection or segmentation",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="--task detection / segmentation: where the annotated video goes (MP4; "
        "segmentation also a PNG of the middle frame); default mmedge-detections.mp4 / "
        "mmedge-segmentation.mp4",
    )
    p.add_argument(
        "--video",
        metavar="FILE",
        help="a video file instead of the scene's video (--task detection / segmentation: "
        "the background)",
    )
    p.add_argument("--audio", metavar="FILE", help="an audio file instead of the scene's audio")
    p.add_argument("--media", metavar="FILE", help="one file with video and audio tracks")
    p.add_argument("--camera", metavar="N", help="a camera index or GStreamer pipeline")
    p.add_argument("--mic", action="store_true", help="the default microphone")
    p.add_argument(
        "--seconds",
        type=float,
        help="scene length (s; 12, detection 10, segmentation 6), or how long to run live sources",
    )
    p.add_argument("--seed", type=int, default=0, help="which generated scene (and failures)")
    p.add_argument(
        "--streams",
        type=int,
        default=1,
        help="batch this many camera streams (views of the scene) through one image model",
    )
    p.add_argument("--backend", default="auto")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", metavar="PNG", help="write the timeline (needs matplotlib)")
    p.set_defaults(func=_cmd_demo)


def _add_run(sub: Any) -> None:
    """`mmedge run`."""
    p = sub.add_parser("run", help="run a pipeline described by a TOML file")
    p.add_argument("config", metavar="PIPELINE.toml")
    p.add_argument("--duration", type=float, help="stop after this many seconds (live sources)")
    p.add_argument("--json", action="store_true", help="one JSON line per fused result")
    p.add_argument("--stats", metavar="FILE", help="write the telemetry as JSON")
    p.add_argument("--plot", metavar="PNG", help="write a latency plot (needs matplotlib)")
    p.set_defaults(func=_cmd_run)


def build_parser() -> argparse.ArgumentParser:
    from mmedge._version import __version__

    parser = argparse.ArgumentParser(
        prog="mmedge", description="Edge deployment SDK for multimodal perception."
    )
    parser.add_argument("--version", action="version", version=f"mmedge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_info,
        _add_export,
        add_export_triton,
        add_serve,
        _add_validate,
        _add_build_engine,
        _add_demo,
        _add_run,
        add_deploy,
    ):
        add(sub)
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
        with _terminate_unwinds():
            return int(args.func(args))
    except KeyboardInterrupt:  # Ctrl-C: the pipeline stopped and joined its threads
        print(f"mmedge {args.command}: interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Terminated:
        print(f"mmedge {args.command}: terminated", file=sys.stderr)
        return EXIT_SIGTERM
    except MMEdgeError as exc:
        print(f"mmedge {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `mmedge demo | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
