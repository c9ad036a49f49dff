"""Each plotting function returns a figure with content."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from lossbench import plots


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
    ax = plots.timing(runs).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["wall", "process CPU"]
    widths = sorted(round(p.get_width(), 3) for p in ax.patches if p.get_width() > 0)
    assert widths == [1.05, 1.25, 5.1, 5.2]  # medians per variant and measure
    assert plots.timing(runs.drop(columns="train_cpu_seconds")).axes[0].get_legend().get_texts()[0].get_text() == "wall"


def test_a_share_axis_starts_at_zero_even_when_every_value_is_zero():
    epochs = pd.DataFrame([{"variant": "v", "seed": s, "epoch": e, "val_confident_wrong": 0.0, "val_mean_max_prob": 0.1}
                           for s in range(2) for e in range(2)])
    ax = plots.saturation(epochs).axes[1]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > 0
