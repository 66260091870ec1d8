"""Real-data acceptance of fusion: audio-visual digits (MNIST + FSDD, each degraded) through
mmedge.Pipeline; the best fused method must beat the best single modality by >= 5 points."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmedge.export.recipes import av_digits


@pytest.mark.slow
def test_fusion_beats_each_modality(data_dir: Path, tmp_path: Path) -> None:
    bundles = av_digits.train_av_bundles(tmp_path, data_dir, seed=0, progress=False)
    test = av_digits.make_pairs("test", data_dir, per_recording=2, seed=0)
    report = av_digits.evaluate(bundles, test)
    for kind, row in report.items():
        assert row["complete"] and row["n"] == 500 and not row["errors"], kind
    single = {k: report[k]["accuracy"] for k in ("image", "audio")}
    assert all(0.6 < a < 0.95 for a in single.values()), single  # neither near perfect
    fused = {k: v["accuracy"] for k, v in report.items() if k not in single}
    assert max(fused.values()) >= max(single.values()) + 0.05, (single, fused)
    # Every fused method uses both modalities, so none should be worse than the worse one.
    assert min(fused.values()) >= min(single.values()), (single, fused)
    assert report["head"]["methods"] == ["head"] and report["model"]["methods"] == ["model"]
