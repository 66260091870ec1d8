"""`mmedge deploy jetson`: the command line of mmedge.deploy.jetson."""

from __future__ import annotations

import argparse
from typing import Any

from mmedge.deploy.jetpack import JETPACKS


def _cmd_deploy_jetson(args: argparse.Namespace) -> int:
    from mmedge.deploy.jetson import write_deploy

    out = write_deploy(
        args.bundles,
        args.pipeline,
        args.jetpack,
        args.out,
        prefix=args.prefix,
        precision=args.precision,
        overwrite=args.overwrite,
    )
    print(
        f"wrote {out}: copy it to the Jetson (JetPack {args.jetpack}) and run "
        f"sudo ./install.sh there ({out}/README.md)"
    )
    return 0


def add_deploy(sub: Any) -> None:
    """`mmedge deploy jetson`."""
    p = sub.add_parser("deploy", help="a deploy directory for a pipeline on a device")
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    j = targets.add_parser(
        "jetson",
        help="a Jetson: requirements lock for its JetPack, the bundles, systemd units (engines "
        "built at boot, the pipeline with a watchdog), install script, README",
    )
    j.add_argument("bundles", nargs="+", metavar="BUNDLE", help="the bundles the pipeline uses")
    j.add_argument("--pipeline", required=True, metavar="FILE.toml", help="as for mmedge run")
    j.add_argument("--jetpack", required=True, help=f"one of {', '.join(JETPACKS)}")
    j.add_argument("-o", "--out", required=True, metavar="DIR")
    j.add_argument("--prefix", default="/opt/mmedge", help="install directory on the device")
    j.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "fp16", "int8"],
        help="of the TensorRT engines the device builds at boot (auto: fp16 where a bundle "
        "has an fp16 ONNX, else fp32)",
    )
    j.add_argument("--overwrite", action="store_true", help="replace DIR")
    j.set_defaults(func=_cmd_deploy_jetson)
