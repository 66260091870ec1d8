"""Hostile bundles (issue 9): decompression bombs, too many members, duplicate names, links,
unlisted files, fixtures that inflate, manifests that lie about their artifacts. Each is
refused at load with a BundleError that names the problem, before the bytes it describes are
unpacked or read; and a fuzz test over manifests and tar layouts never gets anything but a
load or a BundleError."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmedge
from mmedge import Bundle, BundleError
from mmedge.bundle import sha256_file, write_bundle
from mmedge.bundle.limits import BundleLimits
from mmedge.bundle.unpack import PREFIX
from mmedge.cli import main
from mmedge.runtime.validate import load_fixture

SCENE = mmedge.builtin_bundle("scene_image")


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    target = tmp_path / "scene.mmb"
    shutil.copytree(SCENE, target)
    return target


def _header_only_tar(path: Path, name: str, size: int, compress: bool = False) -> Path:
    """A tar whose one member declares `size` bytes but holds 1 MiB: what a loader that
    trusts headers would start unpacking."""
    info = tarfile.TarInfo(name)
    info.size = size
    raw = info.tobuf(format=tarfile.PAX_FORMAT) + bytes(1 << 20)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def test_a_member_over_the_size_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    """Before: a 1.4 MB bzip2 .tar holding a 10 GiB member was decompressed before any check."""
    bomb = _header_only_tar(tmp_path / "bomb.mmb.tar", "model.onnx", 10 << 30, compress=True)
    with pytest.raises(BundleError, match=r"10\.74 GB unpacked, over the limit of 8\.59 GB"):
        Bundle.load(bomb)
    assert not list(Path(tempfile.gettempdir()).glob(f"{PREFIX}{os.getpid()}-*"))


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_a_compression_bomb_is_refused_by_its_ratio(tmp_path: Path, compression: str) -> None:
    """100 MB of zeros compress to under 1 MB (100-1,000,000x): refused once 64 MiB came out,
    far below the member limit. mmedge decompresses in bounded steps itself: tarfile's stream
    mode buffered a bzip2 bomb's output quadratically (1 GiB: 23 s before the refusal)."""
    info = tarfile.TarInfo("model.onnx")
    info.size = 100 << 20
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}") as tar:
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    bomb = tmp_path / "bomb.mmb.tar"
    bomb.write_bytes(buf.getvalue())
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(BundleError, match=r"its compressed size, over the limit of 100x"):
        Bundle.load(bomb)


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_a_compressed_bundle_loads(tmp_path: Path, compression: str) -> None:
    src = Bundle.load(SCENE)
    archive = write_bundle(tmp_path / "scene.mmb.tar", src.manifest, src.contents())
    packed = tmp_path / f"scene.{compression}.mmb.tar"
    with tarfile.open(archive) as plain, tarfile.open(packed, f"w:{compression}") as tar:
        for member in plain.getmembers():
            tar.addfile(member, plain.extractfile(member))
    with Bundle.load(packed) as bundle:
        assert bundle.artifacts[0].path.read_bytes() == src.artifacts[0].path.read_bytes()


def test_member_count_and_total_limits(tmp_path: Path) -> None:
    """Before: 200,000 entries loaded (in 19 s)."""
    many = tmp_path / "many.mmb.tar"
    with tarfile.open(many, "w") as tar:
        for i in range(4097):
            tar.addfile(tarfile.TarInfo(f"f{i}"), io.BytesIO(b""))
    with pytest.raises(BundleError, match="more than 4096 members"):
        Bundle.load(many)
    src = Bundle.load(SCENE)
    archive = write_bundle(tmp_path / "scene.mmb.tar", src.manifest, src.contents())
    with pytest.raises(BundleError, match=r"unpacks to more than 0\.00 GB"):
        Bundle.load(archive, limits=BundleLimits(max_total_bytes=1000))
    Bundle.load(archive).close()  # the defaults take it


def test_a_name_twice_is_refused(tmp_path: Path) -> None:
    """Before: a tar with two manifests used the last."""
    src = Bundle.load(SCENE)
    archive = tmp_path / "twice.mmb.tar"
    manifest = (Path(SCENE) / "manifest.json").read_bytes()
    with tarfile.open(archive, "w") as tar:
        for name in ("manifest.json", "model.onnx", "manifest.json"):
            data = manifest if name == "manifest.json" else src.artifacts[0].path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError, match=r"'manifest\.json' appears twice"):
        Bundle.load(archive)


def test_unlisted_files_and_links_are_refused(scene: Path, tmp_path: Path) -> None:
    """Before: files the manifest does not list were never checksummed: a swapped external
    weights file was loaded and used; manifest.json could be a link out of the bundle."""
    (scene / "model.onnx.data").write_bytes(b"weights nobody checked")
    with pytest.raises(BundleError, match=r"model\.onnx\.data is not listed in the manifest"):
        Bundle.load(scene)
    (scene / "model.onnx.data").unlink()
    outside = tmp_path / "manifest.json"
    shutil.move(scene / "manifest.json", outside)
    os.symlink(outside, scene / "manifest.json")
    with pytest.raises(BundleError, match=r"manifest\.json is a link"):
        Bundle.load(scene)


def _lying_bundle(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    """The scene bundle with edit(manifest) applied and its checksums right: the lie is in what
    the manifest says, not in broken bytes. Put in place by hand: write_bundle refuses lies
    itself (it loads what it staged)."""
    out = tmp_path / "lie.mmb"
    shutil.copytree(SCENE, out)
    manifest = json.loads((out / "manifest.json").read_text())
    edit(manifest)
    for entry in [*manifest["artifacts"], *manifest.get("files", [])]:
        entry["sha256"] = sha256_file(out / entry["file"])
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "labels",
            r"output 'logits' is \['batch', 3\] in the graph, the manifest says \['batch', 4\]",
        ),
        ("precision", r"model\.onnx is declared int8 but its graph is fp32 \(no float16 weights\)"),
        ("input", r"takes inputs \['image'\], the manifest declares \['frames'\]"),
        ("output", r"has no output 'scores'"),
        ("dtype", r"input 'image' is float32, the manifest says float16"),
    ],
)
def test_a_manifest_that_lies_about_its_artifact_is_refused(
    tmp_path: Path, case: str, message: str
) -> None:
    """Before: wrong label counts were served, a raw KeyError came at predict time and
    precision="int8" ran an fp32 file."""

    def edit(manifest: dict) -> None:
        if case == "labels":  # labels and shape agree with each other, not with the graph
            manifest["labels"].append("hexagon")
            manifest["outputs"][0]["shape"] = ["batch", 4]
        elif case == "precision":
            manifest["artifacts"][0]["precision"] = "int8"
        elif case == "input":
            manifest["inputs"][0]["name"] = "frames"
            manifest["preprocess"] = {"frames": manifest["preprocess"].pop("image")}
        elif case == "output":
            manifest["outputs"][0]["name"] = "scores"
        elif case == "dtype":
            manifest["inputs"][0]["dtype"] = "float16"

    lie = _lying_bundle(tmp_path, edit)
    with pytest.raises(BundleError, match=message):
        Bundle.load(lie)


def _huge_npz(path: Path) -> None:
    """An .npz whose one array declares 100,000 x 100,000 float32 (40 GB) in a 200-byte file."""
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)}
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("image.npy", np.lib.format.magic(2, 0) + header.getvalue()[8:])


def test_a_fixture_that_would_inflate_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Before: a 3 MB bundle's parity fixture cost 2.1 GB of memory when a Model timed it."""
    src = Bundle.load(SCENE)
    files = dict(src.contents())
    fixture = tmp_path / "inputs.npz"
    _huge_npz(fixture)
    files["parity/inputs.npz"] = fixture
    bundle = write_bundle(tmp_path / "fat.mmb", src.manifest, files)  # loads: fixtures are lazy
    with pytest.raises(BundleError, match=r"40000\.0 MB in memory, over the fixture limit"):
        load_fixture(Bundle.load(bundle))  # what `mmedge validate` and artifact timing read
    assert main(["validate", str(bundle)]) == 2


def test_stale_unpacked_copies_of_dead_processes_are_removed(tmp_path: Path) -> None:
    """Before: killed loads and writes of .tar bundles left 175 MB in $TMPDIR over 7 trials."""
    stale = Path(tempfile.gettempdir()) / f"{PREFIX}999999999-deadbeef"
    stale.mkdir(exist_ok=True)
    (stale / "model.onnx").write_bytes(bytes(1000))
    src = Bundle.load(SCENE)
    archive = write_bundle(tmp_path / "scene.mmb.tar", src.manifest, src.contents())
    Bundle.load(archive).close()
    assert not stale.exists()


# -- fuzz ----------------------------------------------------------------------------------------

MEMBER_KINDS = st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo"])
NAMES = st.one_of(
    st.sampled_from(["manifest.json", "model.onnx", "parity/inputs.npz", "parity/reference.npz"]),
    st.sampled_from(["../x", "/etc/passwd", "a/../../x", "", ".", "a//b", "parity", "x\\y"]),
    st.text(min_size=1, max_size=12),
)


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    manifest = json.loads((Path(SCENE) / "manifest.json").read_text())
    for _ in range(draw(st.integers(0, 4))):
        keys = [k for k in manifest if k != "schema_version"]
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["drop", "null", "number", "string", "list", "artifact"]))
        if action == "drop":
            manifest.pop(key)
        elif action == "artifact" and isinstance(manifest.get("artifacts"), list):
            entry = manifest["artifacts"][0] if manifest["artifacts"] else {}
            entry[draw(st.sampled_from(["file", "precision", "format", "sha256"]))] = draw(NAMES)
        else:
            manifest[key] = {"null": None, "number": -1, "string": draw(NAMES), "list": []}.get(
                action
            )
    return json.dumps(manifest).encode()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    manifest=manifests(),
    layout=st.lists(st.tuples(NAMES, MEMBER_KINDS), max_size=6),
    include_real=st.booleans(),
)
def test_fuzz_manifests_and_tar_layouts_load_or_raise_bundle_error(
    tmp_path_factory: pytest.TempPathFactory, manifest: bytes, layout: list, include_real: bool
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    archive = root / "b.mmb.tar"
    real = {f.name: f.read_bytes() for f in Path(SCENE).rglob("*") if f.is_file()}
    with tarfile.open(archive, "w") as tar:
        members = [("manifest.json", "file")] + (
            [(n, "file") for n in real if n != "manifest.json"] if include_real else []
        )
        for name, kind in members + layout:
            info = tarfile.TarInfo(name)
            data = manifest if name == "manifest.json" else real.get(Path(name).name, b"x")
            if kind == "file":
                info.size = len(data)
            else:
                info.type = {
                    "dir": tarfile.DIRTYPE,
                    "symlink": tarfile.SYMTYPE,
                    "hardlink": tarfile.LNKTYPE,
                    "fifo": tarfile.FIFOTYPE,
                }[kind]
                info.linkname = "/etc/passwd"
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    outside_before = set(root.parent.iterdir())
    with contextlib.suppress(BundleError):
        Bundle.load(archive).close()
    assert set(root.parent.iterdir()) == outside_before  # nothing written beside it
