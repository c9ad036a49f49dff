"""The "Number of classes" figure (lossbench.classes_figures), drawn from records of constructed tables
(tests/test_classes.py), and the image it puts on the page with its alt text."""

from __future__ import annotations

import base64
import re

import matplotlib
import matplotlib.pyplot as plt
import pytest

import test_classes as t
from lossbench import classes
from lossbench import classes_figures as figures
from lossbench import classes_words as words
from test_classes_words import below_grid


@pytest.fixture(autouse=True)
def agg():
    matplotlib.use("Agg")
    yield
    plt.close("all")


def test_the_figure_draws_every_seed_and_every_bound():
    study = t.study(below_grid())
    fig = figures.ratio_figure(study)
    left, right = fig.axes
    assert left.get_xscale() == right.get_xscale() == "log" and left.get_yscale() == "log"
    dots = [line for line in left.lines if line.get_linestyle() == "None" and line.get_marker() == "o"]
    bounds = [line for line in left.lines if line.get_marker() == "^"]
    assert len(dots) == 7 and len(bounds) == 1  # 8 seed ratios, one of them a bound
    assert bounds[0].get_ydata()[0] == pytest.approx(100)
    assert sum(1 for line in right.lines if line.get_linestyle() == "None") == 8  # every initial gradient ratio
    assert fig.legends and left.get_legend() is None  # the legend sits outside the panels


def test_nothing_to_draw_draws_nothing():
    assert figures.ratio_figure(classes.analyse(*classes.load("", ""), "cross_entropy", "mse_softmax", 0.5)) is None
    # every threshold outside both grids on the same side: no ratio and no bound
    thresholds = {(2, "cross_entropy"): (1e-4,), (2, "mse_softmax"): (1e-4,)}
    study = t.study(thresholds)
    assert figures.ratio_figure(study) is None and not words.drawable(study)


def test_the_image_carries_its_alt_text():
    study = t.study(t.spec(t.ISSUE))
    alt = words.ratio_alt(study)
    img = figures.img_html(figures.ratio_figure(study), alt)
    assert re.fullmatch(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="[^"]+">', img)
    assert base64.b64decode(img.split(",", 1)[1].split('"')[0])[:4] == b"\x89PNG"
    assert "59.7, 150 against 50 predicted" in alt and "No description" not in img


def test_the_curves_draw_one_panel_per_c_and_one_line_per_seed():
    study = t.study(below_grid())
    fig = figures.curves_figure(study)
    assert [ax.get_title() for ax in fig.axes] == ["C = 2", "C = 3", "C = 5", "C = 10"]
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_ylim() == (0.0, 1.0)
        assert sum(1 for line in ax.lines if len(line.get_xdata()) == 10) == 4  # 2 losses x 2 seeds, 10 lrs each
    # 15 thresholds inside their grids (16 seeds, one below its grid): one bar each
    bars = [line for ax in fig.axes for line in ax.lines if len(line.get_xdata()) == 2 and line.get_linewidth() == 2]
    assert len(bars) == 15
    assert figures.curves_figure(classes.analyse(*classes.load("", ""), "cross_entropy", "mse_softmax", 0.5)) is None
