"""Writing bundles (issue 9): a writer killed at any moment leaves the old bundle or the new
one, complete; concurrent writers are kept apart; leftovers of killed writers go at the next
write; a full disk is a BundleError naming the path and the space needed."""

from __future__ import annotations

import copy
import errno
import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import mmedge
from mmedge import Bundle, BundleError
from mmedge.bundle import write_bundle
from mmedge.bundle.atomic import leftovers, lock_path, write_lock

TRIALS = 60  # per form (directory, .tar): 120 kills in all


def _versions() -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Two manifests of the built-in MNIST bundle (four artifacts, 1.3 MB) that differ in their
    description: which one a path holds is then readable."""
    src = Bundle.load(mmedge.builtin_bundle())
    versions = []
    for v in ("old", "new"):
        m = copy.deepcopy(src.manifest)
        m["description"] = v
        versions.append(m)
    return versions, src.contents()


def _writer_loop(out: Path, versions: list[dict[str, Any]], files: dict[str, Path]) -> None:
    """The child: writes new, old, new, ... over `out` until killed."""
    try:
        for i in range(10**9):
            write_bundle(out, versions[(i + 1) % 2], files, overwrite=True)
    finally:
        os._exit(1)


@pytest.mark.parametrize("suffix", [".mmb", ".mmb.tar"])
def test_a_writer_killed_at_random_moments_leaves_a_complete_bundle(
    tmp_path: Path, suffix: str
) -> None:
    """Before: 1 in 20 SIGKILLs left nothing at the path (the old bundle was renamed aside
    before the new one was in place), and killed writes left staging copies nobody removed."""
    versions, files = _versions()
    out = tmp_path / f"digits{suffix}"
    write_bundle(out, versions[0], files)
    rng = random.Random(0)
    seen = {"old": 0, "new": 0}
    for _ in range(TRIALS):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            _writer_loop(out, versions, files)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with Bundle.load(out) as bundle:  # complete: schema, every checksum, consistency
            seen[bundle.manifest["description"]] += 1
    print(f"{suffix}: {TRIALS} kills, the path held old {seen['old']}, new {seen['new']}")
    assert seen["old"] + seen["new"] == TRIALS
    assert seen["new"] > 0  # the kills did land after writes completed, not only before
    write_bundle(out, versions[0], files, overwrite=True)  # the next write cleans up
    assert leftovers(out) == [] and not lock_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_a_second_writer_fails_cleanly(tmp_path: Path) -> None:
    """Before: two writers with overwrite=False on one .tar both succeeded."""
    versions, files = _versions()
    out = tmp_path / "digits.mmb.tar"
    held_by_me = rf"is being written by another process \(pid {os.getpid()}"
    with write_lock(out), pytest.raises(BundleError, match=held_by_me):  # a writer mid-write
        write_bundle(out, versions[0], files)
    write_bundle(out, versions[0], files)
    with pytest.raises(BundleError, match="exists; pass overwrite=True"):
        write_bundle(out, versions[1], files)
    assert Bundle.load(out).manifest["description"] == "old"


def test_a_bundle_left_aside_by_a_killed_writer_is_put_back(tmp_path: Path) -> None:
    """Where the atomic exchange is unavailable the old bundle is renamed aside first; a writer
    killed between the two renames leaves the path empty. The next writer restores it."""
    versions, files = _versions()
    out = tmp_path / "digits.mmb"
    write_bundle(out, versions[0], files)
    os.rename(out, tmp_path / ".digits.mmb.old-4242")  # the killed writer's state
    (tmp_path / ".digits.mmb.staging-4242-0a0b0c0d").mkdir()
    with pytest.raises(BundleError, match="exists; pass overwrite=True"):
        write_bundle(out, versions[1], files)  # the path holds the old bundle again
    assert Bundle.load(out).manifest["description"] == "old"
    assert leftovers(out) == []


def test_a_full_disk_is_a_bundle_error_naming_the_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a full disk surfaced as a raw OSError."""
    versions, files = _versions()
    out = tmp_path / "digits.mmb"
    real = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        "mmedge.bundle.writer.shutil.disk_usage",
        lambda p: type(real)(real.total, real.total - 1_000_000, 1_000_000),
    )
    with pytest.raises(
        BundleError,
        match=rf"not enough space to write {out}: it needs about 2\.\d MB, 1\.0 MB are free",
    ):
        write_bundle(out, versions[0], files)
    monkeypatch.undo()

    def no_space(src: object, dst: object) -> None:  # the disk fills while writing
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("mmedge.bundle.writer.shutil.copyfile", no_space)
    with pytest.raises(BundleError, match="not enough space to write"):
        write_bundle(out, versions[0], files)
    assert list(tmp_path.iterdir()) == []
