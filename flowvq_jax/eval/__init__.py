"""Evaluation: metrics (image, landmark, temporal, distribution), emotion classifier, landmark
regressor, report tables.

    from flowvq_jax.eval import metrics, report
    res = {"ours": {"ssim": float(metrics.ssim(real, fake).mean()), "fid": metrics.fid(real, fake)}}
    report.write_report(res, "results/eval")  # FID shows "n/a (needs Inception-v3 ...)"

See docs/metrics.md for the definitions and measured classifier / regressor numbers.
"""

from __future__ import annotations

from flowvq_jax.eval.metrics import MetricValue, NotComputed, is_computed

__all__ = ["MetricValue", "NotComputed", "is_computed"]
