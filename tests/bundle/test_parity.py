"""Parity of an artifact against the reference, by its definitions (mmedge.bundle.parity):
errors against NumPy's, top-1 agreement and the margins of disagreements, cosine, the gates per
precision, and the stored tolerance a bundle is re-checked with."""

from __future__ import annotations

import numpy as np
import pytest

from mmedge.bundle import ParityStatus, ParityTolerance, compare


def test_errors_and_agreement_by_definition() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((64, 10))
    cand = ref + 1e-3 * rng.standard_normal(ref.shape)
    cand[5, [2, 7]] = ref[5, [7, 2]] + 5.0  # sample 5 now prefers another class
    report = compare(ref, cand, output="logits", tolerance=ParityTolerance(atol=1e-2))
    err = np.abs(cand - ref)
    assert report.max_abs == pytest.approx(err.max())
    assert report.mean_abs == pytest.approx(err.mean())
    assert report.p99_abs == pytest.approx(np.percentile(err, 99))
    floor = 1e-3 * np.abs(ref).max()
    assert report.max_rel == pytest.approx((err / np.maximum(np.abs(ref), floor)).max())
    agree = (ref.argmax(1) == cand.argmax(1)).mean()
    assert report.top1_agreement == pytest.approx(agree) and agree < 1
    (d,) = report.disagreements
    assert d.sample == 5 and d.reference_top1 == ref[5].argmax()
    assert d.reference_margin == pytest.approx(ref[5, d.reference_top1] - ref[5, d.candidate_top1])
    cos = (ref * cand).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(cand, axis=1)
    assert report.min_cosine == pytest.approx(cos.min())
    assert not report.passed and not report.within_tolerance


def test_gates_per_precision() -> None:
    ref = np.linspace(-8, 8, 200).reshape(20, 10)
    assert compare(ref, ref + 5e-5, tolerance=ParityTolerance.for_precision("fp32")).passed
    assert not compare(ref, ref + 1e-3, tolerance=ParityTolerance.for_precision("fp32")).passed
    # fp16: 1e-3 + 5e-3 * max|ref| absolute (a logit of 8 is stored to about 4e-3)
    fp16 = ParityTolerance.for_precision("fp16")
    assert compare(ref, ref + 0.04, tolerance=fp16).passed
    assert not compare(ref, ref + 0.06, tolerance=fp16).passed
    int8 = ParityTolerance.for_precision("int8")  # agreement and cosine only
    assert compare(ref, ref * 1.3 + 0.2, tolerance=int8).passed
    with pytest.raises(ValueError, match="precision must be fp32, fp16 or int8"):
        ParityTolerance.for_precision("bf16")


def test_nan_fails_and_reports_serialise() -> None:
    ref = np.ones((4, 3))
    cand = ref.copy()
    cand[0, 0] = np.nan
    report = compare(ref, cand, tolerance=ParityTolerance.for_precision("int8"))
    assert not report.passed and "NaN" in report.notes[0]
    assert report.to_dict()["atol"] is None  # JSON has no infinity
    with pytest.raises(ValueError, match="reference shape"):
        compare(ref, ref[:2])


def test_stored_tolerance_round_trip() -> None:
    report = compare(np.eye(3), np.eye(3), tolerance=ParityTolerance.for_precision("int8"))
    status = ParityStatus.from_entry({"passed": True, "outputs": {"logits": report.to_dict()}})
    assert status.tolerance("logits", "int8") == ParityTolerance.for_precision("int8")
    assert status.tolerance("embedding", "fp16") == ParityTolerance.for_precision("fp16")
    early = ParityStatus.from_entry({"passed": True, **report.to_dict()})  # one report, no outputs
    assert early.tolerance("anything", "fp32") == ParityTolerance.for_precision("int8")
