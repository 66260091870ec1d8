"""Parity: how far an artifact's outputs are from the reference (PyTorch fp32) outputs.

Lives in the runtime (NumPy only) so that `mmedge validate` can re-check a bundle on a device
without torch, against the PyTorch outputs stored in the bundle at export time.

Definitions, per output tensor of N samples:
- abs error: |candidate - reference| elementwise; max, mean and 99th percentile are reported.
- rel error: abs error / max(|reference|, floor), floor = 1e-3 * max|reference| over the batch,
  so values near zero do not turn rounding noise into huge ratios.
- cosine: cosine similarity of each sample's flattened outputs; the minimum is reported.
- top-1 agreement (classification outputs, 2-D (N, classes)): fraction of samples whose argmax
  is the same; every disagreement is listed with the reference's logit margin between the two
  classes (how close the reference itself was to a tie).
- passed: every element within atol + atol_fraction_of_max * max|reference| + rtol * |reference|
  (numpy.allclose with an absolute term that scales with the output's size), top-1 agreement
  >= min_top1_agreement and mean cosine >= min_mean_cosine when those are set. Quantised
  artifacts are gated by agreement and cosine (atol = inf): their elementwise error is expected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ParityTolerance:
    """Gate of one artifact output: allclose(atol, rtol), and optionally a minimum top-1
    agreement and a minimum mean cosine similarity."""

    atol: float = 1e-4
    rtol: float = 1e-3
    min_top1_agreement: float | None = None
    min_mean_cosine: float | None = None
    atol_fraction_of_max: float = 0.0

    @classmethod
    def for_precision(cls, precision: str) -> ParityTolerance:
        """Defaults per precision. fp32 is held to rounding noise; fp16 (10-bit mantissa, about
        5e-4 relative per rounding, accumulated over the layers) to 1e-2 and 99% top-1
        agreement; int8 to 95% top-1 agreement and mean cosine 0.98 on real inputs (its
        accuracy on labelled data is the gate that matters: --max-accuracy-drop). fp16's
        absolute term grows with the output's largest value (its rounding step does: a logit of
        16 is stored to 0.0156), 5e-3 of it, besides atol 1e-3 and rtol 1e-2."""
        if precision == "fp32":
            return cls(atol=1e-4, rtol=1e-3)
        if precision == "fp16":
            return cls(
                atol=1e-3,
                rtol=1e-2,
                min_top1_agreement=0.99,
                min_mean_cosine=0.999,
                atol_fraction_of_max=5e-3,
            )
        if precision == "int8":
            return cls(atol=float("inf"), rtol=0.0, min_top1_agreement=0.95, min_mean_cosine=0.98)
        raise ValueError(f"precision must be fp32, fp16 or int8, got {precision!r}")


@dataclass(frozen=True)
class Disagreement:
    sample: int
    reference_top1: int
    candidate_top1: int
    reference_margin: float  # reference logit of its top-1 minus that of the candidate's top-1


@dataclass(frozen=True)
class ParityReport:
    output: str
    n_samples: int
    max_abs: float
    mean_abs: float
    p99_abs: float
    max_rel: float
    mean_rel: float
    p99_rel: float
    min_cosine: float
    mean_cosine: float
    top1_agreement: float | None
    disagreements: list[Disagreement]
    atol: float
    rtol: float
    min_top1_agreement: float | None
    min_mean_cosine: float | None
    atol_fraction_of_max: float
    within_tolerance: bool
    passed: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("atol", "rtol"):  # JSON has no infinity
            if not np.isfinite(d[key]):
                d[key] = None
        return d

    def summary(self) -> str:
        top1 = "n/a" if self.top1_agreement is None else f"{self.top1_agreement:.4%}"
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict} {self.output}: n={self.n_samples} max_abs={self.max_abs:.3g} "
            f"mean_abs={self.mean_abs:.3g} p99_abs={self.p99_abs:.3g} max_rel={self.max_rel:.3g} "
            f"mean_cos={self.mean_cosine:.6f} min_cos={self.min_cosine:.6f} top1={top1}"
        )


def compare(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    output: str = "output",
    tolerance: ParityTolerance | None = None,
) -> ParityReport:
    """Parity of `candidate` against `reference`, both shaped (N, ...)."""
    tol = tolerance or ParityTolerance()
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise ValueError(
            f"output {output!r}: reference shape {ref.shape} != candidate {cand.shape}"
        )
    if ref.ndim == 0 or ref.shape[0] == 0:
        raise ValueError(f"output {output!r}: need at least one sample, got shape {ref.shape}")
    notes: list[str] = []
    finite = bool(np.isfinite(cand).all())
    if not finite:
        notes.append("candidate has NaN or inf values")
    abs_err = np.abs(cand - ref)
    abs_err = np.where(np.isfinite(abs_err), abs_err, np.inf)
    floor = max(1e-3 * float(np.abs(ref).max()), 1e-12)
    rel_err = abs_err / np.maximum(np.abs(ref), floor)
    n = ref.shape[0]
    flat_r, flat_c = ref.reshape(n, -1), cand.reshape(n, -1)
    norms = np.linalg.norm(flat_r, axis=1) * np.linalg.norm(flat_c, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, (flat_r * flat_c).sum(axis=1) / norms, 1.0)
    top1 = None
    disagreements: list[Disagreement] = []
    if ref.ndim == 2 and ref.shape[1] > 1:
        r1, c1 = ref.argmax(axis=1), cand.argmax(axis=1)
        top1 = float((r1 == c1).mean())
        for i in np.flatnonzero(r1 != c1):
            margin = float(ref[i, r1[i]] - ref[i, c1[i]])
            disagreements.append(Disagreement(int(i), int(r1[i]), int(c1[i]), margin))
    atol = tol.atol + tol.atol_fraction_of_max * float(np.abs(ref).max())
    within = finite and bool(np.all(abs_err <= atol + tol.rtol * np.abs(ref)))
    cos = np.nan_to_num(cos, nan=-1.0)
    mean_cos = float(cos.mean())
    passed = (
        within
        and (tol.min_top1_agreement is None or top1 is None or top1 >= tol.min_top1_agreement)
        and (tol.min_mean_cosine is None or mean_cos >= tol.min_mean_cosine)
    )
    with np.errstate(invalid="ignore"):  # percentiles of inf errors
        p99_abs, p99_rel = float(np.percentile(abs_err, 99)), float(np.percentile(rel_err, 99))
    return ParityReport(
        output=output,
        n_samples=n,
        max_abs=float(abs_err.max()),
        mean_abs=float(abs_err.mean()),
        p99_abs=p99_abs,
        max_rel=float(rel_err.max()),
        mean_rel=float(rel_err.mean()),
        p99_rel=p99_rel,
        min_cosine=float(cos.min()),
        mean_cosine=mean_cos,
        top1_agreement=top1,
        disagreements=disagreements,
        atol=tol.atol,
        rtol=tol.rtol,
        min_top1_agreement=tol.min_top1_agreement,
        min_mean_cosine=tol.min_mean_cosine,
        atol_fraction_of_max=tol.atol_fraction_of_max,
        within_tolerance=within,
        passed=passed,
        notes=notes,
    )
