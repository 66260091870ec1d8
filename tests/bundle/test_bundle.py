"""Bundles: loading verifies schema and checksums; every way a bundle can be wrong gives a
BundleError that says which; writing is atomic."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

import mmedge
from mmedge import Bundle, BundleError
from mmedge.bundle import manifest_schema, validate_manifest, write_bundle


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A copy of the built-in bundle that a test may damage."""
    target = tmp_path / "mnist_cnn.mmb"
    shutil.copytree(mmedge.builtin_bundle(), target)
    return target


def manifest_of(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_builtin_bundle_loads() -> None:
    b = Bundle.load(mmedge.builtin_bundle())
    assert b.name == "mnist_cnn"
    assert b.modality == "image"
    assert b.labels == [str(i) for i in range(10)]
    assert [(a.file, a.precision) for a in b.artifacts] == [
        ("model.onnx", "fp32"),
        ("model.fp16.onnx", "fp16"),
        ("model.int8.onnx", "int8"),
        ("model.int8-u8.onnx", "int8"),
    ]
    assert b.inputs[0].shape == ("batch", 1, 28, 28)
    assert b.preprocess() == mmedge.ImageSpec(
        28, 28, input_format="GRAY", output_format="GRAY", mean=(0.1307,), std=(0.3081,)
    )
    for a in b.artifacts:
        assert b.reports["parity"][a.file]["passed"] is True
        assert b.reports["speed"][a.file]["median_ms"] > 0
    assert b.reports["accuracy"]["n_samples"] == 10000


def test_schema_ships_with_the_package() -> None:
    schema = manifest_schema(1)
    assert schema["properties"]["schema_version"] == {"const": 1}


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="bundle not found"):
        Bundle.load(tmp_path / "nothing.mmb")


def test_missing_manifest(bundle_dir: Path) -> None:
    (bundle_dir / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"has no manifest\.json: not an mmedge bundle"):
        Bundle.load(bundle_dir)


def test_invalid_json(bundle_dir: Path) -> None:
    (bundle_dir / "manifest.json").write_text('{"schema_version": 1,\n  "name": }')
    with pytest.raises(BundleError, match=r"not valid JSON \(line 2, column 11\)"):
        Bundle.load(bundle_dir)


@pytest.mark.parametrize("version", [2, 0, "1"])
def test_unknown_schema_version(bundle_dir: Path, version: object) -> None:
    m = manifest_of(bundle_dir)
    m["schema_version"] = version
    (bundle_dir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=f"schema version {version!r}; mmedge .* reads version"):
        Bundle.load(bundle_dir)


def test_schema_violation_names_the_field(bundle_dir: Path) -> None:
    m = manifest_of(bundle_dir)
    m["artifacts"][0]["precision"] = "fp64"
    (bundle_dir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="at artifacts/0/precision: 'fp64' is not one of"):
        Bundle.load(bundle_dir)


def test_labels_must_match_classes(bundle_dir: Path) -> None:
    m = manifest_of(bundle_dir)
    m["labels"] = m["labels"][:9]
    (bundle_dir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="has 10 classes but there are 9 labels"):
        Bundle.load(bundle_dir)


def test_missing_artifact(bundle_dir: Path) -> None:
    (bundle_dir / "model.onnx").unlink()
    with pytest.raises(BundleError, match=r"artifact model\.onnx is missing"):
        Bundle.load(bundle_dir)


def test_tampered_artifact(bundle_dir: Path) -> None:
    data = bytearray((bundle_dir / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    (bundle_dir / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"artifact model\.onnx fails its checksum"):
        Bundle.load(bundle_dir)


def test_tampered_fixture_file(bundle_dir: Path) -> None:
    path = bundle_dir / "parity" / "reference.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"file parity/reference\.npz fails its checksum"):
        Bundle.load(bundle_dir)


def test_artifact_path_outside_bundle(bundle_dir: Path) -> None:
    m = manifest_of(bundle_dir)
    m["artifacts"][0]["file"] = "../model.onnx"
    (bundle_dir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="does not match schema v1 at artifacts/0/file"):
        Bundle.load(bundle_dir)


def test_artifact_symlink_out_of_bundle(bundle_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(bundle_dir / "model.onnx", outside)
    os.symlink(outside, bundle_dir / "model.onnx")
    with pytest.raises(BundleError, match=r"model\.onnx is a link; bundles may not contain links"):
        Bundle.load(bundle_dir)


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_tar_bundle_round_trip(tmp_path: Path) -> None:
    src = Bundle.load(mmedge.builtin_bundle())
    out = write_bundle(tmp_path / "mnist.mmb.tar", src.manifest, src.contents())
    with Bundle.load(out) as b:
        assert b.name == "mnist_cnn"
        assert b.artifacts[0].path.is_file()
        extracted = b.root
    assert not extracted.exists()  # close() removed the extracted copy


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("/etc/passwd", "is not a relative path"),
        ("../escape.txt", r"points outside the bundle \('..'\)"),
        ("a/../../escape.txt", r"points outside the bundle \('..'\)"),
    ],
)
def test_tar_with_unsafe_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, member: str, message: str
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    tar = _tar(tmp_path / "bad.tar", [_file("manifest.json", b"{}"), _file(member, b"x")])
    with pytest.raises(BundleError, match=message):
        Bundle.load(tar)
    assert not (tmp_path / "escape.txt").exists()
    assert list(scratch.iterdir()) == []  # the extraction directory was removed


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_with_links(tmp_path: Path, kind: bytes) -> None:
    link = tarfile.TarInfo("model.onnx")
    link.type = kind
    link.linkname = "/etc/passwd"
    tar = _tar(tmp_path / "bad.tar", [_file("manifest.json", b"{}"), (link, None)])
    with pytest.raises(BundleError, match="is a link; bundles may not contain links"):
        Bundle.load(tar)


def test_tar_with_device_file(tmp_path: Path) -> None:
    dev = tarfile.TarInfo("dev")
    dev.type = tarfile.CHRTYPE
    tar = _tar(tmp_path / "bad.tar", [(dev, None)])
    with pytest.raises(BundleError, match="is not a regular file or directory"):
        Bundle.load(tar)


def test_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "junk.mmb.tar"
    path.write_bytes(b"not a tar file at all" * 100)
    with pytest.raises(BundleError, match="is not a readable tar archive"):
        Bundle.load(path)


def test_write_refuses_invalid_manifest_and_leaves_nothing(tmp_path: Path) -> None:
    src = Bundle.load(mmedge.builtin_bundle())
    bad = json.loads(json.dumps(src.manifest))
    bad["modality"] = "smell"
    files = src.contents()
    with pytest.raises(BundleError, match="at modality"):
        write_bundle(tmp_path / "x.mmb", bad, files)
    assert list(tmp_path.iterdir()) == []  # no staging directory left behind


def test_write_refuses_unlisted_or_missing_files(tmp_path: Path) -> None:
    src = Bundle.load(mmedge.builtin_bundle())
    with pytest.raises(BundleError, match="lists files that were not given"):
        write_bundle(tmp_path / "x.mmb", src.manifest, {"model.onnx": src.artifacts[0].path})
    with pytest.raises(BundleError, match="not listed"):
        write_bundle(
            tmp_path / "x.mmb",
            src.manifest,
            {**dict.fromkeys(src.contents(), b""), "extra.bin": b""},
        )


def test_overwrite_replaces_atomically(tmp_path: Path) -> None:
    src = Bundle.load(mmedge.builtin_bundle())
    files = src.contents()
    out = write_bundle(tmp_path / "m.mmb", src.manifest, files)
    with pytest.raises(BundleError, match="exists; pass overwrite=True"):
        write_bundle(out, src.manifest, files)
    changed = json.loads(json.dumps(src.manifest))
    changed["description"] = "second"
    write_bundle(out, changed, files, overwrite=True)
    assert Bundle.load(out).manifest["description"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mmb"]


def test_validate_manifest_rejects_non_objects() -> None:
    with pytest.raises(BundleError, match="must be a JSON object, got list"):
        validate_manifest([])
