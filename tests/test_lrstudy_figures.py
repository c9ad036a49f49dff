"""The Learning rate page's figures (lossbench.lrstudy_figures), drawn from records of constructed tables."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest

import test_lrstudy as t
from lossbench import lrstudy
from lossbench import lrstudy_figures as figures

FIGURES = (figures.lr_figure, figures.effective_figure, figures.saturation_figure)
CASES = {"realistic": t.realistic(),
         "one_seed": {("cross_entropy", 0.1): {"val": [0.3]}, ("cross_entropy", 1.0): {"val": [0.5]}},
         "no_reference": {("mse_softmax", lr): {"val": v} for lr, v in t.MS.items()},
         "all_diverged": {("cross_entropy", 0.1): {"val": [0.9, 0.9]}, ("cross_entropy", 1.0): {"val": [0.8, 0.8]},
                          ("mse_softmax", 1.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2}},
         "one_lr_per_loss": {("cross_entropy", 0.1): {"val": [0.9, 0.91], "val1": [0.6, 0.6]},
                             ("mse_softmax", 1.0): {"val": [0.5, 0.52], "val1": [0.6, 0.6]}}}


@pytest.fixture(autouse=True)
def agg():
    matplotlib.use("Agg")
    yield
    plt.close("all")


@pytest.mark.parametrize("case", CASES)
def test_each_figure_function_runs_on_constructed_tables(case):
    s = t.study(CASES[case])
    for function in FIGURES:
        fig = function(s)
        assert fig is None or isinstance(fig, plt.Figure)
        if fig is not None:
            for ax in fig.axes:
                assert ax.get_xscale() == "log" and ax.get_ylim() == (0.0, 1.0)
                assert ax.get_legend() is None  # legends sit outside the panels (fig.legend)
            assert fig.legends
    assert isinstance(figures.lr_figure(s), plt.Figure)


def test_the_same_loss_has_the_same_colour_on_every_figure():
    s = t.study(t.realistic())
    colours = []
    for function in FIGURES:
        legend = function(s).legends[0]
        colours.append({text.get_text(): handle.get_color() for text, handle in zip(legend.get_texts(),
                                                                                   legend.legend_handles)
                        if text.get_text() in s.losses})
    assert colours[0]["mse_softmax"] == colours[1]["mse_softmax"] == colours[2]["mse_softmax"]
    assert colours[0]["cross_entropy"] == colours[1]["cross_entropy"]
    assert "mse_logits" not in colours[2]  # declares capped outputs: left out of the saturation figure


def test_no_effective_figure_without_the_reference_or_without_another_loss_and_none_for_an_empty_study():
    assert figures.effective_figure(t.study(CASES["no_reference"])) is None
    only = {("cross_entropy", 0.1): {"val": [0.3, 0.32]}, ("cross_entropy", 1.0): {"val": [0.5, 0.52]}}
    assert figures.effective_figure(t.study(only, epochs=1)) is None
    empty = lrstudy.analyse(*lrstudy.load("", ""), "cross_entropy", "mse_softmax", 0.5, t.CLASSES)
    assert all(function(empty) is None for function in FIGURES)


# --- issue 22 point 5 -------------------------------------------------------------------------------------

def test_no_saturation_figure_when_no_seed_ends_saturated_anywhere():
    """A figure of lines along its bottom edge shows nothing: the page says so in a sentence instead."""
    quiet = {loss_lr: {**v, "cw": [0.01, 0.02]} for loss_lr, v in t.realistic().items()}
    s = t.study(quiet)
    assert not lrstudy.saturated_anywhere(s) and figures.saturation_figure(s) is None
    share, point = lrstudy.most_confidently_wrong(s)
    assert share == 0.02 and point.loss in ("cross_entropy", "mse_softmax")
    one = t.study(t.ONE_SEED_SATURATED)  # one seed of one lr above SATURATED (0.88): drawn
    assert lrstudy.saturated_anywhere(one) and figures.saturation_figure(one) is not None


def test_each_effective_lr_panel_says_which_epoch_its_scale_is_from():
    fig = figures.effective_figure(t.study(t.realistic()))
    final, first = fig.axes
    assert "epoch-0 gradient scale" in final.get_xlabel() and "epoch-0 gradient scale" in first.get_xlabel()
    assert final.get_title().endswith("x: the scale at epoch 0, not at this epoch")  # plots a later epoch
    assert first.get_title() == "after epoch 1; x: the scale at epoch 0"


def test_bands_only_from_three_seeds_each_seed_always_a_dot():
    two = figures.lr_figure(t.study(t.realistic()))
    assert not two.axes[0].collections  # realistic: two seeds per point, a df = 1 band would hide the gaps
    assert "95% CI over seeds" not in [x.get_text() for x in two.legends[0].get_texts()]
    three = {loss_lr: {k: (v + v[:1] if k == "val" else v) for k, v in spec.items()}
             for loss_lr, spec in {("cross_entropy", 0.1): {"val": [0.8, 0.82]},
                                   ("cross_entropy", 1.0): {"val": [0.9, 0.91]}}.items()}
    fig = figures.lr_figure(t.study(three))
    assert fig.axes[0].collections and "95% CI over seeds" in [x.get_text() for x in fig.legends[0].get_texts()]


def test_the_figures_alt_text_gives_the_main_numbers():
    from lossbench.alt import alt_text

    s = t.study(t.realistic())
    text = alt_text(figures.lr_figure(s))
    assert text.startswith("Validation accuracy against the learning rate per loss. Highest mean: cross_entropy ")
    assert "mse_softmax" in text and "Legend: cross_entropy, mse_softmax, mse_logits" in text


def test_the_sweep_figure_draws_the_records_and_never_a_bound_as_a_point():
    s = t.study(t.seed_below_the_grid())
    sweep = s.of("mse_softmax", "sweeps")
    fig = figures.sweep_figure(s, "mse_softmax")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    means = lines["means over seeds"]
    assert list(means.get_xdata()) == list(sweep.thresholds)
    expected = [sweep.at(th).ratio for th in sweep.thresholds]
    assert all((a == b) or (a != a and b != b) for a, b in zip(means.get_ydata(), expected))  # NaN where no estimate
    seed2 = lines["seed 2"].get_ydata()
    assert seed2[list(sweep.thresholds).index(0.5)] != seed2[list(sweep.thresholds).index(0.5)]  # a bound: no dot
    bound = lines["bound (at least: a crossing below its grid)"]
    assert 0.5 in list(bound.get_xdata())
    assert lines[f"predicted by the initial gradient scale ({sweep.predicted:.3g}×)"].get_ydata()[0] == sweep.predicted
    assert figures.sweep_figure(s, "cross_entropy") is None  # the reference: no ratio to itself
    assert figures.sweep_figure(t.study(t.NOT_REACHED, thresholds=(0.5,)), "mse_softmax") is None  # nothing to draw
