"""Serving mmedge bundles elsewhere: a Triton Inference Server model repository with mmedge's
preprocessing and post-processing as python-backend models (export_triton)."""

from __future__ import annotations

from mmedge.serve.triton_repo import export_triton

__all__ = ["export_triton"]
