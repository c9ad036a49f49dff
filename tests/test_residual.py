"""The residual factor (lossbench.residual, residual_words, residual_figures) on constructed probe tables and
learning-rate studies: each factor against hand-made numbers, the first epoch only, a loss without a declared
scale, the readings of decisions.RESIDUAL_*, and the section's words as golden markdown."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import test_lrstudy as t
from golden import assert_golden
from lossbench import decisions, probe, residual
from lossbench import residual_figures as figures
from lossbench import residual_words as words

SLOW, REF = "mse_softmax", "cross_entropy"


def probe_table(norm=1.0, cosine=1.0, second=0.0, reference_second=0.0, seeds=(0,), epochs=2, points=4, later=None,
                declared=True, lr=0.1) -> pd.DataFrame:
    """probe.csv rows as ``lossbench probe`` writes them: constant readings over epoch 1, and ``later`` (a dict of
    the same keys) after it."""
    rows = []
    for seed in seeds:
        for step in range(epochs * points + 1):
            epoch = step / points
            values = dict(norm=norm, cosine=cosine, second=second, reference_second=reference_second)
            if later and epoch > 1:
                values |= later
            raw = 0.02 * values["norm"]
            rows.append({**{c: math.nan for c in probe.COLUMNS}, "step": step, "epoch": epoch, "loss": SLOW,
                         "reference": REF, "seed": seed, "lr": lr, "reference_lr": lr * 0.02, "classes": 10,
                         "probe_size": 100, "predicted_scale": 0.02 if declared else math.nan,
                         "mean_max_prob": 0.1 + 0.01 * epoch, "max_prob": 0.12 + 0.01 * epoch,
                         "raw_norm_ratio": raw, "norm_ratio": values["norm"] if declared else math.nan,
                         "weight_norm_ratio": values["norm"] if declared else math.nan,
                         "logit_cosine": values["cosine"], "weight_cosine": values["cosine"],
                         "loss_second_ratio": values["second"], "reference_second_ratio": values["reference_second"],
                         "loss_actual_ratio": 1 + values["second"], "reference_actual_ratio":
                         1 + values["reference_second"]})
    return pd.DataFrame(rows, columns=probe.COLUMNS)


def study():
    return t.study(t.realistic())


def test_each_factor_against_hand_made_numbers():
    s = study()
    r = residual.analyse(probe_table(norm=0.8, cosine=0.5, second=-0.2), s, SLOW, REF, 10)
    scale = s.of(SLOW, "scales")
    assert r.measured == scale.measured and r.predicted == 50 and r.predicted_source == "declared"
    assert r.residual == pytest.approx(scale.measured / 50)
    values = {f.name: f.value for f in r.factors}
    assert values == pytest.approx({"norm": 1.25, "cosine": 2.0, "second": 1.25, "together": 3.125})
    for f in r.factors:
        assert f.share == pytest.approx(math.log(f.value) / math.log(r.residual))
    sweep = s.of(SLOW, "sweeps")
    assert r.range_low == pytest.approx(min(sweep.ratios()) / 50) and r.range_high == pytest.approx(
        max(sweep.ratios()) / 50)
    assert r.threshold_lr == s.of(SLOW).threshold_lr


def test_only_the_first_epoch_is_averaged_and_the_whole_run_gives_the_range_and_the_drift():
    r = residual.analyse(probe_table(norm=1.0, later={"norm": 1.3, "cosine": 0.9}), None, SLOW, REF, 10)
    (p,) = r.probes
    assert p.norm == 1.0 and p.cosine == 1.0 and p.norm_range == (1.0, 1.3) and p.cosine_low == 0.9
    assert p.drift_epoch == 1.25  # the first probe after epoch 1, off 1 by more than STEP_MATCH
    assert p.max_prob == pytest.approx(0.13) and p.epochs == 2


def test_seeds_are_averaged():
    table = pd.concat([probe_table(norm=0.8, seeds=(0,)), probe_table(norm=1.0, seeds=(1,))])
    r = residual.analyse(table, None, SLOW, REF, 10)
    assert [p.seed for p in r.probes] == [0, 1] and r.factor("norm").value == pytest.approx(1 / 0.9)


def test_without_a_declared_scale_the_norm_ratio_is_against_step_0():
    table = probe_table(declared=False, later={"norm": 2.0})
    r = residual.analyse(table, None, SLOW, REF, 10)
    assert not r.probes[0].declared and r.probes[0].norm == 1.0 and r.probes[0].norm_range == (1.0, 2.0)


@pytest.mark.parametrize("norm, reading", [(0.5, "accounts"), (0.9, "part"), (0.999, "none"), (1.2, "none")])
def test_the_readings_are_decisions_shares(norm, reading):
    s = study()
    r = residual.analyse(probe_table(norm=norm), s, SLOW, REF, 10)
    f = r.factor("norm")
    assert f.reading == reading
    share = math.log(1 / norm) / math.log(r.residual)  # residual ~1.47 here
    assert (share >= decisions.RESIDUAL_ACCOUNTS) == (reading == "accounts")


def test_no_study_or_no_probe_reads_nothing_it_cannot():
    r = residual.analyse(probe_table(), None, SLOW, REF, 10)
    assert not r.study and all(f.reading == "" for f in r.factors) and math.isnan(r.residual)
    r = residual.analyse(pd.DataFrame(), study(), SLOW, REF, 10)
    assert not r.probed and r.factors == () and not math.isnan(r.residual)
    assert residual.analyse(probe_table(), study(), SLOW, "softmax_nll", 10).probes == ()  # another pair


SCENES = {
    "none_accounts": lambda: residual.analyse(probe_table(norm=1.002, cosine=0.9994, second=-3e-5,
                                                          reference_second=-9e-5, later={"norm": 1.07}),
                                              study(), SLOW, REF, 10),
    "norm_accounts": lambda: residual.analyse(probe_table(norm=0.7, lr=4.0), study(), SLOW, REF, 10),
    "part": lambda: residual.analyse(probe_table(norm=0.95, cosine=0.97, seeds=(0, 1)), study(), SLOW, REF, 10),
    "no_study": lambda: residual.analyse(probe_table(), None, SLOW, REF, 10),
    "probe_off": lambda: residual.analyse(pd.DataFrame(), study(), SLOW, REF, 10),
    "seed_below_the_grid": lambda: residual.analyse(probe_table(norm=0.9), t.study(t.seed_below_the_grid()),
                                                    SLOW, REF, 10),
}


@pytest.mark.parametrize("name", SCENES)
def test_the_sections_words(name):
    r = SCENES[name]()
    table = words.display(r)
    text = "\n\n".join([words.statement(r), words.caption(r) or "(no figure)", "Alt text: " + (words.alt(r) or "none"),
                        "(no table)" if table is None else table.to_markdown(disable_numparse=True)])
    assert "nan" not in text.lower().replace("nanmean", "")
    assert_golden(f"residual/{name}.md", text)


def test_the_figure_draws_each_seed_and_nothing_without_a_probe():
    matplotlib.use("Agg")
    table = pd.concat([probe_table(norm=0.8, seeds=(0,)), probe_table(norm=1.0, seeds=(1,))])
    r = residual.analyse(table, None, SLOW, REF, 10)
    fig = figures.figure(table, r)
    norm_lines = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("seed")]
    assert [line.get_label() for line in norm_lines] == ["seed 0", "seed 1"]
    assert np.allclose(norm_lines[0].get_ydata(), 0.8)
    assert figures.figure(pd.DataFrame(), residual.analyse(pd.DataFrame(), None, SLOW, REF, 10)) is None
    plt.close("all")
