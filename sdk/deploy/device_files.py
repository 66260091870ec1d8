"""The text files of a Jetson deployment besides the units: the requirements lock, the install
script and the device README."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from mmedge.deploy.jetpack import JetPack


def requirements_lock(jp: JetPack, mmedge_line: str) -> str:
    """requirements-jetpackX.txt: the pinned Python packages of that JetPack's stack."""
    lines = [
        f"# mmedge on JetPack {jp.version} (Jetson Linux {jp.l4t}, Ubuntu {jp.ubuntu}, Python "
        f"{jp.python}, CUDA {jp.cuda}, TensorRT {jp.tensorrt})",
        "# TensorRT's Python bindings come from JetPack's apt packages (python3-libnvinfer): the",
        "# virtual environment sees them through --system-site-packages; never pip-install them.",
    ]
    lines += [f"# {n}" for n in jp.notes]
    if jp.index_url:
        lines.append(f"--extra-index-url {jp.index_url}")
    lines += [*jp.requirements, mmedge_line, ""]
    return "\n".join(lines)


def install_script(
    jp: JetPack, prefix: PurePosixPath, lock: str, pipeline: str, mmedge_install: str
) -> str:
    """install.sh, run as root on the device from the deploy directory."""
    l4t_major_minor = ".".join(jp.l4t.split(".")[:2])
    apt = " ".join(jp.apt)
    return f"""#!/usr/bin/env bash
# Installs this mmedge deployment on a Jetson with JetPack {jp.version} (Jetson Linux {jp.l4t}).
# Run as root from this directory: sudo ./install.sh   (FORCE=1 skips the release check)
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
PREFIX="{prefix}"

have="$(sed -n 's/^# R\\([0-9]*\\) (release), REVISION: \\([0-9.]*\\).*/\\1.\\2/p' \\
    /etc/nv_tegra_release 2>/dev/null || true)"
case "$have" in
    {l4t_major_minor}*) ;;
    *)
        echo "this deployment is for JetPack {jp.version} (Jetson Linux {jp.l4t}); this device" \\
            "runs ${{have:-no Jetson Linux}}" >&2
        [ "${{FORCE:-0}}" = 1 ] || exit 1
        ;;
esac

apt-get install -y --no-install-recommends {apt}
id -u mmedge >/dev/null 2>&1 || useradd --system --home-dir "$PREFIX" \\
    --shell /usr/sbin/nologin --groups video,audio mmedge
install -d -o mmedge -g mmedge "$PREFIX"
cp -r "$HERE/bundles" "$HERE/pipelines" "$HERE/README.md" "$HERE/deploy.json" "$PREFIX/"
[ -d "$PREFIX/venv" ] || python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --upgrade pip
"$PREFIX/venv/bin/pip" install -r "$HERE/{lock}"
export PATH="/usr/local/cuda/bin:$PATH"  # JetPack's nvcc builds mmedge's CUDA kernels
{mmedge_install}
chown -R mmedge:mmedge "$PREFIX"
install -m 0644 "$HERE/systemd/mmedge-engines.service" "$HERE/systemd/mmedge@.service" \\
    /etc/systemd/system/
systemctl daemon-reload
systemctl enable mmedge-engines.service "mmedge@{pipeline}.service"
systemctl restart mmedge-engines.service
systemctl restart "mmedge@{pipeline}.service"
echo "installed: journalctl -u mmedge-engines -u mmedge@{pipeline} -f"
"""


def device_readme(
    jp: JetPack, prefix: PurePosixPath, pipeline: str, engines: Mapping[str, str]
) -> str:
    """README.md for whoever installs the device (engines: bundle file -> engine precision)."""
    notes = "".join(f"\n- {n}" for n in jp.notes)
    bundles = ", ".join(f"{b} ({p} engine)" for b, p in sorted(engines.items()))
    return f"""# mmedge deployment: pipeline `{pipeline}` on JetPack {jp.version}

Target: Jetson Linux {jp.l4t} (JetPack {jp.version}), Ubuntu {jp.ubuntu}, Python {jp.python},
CUDA {jp.cuda}, TensorRT {jp.tensorrt}, GPUs sm_{", sm_".join(jp.sm)}. Bundles: {bundles}.

## Install

Copy this directory to the device and run `sudo ./install.sh`. It checks the Jetson Linux
release, installs TensorRT's Python bindings from JetPack's apt repository, creates the
`mmedge` user and a virtual environment in `{prefix}/venv` (with the system site packages, for
TensorRT) from the requirements lock, copies the bundles and the pipeline, and enables:

- `mmedge-engines.service`: at boot, before any pipeline, builds the TensorRT engine of each
  bundle that has none for this device (or a stale one: another TensorRT, GPU, L4T,
  profile or ONNX) and keeps TensorRT's timing cache in the bundle, so rebuilds are faster. The
  first boot takes minutes per network: `journalctl -u mmedge-engines -f` shows the progress.
- `mmedge@{pipeline}.service`: runs `{prefix}/pipelines/{pipeline}.toml`. It is READY when the
  pipeline delivers its first result; it pings systemd's watchdog while results keep coming,
  so a pipeline that stalls for 30 s is restarted, as is one that fails.

## Operate

    systemctl status mmedge@{pipeline}
    journalctl -u mmedge@{pipeline} -f          # one JSON line per fused result
    sudo systemctl restart mmedge@{pipeline}
    {prefix}/venv/bin/mmedge info               # what this device has

A new bundle: copy it into `{prefix}/bundles/`, then `sudo systemctl restart
mmedge-engines mmedge@{pipeline}`.
{notes}
"""
