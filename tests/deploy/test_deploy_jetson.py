"""`mmedge deploy jetson`: the deploy directory for JetPack 6.2 and 7.2. The generated units pass
`systemd-analyze verify` with nothing on stderr (it exits 0 on some bad values, so stderr is
what counts; a unit with a bad value is shown to fail the same check); the deployed pipeline
loads with mmedge's own loader from its new place (its bundles found in ../bundles); the lock
pins each JetPack's stack; the install script parses; deploy.json holds the bundles' checksums.
Bad requests (an unknown JetPack, a pipeline naming a bundle not given, a precision a bundle
lacks) are refused before anything is written."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import mmedge
from mmedge.cli import main
from mmedge.deploy.jetpack import JETPACKS
from mmedge.deploy.jetson import write_deploy
from mmedge.errors import MMEdgeError
from mmedge.pipeline.config import load_pipeline

DETECTOR = Path(mmedge.builtin_bundle("digit_detector"))
PIPELINE = """
[[modality]]
name = "cams"
bundle = "models/digit_detector.mmb"
track = true
source = { type = "synthetic_video", seconds = 1.0, seed = 1 }

[[modality]]
name = "scene"
bundle = 'builtin:scene_image'
source = { type = "synthetic_video", seconds = 1.0, seed = 1 }

[fusion]
method = "max"
rate_hz = 2.0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A pipeline file with a bundle beside it (models/) and a built-in one."""
    (tmp_path / "models").mkdir()
    shutil.copytree(DETECTOR, tmp_path / "models" / "digit_detector.mmb")
    (tmp_path / "cams.toml").write_text(PIPELINE)
    return tmp_path


def _deploy(project: Path, jetpack: str, out: Path | str, *extra: str) -> int:
    return main(["deploy", "jetson", str(project / "models" / "digit_detector.mmb"),
                 "--pipeline", str(project / "cams.toml"), "--jetpack", jetpack,
                 "-o", str(out), *extra])  # fmt: skip


def _verify(unit_dir: Path, units: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", *(str(unit_dir / u) for u in units)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("jetpack", ["6.2", "7.2"])
def test_units_verify_and_the_pipeline_loads_in_place(
    project: Path, tmp_path: Path, jetpack: str
) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt install systemd)")
    prefix = tmp_path / "device" / "opt" / "mmedge"
    out = tmp_path / f"deploy-{jetpack}"
    assert _deploy(project, jetpack, out, "--prefix", str(prefix)) == 0
    # the units name prefix/venv/bin/mmedge: verify checks that it is an executable
    (prefix / "venv" / "bin").mkdir(parents=True)
    (prefix / "venv" / "bin" / "mmedge").write_text("#!/bin/sh\n")
    (prefix / "venv" / "bin" / "mmedge").chmod(0o755)
    units = ["mmedge-engines.service", "mmedge@.service"]
    result = _verify(out / "systemd", units)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    engines = (out / "systemd" / "mmedge-engines.service").read_text()
    assert f"{prefix}/bundles/digit_detector.mmb --precision fp16 --if-stale" in engines
    assert f"{prefix}/bundles/scene_image.mmb --precision fp32 --if-stale" in engines  # no fp16
    service = (out / "systemd" / "mmedge@.service").read_text()
    for line in ("Type=notify", "WatchdogSec=30", "Restart=on-failure",
                 "Requires=mmedge-engines.service", "After=mmedge-engines.service"):  # fmt: skip
        assert line in service
    # the same check fails a unit with a bad value (and says so on stderr)
    bad = out / "systemd" / "bad@.service"
    bad.write_text(service.replace("WatchdogSec=30", "WatchdogSec=half a minute"))
    assert "Failed to parse" in _verify(out / "systemd", ["bad@.service"]).stderr
    pipe = load_pipeline(out / "pipelines" / "cams.toml")
    assert {n: m.model.bundle.name for n, m in pipe.modalities.items()} == {
        "cams": "digit_detector",
        "scene": "scene_image",
    }
    pipe.stop()


def test_the_lock_script_and_record(project: Path, tmp_path: Path) -> None:
    for version, jp in JETPACKS.items():
        out = tmp_path / version
        assert _deploy(project, version, out) == 0
        lock = (out / f"requirements-jetpack{version}.txt").read_text()
        for line in jp.requirements:
            assert f"\n{line}\n" in lock
        assert "opencv" not in lock.split("# mmedge")[0].lower().replace("# jetpack's", "")
        script = out / "install.sh"
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
        text = script.read_text()
        assert f"    {'.'.join(jp.l4t.split('.')[:2])}*) ;;" in text
        assert "python3-libnvinfer" in text and "--system-site-packages" in text
        record = json.loads((out / "deploy.json").read_text())
        for file, entry in record["bundles"].items():
            copied = out / "bundles" / file / "manifest.json"
            assert entry["sha256"] == hashlib.sha256(copied.read_bytes()).hexdigest()
        assert record["engines"] == {"digit_detector.mmb": "fp16", "scene_image.mmb": "fp32"}
    lock62 = (tmp_path / "6.2" / "requirements-jetpack6.2.txt").read_text()
    assert "--extra-index-url https://pypi.jetson-ai-lab.io/jp6/cu126" in lock62
    assert "onnxruntime-gpu==1.23.0" in lock62
    lock72 = (tmp_path / "7.2" / "requirements-jetpack7.2.txt").read_text()
    assert "onnxruntime==" in lock72 and "No ONNX Runtime GPU wheel" in lock72
    archive = next((tmp_path / "6.2" / "dist").glob("mmedge-*.tar.gz"), None)
    if archive is not None:  # a git checkout: its HEAD, which pip builds on the device
        with tarfile.open(archive) as tar:
            names = tar.getnames()
        assert any(n.endswith("/setup.py") for n in names)
        assert any(n.endswith("/cpp_ext/src/segment/masks_cuda.cu") for n in names)


def test_bad_requests_are_refused_before_anything_is_written(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    def refused(message: str, *args: str) -> None:
        assert _deploy(project, *args) != 0
        assert message in capsys.readouterr().err

    refused("unknown JetPack '5.1'; mmedge deploys to JetPack 6.2, 7.2", "5.1", str(out))
    (project / "cams.toml").write_text(PIPELINE.replace("models/digit_detector.mmb",
                                                        "models/missing.mmb"))  # fmt: skip
    refused("names bundle 'models/missing.mmb'", "6.2", str(out))
    with pytest.raises(MMEdgeError, match=r"not among the bundles given .*: it does not exist"):
        write_deploy([project / "models" / "digit_detector.mmb"], project / "cams.toml", "6.2",
                     out)  # fmt: skip
    same_string = PIPELINE.replace('seconds = 1.0, seed = 1 }\n\n[[modality]]\nname = "scene"',
                                   'seconds = 1.0, seed = 1, note = "models/digit_detector.mmb" }'
                                   '\n\n[[modality]]\nname = "scene"', 1)  # fmt: skip
    assert same_string != PIPELINE
    (project / "cams.toml").write_text(same_string)
    refused("bundle references cannot be rewritten alone", "6.2", str(out))
    (project / "cams.toml").write_text(PIPELINE)
    refused("scene_image.mmb: no fp16 ONNX artifact", "6.2", str(out), "--precision", "fp16")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cams.toml", "models"]
    assert _deploy(project, "6.2", out) == 0
    refused("exists; pass --overwrite", "6.2", str(out))
