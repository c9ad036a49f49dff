"""The residual factor (the *why* page's "The residual factor"), read into records: numbers and decisions only.

The learning-rate study measures the threshold-lr ratio of the slow loss to the reference (``lrstudy``); the
gradient scale predicts it (the declared theory, C^2/2 for MSE on softmax, else the measured initial scale).
What the prediction leaves, ``residual`` = measured / predicted, has three first candidates, each read on the
same network by the probe (``lossbench.probe``, tables/probe.csv), averaged over the probed run's first epoch
(the points at epoch <= 1, step 0 included: the threshold is read after epoch 1), then over its seeds:

- **norm**: the logit-gradient norm ratio over the declared scale (``norm_ratio``; the measured ratio at step
  0 where a loss declares none). A ratio r < 1 makes the slow loss's steps r times the matched ones: it needs
  a 1/r larger lr. ``norm_factor`` = 1 / mean r.
- **direction**: the cosine of the two losses' weight gradients. Only the part of a step along the
  reference's direction moves as the reference does: ``cosine_factor`` = 1 / mean cosine.
- **second order**: one step's loss change is first x (1 + s), s = ``X_second_ratio`` (the loss's own
  logit curvature along the step). Relative to the reference, the slow loss gains (1 + s) / (1 + s_ref) of
  what first order predicts: ``second_factor`` = (1 + s_ref) / (1 + s).

Each factor's **share** of the residual is log factor / log residual (1: all of it; 0 or below: none, or the
wrong way); ``decisions.RESIDUAL_ACCOUNTS`` and ``decisions.RESIDUAL_PART`` read it. The product of the three
is what they account for together. The probe follows one run at its own lr: ``threshold_lr`` (the slow loss's
own threshold lr in the study) says how far that is from the runs that define the residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import decisions
from .lrstudy import Study
from .tables import read_gathered

NAN = math.nan
FACTORS = ("norm", "cosine", "second")


@dataclass(frozen=True)
class ProbedRun:
    """One probed run (loss, seed) read over its first epoch and over the whole run."""

    loss: str
    reference: str
    seed: int
    lr: float
    reference_lr: float
    classes: int
    probe_size: int
    epochs: float  # the last probed epoch
    declared: bool  # both losses declare a gradient scale: norm_ratio is against it (else: against step 0's)
    norm: float  # first epoch: mean norm ratio
    weight_norm: float  # first epoch: mean weight-gradient norm ratio (NaN undeclared)
    cosine: float  # first epoch: mean weight-gradient cosine
    logit_cosine: float  # first epoch: mean per-sample logit-gradient cosine
    second: float  # first epoch: mean second-order ratio of the slow loss's step
    reference_second: float
    actual: float  # first epoch: mean (actual change / first-order change) of the slow loss's step
    reference_actual: float
    max_prob: float  # the largest softmax probability on the probe batch at the end of epoch 1
    norm_range: tuple[float, float]  # over the whole run
    cosine_low: float  # the smallest weight cosine over the whole run
    drift_epoch: float  # the first probed epoch with the norm ratio off 1 by more than STEP_MATCH (NaN: never)


@dataclass(frozen=True)
class Factor:
    """What one candidate accounts for: the lr factor it asks for and its share of the residual (log scale)."""

    name: str  # "norm", "cosine", "second", "together"
    value: float
    share: float  # log value / log residual; NaN without a residual
    reading: str  # "accounts", "part", "none" (share < RESIDUAL_PART, or the wrong way), "" (no residual)


@dataclass(frozen=True)
class Residual:
    """Everything the section says, computed once."""

    slow_loss: str
    reference: str
    classes: int
    threshold: float
    measured: float  # the study's threshold-lr ratio at its threshold (NaN: no point estimate)
    predicted: float  # the declared theory's ratio, else the measured initial scale's
    predicted_source: str  # "declared", "measured", ""
    range_low: float  # measured/predicted over the study's thresholds and seeds (Sweep), NaN none
    range_high: float
    threshold_lr: float  # the slow loss's threshold lr in the study (NaN: not interpolated)
    probes: tuple[ProbedRun, ...] = ()
    factors: tuple[Factor, ...] = ()
    study: bool = False  # the learning-rate study holds both losses

    @property
    def residual(self) -> float:
        return self.measured / self.predicted if self.predicted and not pd.isna(self.predicted) else NAN

    @property
    def probed(self) -> bool:
        return bool(self.probes)

    def factor(self, name: str) -> Factor | None:
        return next((f for f in self.factors if f.name == name), None)

    def mean(self, field: str) -> float:
        """A ProbedRun field, mean over the probed seeds."""
        values = [getattr(p, field) for p in self.probes]
        return float(np.nanmean(values)) if values and not all(pd.isna(values)) else NAN

    @property
    def lr(self) -> float:
        return self.probes[0].lr if self.probes else NAN


def load(probe_csv: str) -> pd.DataFrame:
    """The gathered probe table (``tables.read_gathered``: refused when edited), or an empty one when off ("")."""
    return read_gathered(probe_csv) if probe_csv else pd.DataFrame()


def _first(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce")
    return float(values.mean()) if values.notna().any() else NAN


def probed_run(rows: pd.DataFrame) -> ProbedRun:
    """One probed run's ``ProbedRun`` from its probe.csv rows (step ascending)."""
    rows = rows.sort_values("step")
    declared = rows["norm_ratio"].notna().any()
    norm = rows["norm_ratio"] if declared else rows["raw_norm_ratio"] / rows["raw_norm_ratio"].iloc[0]
    first = rows["epoch"] <= 1 + 1e-9
    at1 = rows[first].iloc[-1]
    off = rows.loc[(norm - 1).abs() > decisions.STEP_MATCH, "epoch"]
    return ProbedRun(
        loss=str(rows["loss"].iloc[0]), reference=str(rows["reference"].iloc[0]), seed=int(rows["seed"].iloc[0]),
        lr=float(rows["lr"].iloc[0]), reference_lr=float(rows["reference_lr"].iloc[0]),
        classes=int(rows["classes"].iloc[0]), probe_size=int(rows["probe_size"].iloc[0]),
        epochs=float(rows["epoch"].max()), declared=bool(declared),
        norm=_first(norm[first]), weight_norm=_first(rows.loc[first, "weight_norm_ratio"]),
        cosine=_first(rows.loc[first, "weight_cosine"]), logit_cosine=_first(rows.loc[first, "logit_cosine"]),
        second=_first(rows.loc[first, "loss_second_ratio"]),
        reference_second=_first(rows.loc[first, "reference_second_ratio"]),
        actual=_first(rows.loc[first, "loss_actual_ratio"]),
        reference_actual=_first(rows.loc[first, "reference_actual_ratio"]),
        max_prob=float(at1["max_prob"]), norm_range=(float(norm.min()), float(norm.max())),
        cosine_low=float(rows["weight_cosine"].min()), drift_epoch=float(off.iloc[0]) if len(off) else NAN)


def _factor(name: str, value: float, residual: float) -> Factor:
    if pd.isna(residual) or pd.isna(value) or value <= 0 or abs(math.log(residual)) < math.log(decisions.WHOLE_SHIFT):
        return Factor(name, value, NAN, "")
    share = math.log(value) / math.log(residual)
    reading = ("accounts" if share >= decisions.RESIDUAL_ACCOUNTS else
               "part" if share >= decisions.RESIDUAL_PART else "none")
    return Factor(name, value, share, reading)


def analyse(probe: pd.DataFrame, study: Study | None, slow_loss: str, reference: str, classes: int) -> Residual:
    """The residual of ``slow_loss``'s threshold-lr ratio to ``reference`` (``study``: the learning-rate study's
    record, None when off) and what the probe (its table, empty when off) accounts for."""
    record = dict(slow_loss=slow_loss, reference=reference, classes=classes, threshold=NAN, measured=NAN,
                  predicted=NAN, predicted_source="", range_low=NAN, range_high=NAN, threshold_lr=NAN)
    has_study = study is not None and study.of(slow_loss) is not None and study.of(reference) is not None
    if has_study:
        scale = study.of(slow_loss, "scales")
        sweep = study.of(slow_loss, "sweeps")
        row = study.of(slow_loss)
        predicted, source = ((scale.theory, "declared") if scale.theory is not None else
                             (scale.predicted, "measured") if not pd.isna(scale.predicted) else (NAN, ""))
        ratios = sweep.ratios() if sweep is not None else ()
        record.update(threshold=study.threshold, measured=scale.measured, predicted=predicted,
                      predicted_source=source,
                      range_low=min(ratios) / predicted if ratios and predicted else NAN,
                      range_high=max(ratios) / predicted if ratios and predicted else NAN,
                      threshold_lr=row.threshold_lr if row.threshold_kind == "interpolated" else NAN)
    runs = ()
    if len(probe):
        mine = probe[(probe["loss"] == slow_loss) & (probe["reference"] == reference)]
        runs = tuple(probed_run(g) for _, g in mine.groupby("seed", sort=True))
    out = Residual(**record, probes=runs, study=has_study)
    if not runs:
        return out
    residual = out.residual
    if pd.isna(residual) and not pd.isna(out.range_low):  # no point estimate: the range's geometric middle
        residual = math.sqrt(out.range_low * out.range_high)
    norm, cosine = out.mean("norm"), out.mean("cosine")
    second = (1 + out.mean("reference_second")) / (1 + out.mean("second"))
    values = {"norm": 1 / norm if norm > 0 else NAN, "cosine": 1 / cosine if cosine > 0 else NAN, "second": second}
    values["together"] = float(np.prod([values[k] for k in FACTORS]))
    factors = tuple(_factor(name, value, residual) for name, value in values.items())
    return Residual(**{**out.__dict__, "factors": factors})


def section(probe: pd.DataFrame, study: Study | None, slow_loss: str, reference: str, classes: int) -> Residual:
    """The section's record from the page's parameters: ``reference`` "" (the study is off) takes the probe's."""
    if not reference and len(probe):
        reference = str(probe["reference"].iloc[0])
    return analyse(probe, study, slow_loss, reference, classes)
