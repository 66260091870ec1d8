"""`mmedge deploy jetson`: a deploy directory for one pipeline on a Jetson.

    DIR/requirements-jetpack6.2.txt   the Python stack of that JetPack, pinned
    DIR/bundles/NAME.mmb              every bundle the pipeline names
    DIR/pipelines/PIPELINE.toml       the pipeline, its bundles pointing at ../bundles
    DIR/systemd/*.service             engines at boot, then the pipeline (systemd.py)
    DIR/install.sh, DIR/README.md     for the device (device_files.py)
    DIR/dist/mmedge-VERSION.tar.gz    this mmedge's source (git HEAD), built on the device
    DIR/deploy.json                   what was deployed: versions, bundles and their checksums

Everything is checked before anything is written (an unknown JetPack, a pipeline that names a
bundle not given, a bundle without the ONNX artifact its engine is built from); the directory is
written beside DIR and renamed into place, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from mmedge._version import __version__
from mmedge.bundle import Bundle, builtin_bundle
from mmedge.deploy.device_files import device_readme, install_script, requirements_lock
from mmedge.deploy.jetpack import JetPack, jetpack
from mmedge.deploy.systemd import engines_unit, pipeline_unit
from mmedge.errors import MMEdgeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def bundle_refs(config: dict[str, Any]) -> list[str]:
    """Every bundle reference of a parsed pipeline file, in order, once each."""
    refs = [m.get("bundle") for m in config.get("modality", []) if isinstance(m, dict)]
    fusion = config.get("fusion", {})
    refs += [fusion.get(k) for k in ("head", "model")] if isinstance(fusion, dict) else []
    return list(dict.fromkeys(r for r in refs if isinstance(r, str)))


def _resolve(ref: str, base: Path) -> Path:
    if ref.startswith("builtin:"):
        return Path(builtin_bundle(ref.split(":", 1)[1])).resolve()
    return (base / ref).resolve()


def _match_bundles(
    pipeline: Path, config: dict[str, Any], bundles: Sequence[Path]
) -> dict[str, Path]:
    """Pipeline reference -> the bundle it names (a given BUNDLE or a built-in one); a
    reference to anything else is refused by name."""
    given = {b.resolve(): b for b in bundles}
    found: dict[str, Path] = {}
    for ref in bundle_refs(config):
        path = _resolve(ref, pipeline.parent)
        if ref.startswith("builtin:") or path in given:
            found[ref] = path
            continue
        raise MMEdgeError(
            f"{pipeline} names bundle {ref!r} ({path}), which is not among the bundles given "
            f"({', '.join(str(b) for b in bundles) or 'none'}); add it to the command"
            + ("" if path.exists() else ": it does not exist")
        )
    if not found:
        raise MMEdgeError(f"{pipeline} names no bundle: nothing to deploy")
    return found


def _check_bundle(path: Path, precision: str) -> tuple[str, str]:
    """(the bundle's name, the precision of its device engine: `precision`, or for 'auto'
    fp16 when the bundle has an fp16 ONNX, else fp32); refused when it is not a bundle or has
    no ONNX of that precision."""
    with Bundle.load(path) as bundle:
        have = {a.precision for a in bundle.artifacts if a.format == "onnx"}
        chosen = ("fp16" if "fp16" in have else "fp32") if precision == "auto" else precision
        if chosen not in have:
            raise MMEdgeError(
                f"{path}: no {chosen} ONNX artifact to build the device's engine from (has "
                f"{sorted(have)}); deploy with --precision {sorted(have)[0]} or re-export"
            )
        return bundle.name, chosen


def _with_refs(config: dict[str, Any], new: dict[str, str]) -> dict[str, Any]:
    """The parsed pipeline with its bundle references replaced by `new` (and nothing else)."""
    out = copy.deepcopy(config)
    for m in out.get("modality", []):
        if isinstance(m, dict) and m.get("bundle") in new:
            m["bundle"] = new[m["bundle"]]
    fusion = out.get("fusion", {})
    for key in ("head", "model"):
        if isinstance(fusion, dict) and fusion.get(key) in new:
            fusion[key] = new[fusion[key]]
    return out


def _rewrite(text: str, config: dict[str, Any], new: dict[str, str], where: Path) -> str:
    """The pipeline's text with each bundle reference (a TOML string) replaced, comments and
    layout kept; checked by parsing: the result must be the pipeline with only its bundle
    references changed."""
    for ref, target in new.items():
        pattern = re.compile(r"""(["'])""" + re.escape(ref) + r"\1")
        text = pattern.sub(json.dumps(target), text)
    if tomllib.loads(text) != _with_refs(config, new):
        raise MMEdgeError(
            f"{where}: its bundle references cannot be rewritten alone (the same string is used "
            "for another value, or a reference is not a plain quoted string)"
        )
    return text


def _source_archive(dist: Path) -> tuple[str, dict[str, Any]]:
    """(the install line for mmedge, provenance): this checkout's HEAD as an sdist-style
    tarball when mmedge runs from a git checkout, else the released version from PyPI. No
    extras: ONNX Runtime comes from the lock (the GPU build where there is one), OpenCV from
    JetPack."""
    root = Path(__file__).resolve().parents[2]
    name = f"mmedge-{__version__}.tar.gz"
    if (root / "setup.py").is_file() and (root / ".git").exists():

        def git(*args: str) -> str:
            run = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
            if run.returncode != 0:
                raise MMEdgeError(f"git {args[0]} in {root} failed: {run.stderr.strip()}")
            return run.stdout.strip()

        head, dirty = git("rev-parse", "HEAD"), git("status", "--porcelain")
        dist.mkdir(parents=True)
        git("archive", "--format=tar.gz", f"--prefix=mmedge-{__version__}/", "-o",
            str(dist / name), "HEAD")  # fmt: skip
        source = {"git_head": head, "uncommitted_changes_left_out": bool(dirty)}
        return f'MMEDGE_CUDA=1 "$PREFIX/venv/bin/pip" install "$HERE/dist/{name}"', source
    return f'MMEDGE_CUDA=1 "$PREFIX/venv/bin/pip" install "mmedge=={__version__}"', {
        "pypi": __version__
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checksummed(bundle: Path) -> Path:
    """The file whose sha256 identifies a bundle: its manifest (which holds every file's
    sha256), or the .tar itself."""
    return bundle / "manifest.json" if bundle.is_dir() else bundle


def write_deploy(
    bundles: Sequence[str | Path],
    pipeline: str | Path,
    jetpack_version: str,
    out: str | Path,
    *,
    prefix: str = "/opt/mmedge",
    precision: str = "auto",
    overwrite: bool = False,
) -> Path:
    """Writes the deploy directory `out` (see the module docstring) and returns it. precision:
    of the TensorRT engines the device builds (auto: fp16 where a bundle has an fp16 ONNX,
    else fp32)."""
    jp: JetPack = jetpack(jetpack_version)
    out, pipeline = Path(out), Path(pipeline)
    if out.exists() and not overwrite:
        raise MMEdgeError(f"{out} exists; pass --overwrite to replace it")
    if not pipeline.is_file():
        raise MMEdgeError(f"pipeline file not found: {pipeline}")
    text = pipeline.read_text(encoding="utf-8")
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MMEdgeError(f"{pipeline} is not valid TOML: {exc}") from exc
    found = _match_bundles(pipeline, config, [Path(b) for b in bundles])
    checked = {path: _check_bundle(path, precision) for path in dict.fromkeys(found.values())}
    if len({n for n, _ in checked.values()}) != len(checked):
        raise MMEdgeError(f"two bundles share a name: {sorted(n for n, _ in checked.values())}")
    files = {p: f"{n}.mmb" + (".tar" if p.is_file() else "") for p, (n, _) in checked.items()}
    engines = {files[p]: chosen for p, (_, chosen) in checked.items()}
    new_refs = {r: f"../bundles/{files[p]}" for r, p in found.items()}
    rewritten = _rewrite(text, config, new_refs, pipeline)
    root = PurePosixPath(prefix)
    lock = f"requirements-jetpack{jp.version}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as tmp:
        stage = Path(tmp) / "deploy"
        (stage / "bundles").mkdir(parents=True)
        for path, file in files.items():
            copy = shutil.copy2 if path.is_file() else shutil.copytree
            copy(path, stage / "bundles" / file)
        (stage / "pipelines").mkdir()
        (stage / "pipelines" / f"{pipeline.stem}.toml").write_text(rewritten)
        mmedge_install, source = _source_archive(stage / "dist")
        (stage / lock).write_text(requirements_lock(jp, f"# mmedge {__version__}: install.sh"))
        (stage / "systemd").mkdir()
        (stage / "systemd" / "mmedge-engines.service").write_text(engines_unit(root, engines))
        (stage / "systemd" / "mmedge@.service").write_text(pipeline_unit(root))
        script = stage / "install.sh"
        script.write_text(install_script(jp, root, lock, pipeline.stem, mmedge_install))
        script.chmod(0o755)
        (stage / "README.md").write_text(device_readme(jp, root, pipeline.stem, engines))
        record = {
            "mmedge": __version__,
            "source": source,
            "jetpack": jp.version,
            "l4t": jp.l4t,
            "engines": engines,
            "prefix": prefix,
            "pipeline": pipeline.stem,
            "bundles": {
                file: {
                    "from": str(path),
                    "sha256": _sha256(path / "manifest.json" if path.is_dir() else path),
                }
                for path, file in files.items()
            },
        }
        (stage / "deploy.json").write_text(json.dumps(record, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        stage.rename(out)
    return out
