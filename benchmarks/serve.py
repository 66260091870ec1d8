#!/usr/bin/env python3
"""Load on `mmedge serve`: 1, 4, 16 and 32 concurrent clients sending real frames, served
against local in the same run.

Input: frames of ../shared/data/video_clips/box.mp4 (640x480 BGR, uint8), decoded once.
Models (fp32 ONNX): the built-in scene_image (48x48) and a ResNet-18-shaped CNN at width 32 on
224x224 (untrained: only the work matters), both with their own preprocessing.
Methods, at each client count C:
  served   `mmedge serve` (PyTriton's Triton 2.51 on 127.0.0.1, started here in the venv of
           scripts/triton_env.sh, stopped by its PID at the end): C threads, each with its own
           gRPC client, send one raw frame per request to BUNDLE (preprocessing, network and
           post-processing on the server; Triton's dynamic batcher, max batch 8)
  local    one mmedge.Model in this process: C threads call predict() on it
Each level sends REQUESTS_PER_CLIENT requests per client (at least MIN_REQUESTS in all), the
clients starting together. Throughput: requests / wall time (frames/s); latency: per request,
p50 and p99 ms; batching ratio (served): inferences / executions from Triton's Prometheus
counters over the level (1.0 = no batching). Client and server share this machine's cores, so
the served figures include the serving overhead and none of a network's.

    MMEDGE_DATA=../shared/data python benchmarks/serve.py
    # -> benchmarks/results/<machine>/serve.{json,md,png}
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the servers' helpers
import common
from multistream import clip_frames, resnet_bundle
from triton_process import free_ports, stop

import mmedge

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = (1, 4, 16, 32)
REQUESTS_PER_CLIENT = 16
MIN_REQUESTS = 96
MAX_BATCH = 8
START_S = 180.0


class Server:
    """`mmedge serve BUNDLES` on 127.0.0.1 in its own process group, stopped by its PID."""

    def __init__(self, bundles: list[Path], log: Path) -> None:
        import tritonclient.grpc as grpc

        self.grpc_port, http_port, self.metrics_port = free_ports(3)
        command = [
            "bash", str(ROOT / "scripts" / "triton_env.sh"), "-m", "mmedge.cli", "serve",
            *map(str, bundles), "--address", "127.0.0.1", "--http-port", str(http_port),
            "--grpc-port", str(self.grpc_port), "--metrics-port", str(self.metrics_port),
            "--max-batch", str(MAX_BATCH),
        ]  # fmt: skip
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = grpc.InferenceServerClient(f"127.0.0.1:{self.grpc_port}")
        names = []
        for path in bundles:
            with mmedge.Bundle.load(path) as bundle:
                names.append(bundle.name)
        deadline = time.monotonic() + START_S
        while True:
            with contextlib.suppress(Exception):
                if all(client.is_model_ready(n) for n in names):
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"mmedge serve did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        client.close()

    def counts(self, model: str) -> tuple[int, int]:
        """(inferences, executions) of `model` from Triton's Prometheus metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        found = {}
        for line in text.splitlines():
            for key in ("nv_inference_count", "nv_inference_exec_count"):
                if line.startswith(key + "{") and f'model="{model}"' in line:
                    found[key] = int(float(line.rsplit(" ", 1)[1]))
        return found.get("nv_inference_count", 0), found.get("nv_inference_exec_count", 0)

    def stop(self) -> None:
        """The server's process group, by its PID (tests/triton_process.stop)."""
        stop(self.proc)


def _load(clients: int, make_call: Callable[[], Callable[[np.ndarray], Any]], frames) -> dict:
    """`clients` threads, each with its own call from make_call(), REQUESTS_PER_CLIENT (or
    more, to MIN_REQUESTS in all) frames each, started together: frames/s and latency."""
    per = max(REQUESTS_PER_CLIENT, -(-MIN_REQUESTS // clients))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    calls = [make_call() for _ in range(clients)]
    for call in calls:  # one warm request per client
        call(frames[0])
    barrier = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        barrier.wait()
        try:
            for i in range(per):
                t0 = time.perf_counter()
                calls[k](frames[(k * 7 + i) % len(frames)])
                latencies[k].append((time.perf_counter() - t0) * 1e3)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=600)
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    flat = np.concatenate([np.asarray(x) for x in latencies])
    return {
        "requests": int(flat.size),
        "fps": float(flat.size / wall),
        "p50_ms": float(np.percentile(flat, 50)),
        "p99_ms": float(np.percentile(flat, 99)),
    }


def _served_call(port: int, model: str) -> Callable[[], Callable[[np.ndarray], Any]]:
    import tritonclient.grpc as grpc

    def make() -> Callable[[np.ndarray], Any]:
        client = grpc.InferenceServerClient(f"127.0.0.1:{port}")

        def call(frame: np.ndarray) -> Any:
            tensor = grpc.InferInput("RAW", [1, *frame.shape], "UINT8")
            tensor.set_data_from_numpy(frame[None])
            return client.infer(model, [tensor], client_timeout=60).as_numpy("LABEL")

        return call

    return make


def run(frames: list[np.ndarray], models: dict[str, Path], log: Path) -> list[dict]:
    server = Server(list(models.values()), log)
    rows = []
    try:
        jobs = [(m, c, how) for m in models for c in CLIENTS for how in ("served", "local")]
        locals_ = {m: mmedge.Model(p, precision="fp32", backend="ort") for m, p in models.items()}
        for model, clients, how in tqdm(jobs, desc="serve", unit="level"):
            name = locals_[model].bundle.name
            if how == "local":
                row = _load(clients, lambda m=locals_[model]: m.predict, frames)
            else:
                before = server.counts(name)
                row = _load(clients, _served_call(server.grpc_port, name), frames)
                time.sleep(1.2)  # Triton refreshes its metrics every second
                after = server.counts(name)
                inferences, executions = after[0] - before[0], after[1] - before[1]
                row.update(
                    inferences=inferences,
                    executions=executions,
                    batching_ratio=inferences / max(executions, 1),
                )
            rows.append({"model": model, "clients": clients, "method": how, **row})
        for m in locals_.values():
            m.close()
    finally:
        server.stop()
    return rows


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        "# Serving under load: `mmedge serve` against local, same run",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs (server and clients share them). Real frames "
        f"of {payload['clip']}, one raw frame per request to BUNDLE (preprocessing, network and "
        f"post-processing on the server), Triton's dynamic batching up to {MAX_BATCH}; local: "
        "one mmedge.Model, the same number of threads calling predict(). Command: "
        "`MMEDGE_DATA=../shared/data python benchmarks/serve.py`.",
        "",
        "| model | clients | method | frames/s | p50 ms | p99 ms | requests | batching ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in payload["rows"]:
        ratio = f"{r['batching_ratio']:.2f}" if "batching_ratio" in r else "-"
        lines.append(
            f"| {r['model']} | {r['clients']} | {r['method']} | {r['fps']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['requests']} | {ratio} |"
        )
    lines += ["", "Served / local frames/s:", ""]
    for model in dict.fromkeys(r["model"] for r in payload["rows"]):
        parts = []
        for c in CLIENTS:
            s, lo = (
                next(r for r in payload["rows"] if (r["model"], r["clients"], r["method"])
                     == (model, c, how)) for how in ("served", "local")
            )  # fmt: skip
            parts.append(f"{c} clients {s['fps'] / lo['fps']:.2f}x")
        lines.append(f"- {model}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


def plot(payload: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in payload["rows"]))
    fig, axes = plt.subplots(2, len(models), figsize=(5.5 * len(models), 7), dpi=110)
    colours = {"served": "#76b900", "local": "#4c72b0"}
    for col, model in enumerate(models):
        for how in ("served", "local"):
            rs = [r for r in payload["rows"] if r["model"] == model and r["method"] == how]
            xs = [r["clients"] for r in rs]
            axes[0][col].plot(xs, [r["fps"] for r in rs], "o-", color=colours[how], label=how)
            axes[1][col].plot(
                xs, [r["p99_ms"] for r in rs], "o-", color=colours[how], label=f"{how} p99"
            )
            axes[1][col].plot(
                xs, [r["p50_ms"] for r in rs], "o--", color=colours[how], label=f"{how} p50"
            )
        axes[0][col].set_title(f"{model}: frames/s (higher is better)", fontsize=9)
        axes[1][col].set_title(f"{model}: latency per request (ms)", fontsize=9)
        axes[1][col].set_yscale("log")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(CLIENTS), [str(c) for c in CLIENTS])
            ax.set_xlabel("concurrent clients")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    frames = clip_frames(60)
    with tempfile.TemporaryDirectory(prefix="mmedge-serve-bench-") as tmp:
        models = {
            "scene_image 48x48": Path(mmedge.builtin_bundle("scene_image")),
            "resnet18_w32 224x224": resnet_bundle(Path(tmp)),
        }
        rows = run(frames, models, Path(tmp) / "server.log")
    payload = {
        "benchmark": "serve",
        "machine": common.machine(),
        "clip": "box.mp4, 640x480, 30 fps",
        "max_batch": MAX_BATCH,
        "rows": rows,
    }
    md = markdown(payload)
    folder = common.write_results(
        "serve", common.machine_tag(), payload, md, lambda p: plot(payload, p)
    )
    print(md)
    print(f"results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
