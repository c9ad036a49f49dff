"""config/full-study.yaml: it resolves, its seeds are the ones its stated inputs need, its grid brackets each
loss's optimum, and Snakemake plans it (docs/studies.md, "The full study")."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import yaml

from helpers import ROOT, plan, resolved
from lossbench import decisions, stats
from lossbench.config import lr_study_lrs, lr_text

FULL = ROOT / "config" / "full-study.yaml"
# The default run's tuned comparison (2026-12-05, tables/lr_study_runs.csv): mse_softmax at lr 10 minus
# cross_entropy at lr 0.3, test accuracy per seed (0.9551 - 0.9461, 0.9439 - 0.9512): the planning sd.
TUNED_DIFFERENCES = (0.9551 - 0.9461, 0.9439 - 0.9512)
DEFAULT_OPTIMA = {"cross_entropy": 0.3, "mse_softmax": 10.0}  # the default study's selected lrs


def full_study():
    return resolved(FULL.read_text()).lr_study


def test_the_full_study_resolves_over_the_default_config():
    study = full_study()
    assert study["losses"] == ["cross_entropy", "mse_softmax"] and study["reference"] == "cross_entropy"
    assert study["epochs"] == 30 and study["seeds"] == list(range(17))
    assert set(yaml.safe_load(FULL.read_text())) == {"lr_study"}  # every other key stays the default's


def test_its_seeds_give_80_percent_power_at_the_margin_from_the_measured_spread():
    sd = float(np.std(TUNED_DIFFERENCES, ddof=1))
    assert sd == pytest.approx(0.01153, abs=1e-5)
    needed = stats.seeds_for_equivalence(sd, decisions.EQUIVALENCE_MARGIN, decisions.POWER)
    assert len(full_study()["seeds"]) == needed == 17
    assert stats.half_width(sd, needed) < decisions.EQUIVALENCE_MARGIN < stats.half_width(sd, 2)


def test_each_loss_grid_puts_two_neighbours_either_side_of_its_default_optimum():
    study = full_study()
    for loss, best in DEFAULT_OPTIMA.items():
        lrs = lr_study_lrs(study, loss)
        assert lrs == sorted(lrs) and len(lrs) == 5 and lrs[2] == best, loss
        steps = np.diff(np.log(lrs))
        assert steps.min() >= math.log(1.6) and steps.max() <= math.log(2) + 1e-9, loss  # x1.7 and x2 steps


def test_snakemake_plans_every_point_of_each_grid(tmp_path):
    """A dry run over the default config with the full study laid over it: 2 losses x 5 lrs x 17 seeds, each
    its own training job on CPU (none is the sweep's: 30 epochs, not 5), and the default sweep beside it."""
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    full = plan(tmp_path, "--config", "pack_seeds=false", config=FULL)
    assert full.counts["train_lr_study"] == 2 * 5 * 17 == 170
    assert sorted({(loss, lr) for loss, lr, _ in full.wildcards("train_lr_study", "loss", "lr", "seed")}) == sorted(
        (loss, lr_text(lr)) for loss in DEFAULT_OPTIMA for lr in lr_study_lrs(full_study(), loss))
    default = plan(tmp_path, "--config", "pack_seeds=false").counts
    assert default["train_lr_study"] == 42  # the default grid: 3 losses x 8 lrs x 2 seeds, 6 read from the sweep
    assert {rule: n for rule, n in full.counts.items() if rule != "train_lr_study"} == {
        rule: n for rule, n in default.items() if rule != "train_lr_study"}
    sequential = plan(tmp_path, config=FULL).counts  # pack_seeds auto on CPU: one job per (loss, seed)
    assert sequential["train_lr_study_seed"] == 2 * 17
