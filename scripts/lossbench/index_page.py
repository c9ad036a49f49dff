"""The index's answer, first: analysis (``answer``: numbers and decisions from the gathered tables, no prose);
``index_words`` says it. Nothing here names a loss: the reference variant and the slow loss come from the config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from . import decisions, stats

NAN = math.nan


@dataclass(frozen=True)
class Reached:
    """One variant's mean test accuracy and the median epoch it first reached the target (NaN: never)."""

    variant: str
    loss: str
    lr: float
    accuracy: float
    epochs_to_target: float
    n: int
    n_diverged: int


@dataclass(frozen=True)
class Answer:
    epochs: int  # the sweep's budget
    seeds: int  # fewest seeds of a variant
    can_rank: bool  # decisions.can_rank(seeds)
    target: float  # the dataset's target validation accuracy (NaN: none in the tables)
    shared_lr: float  # the reference's lr (the shared settings)
    reference: Reached | None
    shared: tuple[Reached, ...]  # every variant at the shared settings, highest accuracy first
    slow: Reached | None  # the slow loss's variant at the shared settings
    ratio: float  # its measured initial logit-gradient ratio to the reference (same seeds; NaN: not measured)
    tuned: tuple[Reached, ...]  # the slow loss's variants that change only the lr, highest lr first


def _reached(row) -> Reached:
    return Reached(row.variant, row.loss, float(row.lr), float(row.test_accuracy_mean),
                   float(getattr(row, "epochs_to_target", NAN)), int(row.n), int(row.n_diverged))


def _initial_ratio(runs: pd.DataFrame, slow: str, reference: str) -> float:
    """Mean over seeds of the slow variant's initial logit-gradient norm over the reference's (the same
    untrained network seed by seed); NaN when not in the tables."""
    if "initial_logit_grad_norm" not in runs:
        return NAN
    norms = runs[runs["variant"].isin([slow, reference])].pivot_table(index="seed", columns="variant",
                                                                      values="initial_logit_grad_norm")
    if slow not in norms or reference not in norms:
        return NAN
    ratio = (norms[slow] / norms[reference]).replace([float("inf"), -float("inf")], NAN).dropna()
    return float(ratio.mean()) if len(ratio) else NAN


def answer(summary: pd.DataFrame, runs: pd.DataFrame, reference: str, slow_loss: str) -> Answer | None:
    """The answer the index opens with; None when the reference variant is not in the tables."""
    if reference not in set(summary["variant"]):
        return None
    ablated = set(stats.ablations(runs, reference)) if len(runs) else set()
    rows = {r.variant: _reached(r) for r in summary.itertuples()}
    ref = rows[reference]
    shared = tuple(sorted((r for v, r in rows.items() if v not in ablated), key=lambda r: -_key(r.accuracy)))
    slow_variant = stats.shared_variant(runs, slow_loss, reference) if len(runs) else None
    slow = rows.get(slow_variant) if slow_variant else None
    tuned = []
    for v in ablated:
        if rows[v].loss == slow_loss and set(stats.changed_settings(runs, v, reference)) == {"lr"}:
            tuned.append(rows[v])
    seeds = int(summary["n"].min())
    target = float(summary["target_val_accuracy"].iloc[0]) if "target_val_accuracy" in summary else NAN
    epochs = int(runs["epochs"].max()) if "epochs" in runs and len(runs) else 0
    return Answer(epochs=epochs, seeds=seeds, can_rank=decisions.can_rank(seeds), target=target, shared_lr=ref.lr,
                  reference=ref, shared=shared, slow=slow,
                  ratio=_initial_ratio(runs, slow.variant, reference) if slow else NAN,
                  tuned=tuple(sorted(tuned, key=lambda r: -r.lr)))


def _key(value: float) -> float:
    return -1.0 if math.isnan(value) else value
