"""The serving commands of `mmedge`: export-triton (a Triton model repository) and serve
(Triton through PyTriton)."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_OK = 0


def _cmd_export_triton(args: argparse.Namespace) -> int:
    from mmedge.serve import export_triton

    repo = export_triton(
        args.bundles, args.out, precision=args.precision, max_batch=args.max_batch,
        max_delay_us=args.max_delay_us, instances=args.instances, device=args.device,
        overwrite=args.overwrite,
    )  # fmt: skip
    models = sorted(p.name for p in repo.iterdir() if (p / "config.pbtxt").is_file())
    print(f"wrote {repo}: {len(models)} models ({', '.join(models)})")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from mmedge.serve.pytriton_server import serve

    serve(
        args.bundles, address=args.address, http_port=args.http_port, grpc_port=args.grpc_port,
        metrics_port=args.metrics_port, max_batch=args.max_batch, precision=args.precision,
    )  # fmt: skip
    return EXIT_OK


def add_serve(sub: Any) -> None:
    """`mmedge serve`."""
    p = sub.add_parser(
        "serve", help="serve bundles with Triton Inference Server (PyTriton): HTTP, gRPC, metrics"
    )
    p.add_argument("bundles", nargs="+", metavar="BUNDLE")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--max-batch", type=int, default=8, help="Triton's dynamic batching")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    p.set_defaults(func=_cmd_serve)


def add_export_triton(sub: Any) -> None:
    """`mmedge export-triton`."""
    p = sub.add_parser(
        "export-triton",
        help="a Triton model repository: each bundle's model, its preprocessing and "
        "post-processing (python backend) and an ensemble of the three",
    )
    p.add_argument("bundles", nargs="+", metavar="BUNDLE")
    p.add_argument("-o", "--out", required=True, metavar="REPO")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    p.add_argument("--max-batch", type=int, default=8, help="Triton's max_batch_size")
    p.add_argument("--max-delay-us", type=int, default=500, help="dynamic batching delay (us)")
    p.add_argument("--instances", type=int, default=1, help="model instances per device")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_export_triton)
