"""Each plotting function returns a figure with content."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from lossbench import plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def epochs():
    rows = [{"variant": v, "seed": s, "epoch": e, "val_accuracy": 0.1 + 0.2 * e, "train_loss": 2.3 / (e + 1),
             "logit_grad_norm": 0.9 / (e + 1) * (0.02 if v == "mse" else 1), "val_mean_max_prob": 0.1 + 0.1 * e,
             "val_confident_wrong": 0.01 * e}
            for v in ("ce", "mse") for s in (0, 1) for e in range(3)]
    return pd.DataFrame(rows)


@pytest.fixture
def runs():
    return pd.DataFrame({"variant": ["ce", "ce", "mse", "mse"], "seed": [0, 1, 0, 1],
                         "test_accuracy": [0.9, 0.91, 0.2, 0.15], "train_seconds": [5.0, 5.2, 5.1, 5.3],
                         "train_cpu_seconds": [1.0, 1.1, 1.2, 1.3], "device_name": "cpu"})


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 50)
    predicted = np.where(rng.random(50) < 0.8, labels, (labels + 1) % 10)
    return pd.DataFrame({"index": range(50), "label": labels, "predicted": predicted,
                         "confidence": rng.uniform(0.1, 1, 50), "p_true": rng.uniform(0, 1, 50)})


def drawn(fig) -> bool:
    return isinstance(fig, Figure) and all(ax.has_data() for ax in fig.axes if ax.get_visible() and ax.axison)


@pytest.mark.parametrize("name", ["learning_curves", "gradient_norms", "saturation", "per_seed_curves"])
def test_epoch_figures(name, epochs):
    fig = getattr(plots, name)(epochs)
    assert drawn(fig)


# --- issue 14: figures that cannot be misread ---------------------------------------------------------

def steps_table():
    """Two losses at the shared lr and one ablation, with per-layer norms (``stats.with_lr``)."""
    from lossbench import stats

    rows = [{"variant": v, "loss": loss, "seed": s, "epoch": e, "val_accuracy": 0.1 + 0.1 * e,
             "train_loss": start * (1 - 0.1 * e), "logit_grad_norm": 0.9 * scale, "val_mean_max_prob": 0.2,
             "val_confident_wrong": 0.0, "grad_norm_layer1": scale, "grad_norm_layer2": scale / 2,
             "grad_norm_layer3": scale / 3}
            for v, loss, start, scale in [("ce", "cross_entropy", 2.3, 1.0), ("mse", "mse_softmax", 0.09, 0.02),
                                          ("logits", "mse_logits", 0.1, 0.2)]
            for s in (0, 1) for e in range(3)]
    epochs = pd.DataFrame(rows)
    runs = pd.DataFrame({"variant": ["ce", "mse", "logits"], "lr": [0.1, 5.0, 0.1]})
    return stats.with_lr(epochs, runs)


def legend_covers_nothing(fig) -> bool:
    """Every legend is a figure legend whose box overlaps no panel."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    if any(ax.get_legend() is not None for ax in fig.axes):
        return False
    boxes = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    return all(not legend.get_window_extent(renderer).overlaps(box) for legend in fig.legends for box in boxes)


@pytest.mark.parametrize("make", [
    lambda e, r, p: plots.learning_curves(e), lambda e, r, p: plots.per_seed_curves(e),
    lambda e, r, p: plots.saturation(e), lambda e, r, p: plots.timing(r),
    lambda e, r, p: plots.confidence_histogram(p), lambda e, r, p: plots.gradient_steps(steps_table()),
    lambda e, r, p: plots.layer_steps(steps_table()),
    lambda e, r, p: plots.gradient_ratio(pd.DataFrame({"epoch": [0, 1], "mean": [0.02, 0.05], "min": [0.019, 0.04],
                                                       "max": [0.021, 0.06], "count": [2, 2]}), "mse / ce"),
], ids=["curves", "per_seed", "saturation", "timing", "confidence", "gradient_steps", "layer_steps", "ratio"])
def test_legends_sit_outside_the_panels(make, epochs, runs, predictions):
    fig = make(epochs, runs, predictions)
    assert fig.legends and legend_covers_nothing(fig)


def test_losses_of_different_kinds_are_drawn_relative_to_their_start():
    """Cross-entropy (2.3) and MSE (0.09) never share a raw axis: each run's loss over its epoch-0 value."""
    fig = plots.learning_curves(steps_table())
    ax = fig.axes[1]
    assert "÷ its epoch-0 value" in ax.get_ylabel() and ax.get_yscale() == "linear"
    ys = sorted({round(y, 6) for line in ax.get_lines() for y in line.get_ydata()})
    assert ys == [0.8, 0.9, 1.0]  # every loss falls 10% per epoch here, whatever its scale
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 1


def test_a_small_change_is_not_zoomed_into_a_steep_one():
    """A 0.25% fall of the loss stays flat on the variant page: the axis runs from 0 to at least 1."""
    epochs = pd.DataFrame([{"variant": "v", "seed": s, "epoch": e, "val_accuracy": 0.11,
                            "train_loss": 0.09 * (1 - 0.00125 * e)} for s in (0, 1) for e in range(3)])
    fig = plots.per_seed_curves(epochs)
    accuracy, loss = fig.axes[0], fig.axes[1]
    assert accuracy.get_ylim() == (0, 1) and loss.get_ylim()[0] == 0 and loss.get_ylim()[1] >= 1


def test_coinciding_variants_get_their_own_dashes_and_markers_and_keep_their_colour():
    epochs = steps_table()
    same = pd.concat([epochs, epochs[epochs["variant"] == "ce"].assign(variant="ce_copy")], ignore_index=True)
    lines = plots.mean_lines(plots.learning_curves(same, metrics=("val_accuracy",)).axes[0])[:4]
    styles = [(line.get_linestyle(), tuple(line._dash_pattern[1] or ()), line.get_marker()) for line in lines]
    assert len(set(styles)) == 4  # no two variants drawn alike, so lines on top of each other stay apart
    order = ["ce", "mse", "logits"]
    alone = plots.learning_curves(epochs[epochs["variant"] == "mse"], metrics=("val_accuracy",), variants=order)
    full = plots.learning_curves(epochs, metrics=("val_accuracy",), variants=order)
    assert plots.mean_lines(alone.axes[0])[0].get_color() == plots.mean_lines(full.axes[0])[1].get_color()


def test_gradient_figures_draw_the_effective_steps_and_the_ratio_with_theory():
    steps = steps_table()
    fig = plots.gradient_steps(steps)
    assert "effective step" in fig.axes[1].get_ylabel() and fig.axes[0].get_yscale() == "log"
    # the step, not the raw norm: mse at lr 5 steps 5 * 0.018 = 0.09, ce at lr 0.1 steps 0.09
    ys = sorted({round(y, 6) for line in fig.axes[1].get_lines() for y in line.get_ydata()})
    assert ys == [0.018, 0.09]
    layers = plots.layer_steps(steps)
    assert [ax.get_ylabel() for ax in layers.axes if ax.get_visible()] == [
        f"lr × ‖∇W{i}‖ (layer {i} step)" for i in (1, 2, 3)]
    assert layers.axes[0].get_position().y0 > layers.axes[2].get_position().y0  # two panels a row
    table = pd.DataFrame({"epoch": [0, 1, 2], "mean": [0.02, 0.05, 0.11], "min": [0.019, 0.04, 0.1],
                          "max": [0.021, 0.06, 0.12], "count": [2, 2, 2]})

    def levels(fig):
        return [line for line in fig.axes[0].get_lines()
                if len(line.get_ydata()) > 1 and len(set(line.get_ydata())) == 1]

    # the declared initial ratio is drawn where the loss declares one, and only at epoch 0 (one network under
    # both losses): later epochs compare two networks, which no declared ratio or bound speaks for (issue 22:
    # a "1/C bound" across all epochs was crossed by the data, 0.1015 at epoch 5)
    declared = levels(plots.gradient_ratio(table, "mse / ce", 0.02))
    assert [round(line.get_ydata()[0], 6) for line in declared] == [0.02]
    assert max(abs(x) for x in declared[0].get_xdata()) < 0.5
    assert levels(plots.gradient_ratio(table, "focal / ce")) == []


def test_saturation_leaves_out_losses_whose_targets_cap_the_softmax():
    from lossbench import why

    steps = steps_table()
    fig = plots.saturation(steps, left_out=why.capped(steps, 10))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["ce", "mse"]


def test_gradient_norms_are_on_a_log_scale_when_they_span_decades(epochs):
    assert plots.gradient_norms(epochs).axes[0].get_yscale() == "log"
    flat = epochs.assign(logit_grad_norm=1.0)
    assert plots.gradient_norms(flat).axes[0].get_yscale() == "linear"


@pytest.mark.parametrize("name", ["final_accuracy", "timing"])
def test_run_figures(name, runs):
    assert drawn(getattr(plots, name)(runs))


def test_timing_names_the_device(runs):
    assert "cpu" in plots.timing(runs).axes[0].get_title()


def test_prediction_figures(predictions):
    assert drawn(plots.confusion_matrix(predictions)) and drawn(plots.confidence_histogram(predictions))


def test_confusion_matrix_names_the_classes(predictions):
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    ax = plots.confusion_matrix(predictions, names).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == names == [t.get_text() for t in ax.get_yticklabels()]


def test_example_grid_titles_use_the_class_names(predictions):
    names = [f"class{i}" for i in range(10)]
    fig = plots.example_grid(np.zeros((50, 28, 28), dtype=np.uint8), predictions, names, first=2, wrong=0)
    first = predictions.iloc[0]
    title = f"pred class{int(first.predicted)} ({first.confidence:.2f})\ntrue class{int(first.label)}"
    assert fig.axes[0].get_title() == title


def test_example_grid_shows_first_images_then_most_confidently_wrong(predictions):
    images = np.zeros((50, 28, 28), dtype=np.uint8)
    fig = plots.example_grid(images, predictions, first=8, wrong=4)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    wrong = predictions[predictions["label"] != predictions["predicted"]].nlargest(4, "confidence")
    assert len(titled) == 8 + min(4, len(wrong))
    top = wrong.iloc[0]
    assert titled[8] == f"pred {int(top.predicted)} ({top.confidence:.2f})\ntrue {int(top.label)}"


def test_learning_curve_bands_are_the_t_interval_of_the_tables():
    """The band at each epoch spans exactly stats.ci95 of that epoch's values over seeds."""
    from lossbench.stats import ci95

    values = {0: [0.10, 0.12, 0.20], 1: [0.50, 0.61, 0.55]}
    epochs = pd.DataFrame([{"variant": "v", "seed": s, "epoch": e, "val_accuracy": vs[s], "train_loss": 1.0}
                           for e, vs in values.items() for s in range(3)])
    ax = plots.learning_curves(epochs, metrics=("val_accuracy",)).axes[0]
    band = ax.collections[0].get_paths()[0].vertices
    for epoch, vs in values.items():
        ys = band[np.isclose(band[:, 0], epoch), 1]
        assert (ys.min(), ys.max()) == pytest.approx(ci95(vs))


def test_bands_of_shares_stay_within_0_and_1():
    """A t-interval of a share near 0 reaches below 0; the band is clipped where the share lives."""
    from lossbench.stats import ci95

    epochs = pd.DataFrame([{"variant": "v", "seed": s, "epoch": 1, "val_confident_wrong": w, "train_loss": 1.0}
                           for s, w in enumerate([0.0, 0.0, 0.03])])
    assert ci95([0.0, 0.0, 0.03])[0] < 0
    ax = plots.saturation(epochs.assign(val_mean_max_prob=0.5)).axes[1]
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == 0.0 and ys.max() == pytest.approx(ci95([0.0, 0.0, 0.03])[1])


def test_timing_shows_wall_and_process_cpu_seconds(runs):
    fig = plots.timing(runs)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["wall", "process CPU"]
    widths = sorted(round(p.get_width(), 3) for p in fig.axes[0].patches if p.get_width() > 0)
    assert widths == [1.05, 1.25, 5.1, 5.2]  # medians per variant and measure
    assert plots.timing(runs.drop(columns="train_cpu_seconds")).legends[0].get_texts()[0].get_text() == "wall"


def test_a_share_axis_starts_at_zero_even_when_every_value_is_zero():
    epochs = pd.DataFrame([{"variant": "v", "seed": s, "epoch": e, "val_confident_wrong": 0.0, "val_mean_max_prob": 0.1}
                           for s in range(2) for e in range(2)])
    ax = plots.saturation(epochs).axes[1]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > 0


# --- issue 22 point 5: figures that cannot be misread ----------------------------------------------------

def twins_table(seeds=(0, 1)):
    """Three variants; "slow" and "matched" track each other within 0.2 points at every epoch (issue 22: the
    slow loss drawn under the reference at the matched lr), "fast" apart."""
    curves = {"fast": [0.1, 0.8, 0.9], "slow": [0.1, 0.15, 0.2], "matched": [0.1, 0.152, 0.201]}
    return pd.DataFrame([{"variant": v, "seed": s, "epoch": e, "val_accuracy": c[e] + 0.01 * s, "train_loss": 1.0}
                         for v, c in curves.items() for s in seeds for e in range(3)])


def test_lines_on_top_of_each_other_stay_visible_whatever_their_names():
    epochs = twins_table()
    for order in (["fast", "slow", "matched"], ["matched", "fast", "slow"]):
        drawn = [v for v in order if v in ("slow", "matched")]
        first, second = (plots.widths(epochs, "val_accuracy", order)[v] for v in drawn)
        assert first > second  # the one drawn first (under) is wider: it shows at the edges of the one on top
        assert plots.widths(epochs, "val_accuracy", order)["fast"] == plots.WIDTH
    look = plots.styles(["fast", "slow", "matched"])
    assert look["slow"]["color"] != look["matched"]["color"] and look["slow"]["dashes"] != look["matched"]["dashes"]


def test_mean_lines_are_drawn_with_the_widths_that_keep_twins_visible():
    epochs = twins_table()
    ax = plots.learning_curves(epochs, metrics=("val_accuracy",), variants=["fast", "slow", "matched"]).axes[0]
    widths = sorted(round(line.get_linewidth(), 2) for line in plots.mean_lines(ax) if len(line.get_xdata()) == 3)
    assert widths == sorted([plots.WIDTH, plots.TWIN_WIDTHS[0], plots.TWIN_WIDTHS[1]])


def test_two_seeds_draw_each_seed_and_no_band_three_draw_the_band():
    two = plots.learning_curves(twins_table(), metrics=("val_accuracy",)).axes[0]
    assert not two.collections  # no t-band with df = 1 (decisions.MIN_SEEDS_FOR_BAND)
    assert len([line for line in two.get_lines() if line.get_gid() == "seed"]) == 3 * 2  # each seed its line
    three = plots.learning_curves(twins_table((0, 1, 2)), metrics=("val_accuracy",)).axes[0]
    assert three.collections and not [line for line in three.get_lines() if line.get_gid() == "seed"]


def test_paired_differences_are_drawn_seed_by_seed():
    epochs = twins_table()
    epochs.loc[(epochs["variant"] == "matched") & (epochs["seed"] == 1), "val_accuracy"] += 0.004
    fig = plots.paired_difference(epochs, [("matched", "slow")])
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 3]
    # matched - slow, in points: seed 0 0, 0.2, 0.1; seed 1 0.4 more at every epoch
    assert [list(np.round(line.get_ydata(), 6)) for line in lines] == [[0.0, 0.2, 0.1], [0.4, 0.6, 0.5]]
    assert not fig.axes[0].collections  # two seeds: no band
    three = plots.paired_difference(twins_table((0, 1, 2)), [("matched", "slow")])
    assert three.axes[0].collections  # three paired seeds: the mean's band
    assert plots.paired_difference(epochs, [("matched", "absent")]) is None
    from lossbench.alt import alt_text

    assert "matched − slow at epoch 2: seed 0 +0.10, seed 1 +0.50" in alt_text(fig)


def test_every_figure_has_alt_text_with_what_it_plots(epochs, runs, predictions):
    from lossbench.alt import alt_text

    text = alt_text(plots.learning_curves(epochs))
    assert text.startswith("Learning curves of 2 variants (2 seeds each; mean bold, each seed a thin line, no band). "
                           "Validation accuracy at epoch 2, mean over seeds: ce 0.5, mse 0.5.")
    assert "validation accuracy against epoch" in text and "Legend: ce, mse" in text
    for fig in (plots.final_accuracy(runs), plots.timing(runs), plots.confusion_matrix(predictions),
                plots.confidence_histogram(predictions)):
        assert len(alt_text(fig)) > 20


def test_paired_final_differences_from_the_reference_per_seed(runs):
    from lossbench.alt import alt_text

    fig = plots.paired_final(runs, "ce")
    xs = sorted(round(float(line.get_xdata()[0]), 6) for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 1)
    assert xs == [-76.0, -70.0]  # mse - ce on seed 0 (0.2 - 0.9) and seed 1 (0.15 - 0.91), in points
    assert "mse -76.00 to -70.00" in alt_text(fig)
    assert plots.paired_final(runs, "absent") is None


def test_the_key_figure_says_how_it_draws_the_seeds(tmp_path):
    from lossbench import keyfigure, tables
    from lossbench.alt import alt_text

    for seeds, drawn in (((0, 1), "mean over seeds bold, each seed a thin line"),
                         ((0, 1, 2), "mean over seeds, 95% band")):
        epochs = twins_table(seeds).assign(loss="cross_entropy")
        tables.write_gathered({"epochs": epochs}, tmp_path)
        fig = keyfigure.draw(tmp_path)
        assert fig._suptitle.get_text() == f"3 variants, {len(seeds)} seeds each, 2 epochs: {drawn}"
        assert "Validation accuracy at epoch 2, mean over seeds: fast 0.9" in alt_text(fig)
