"""Report pages rendered on the tables of tiny real runs (trained here on synthetic data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lossbench import report, tables
from lossbench.config import TrainConfig
from lossbench.train import train

NOTEBOOKS = Path(__file__).resolve().parents[1] / "reports" / "notebooks"
VARIANTS = {"cross_entropy": ("cross_entropy", 0.5), "mse_softmax": ("mse_softmax", 0.5),
            "mse_softmax_lr5": ("mse_softmax", 5.0)}


@pytest.fixture(scope="module")
def tiny_tables(tmp_path_factory):
    from helpers import synthetic_data

    root = tmp_path_factory.mktemp("pages")
    data = synthetic_data()
    paths = []
    for variant, (loss, lr) in VARIANTS.items():
        for seed in (0, 1):
            out = root / "runs" / variant / f"seed-{seed}"
            train(TrainConfig(variant=variant, loss=loss, seed=seed, train_size=200, val_size=50, hidden=(32, 16),
                              lr=lr, batch_size=25, epochs=1), data, out_dir=out)
            paths.append(out / "metrics.json")
    tables.write_tables(paths, root / "tables")
    return {f"{name}_csv": str(root / "tables" / f"{name}.csv") for name in ("runs", "epochs", "summary")}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("reference", ["cross_entropy", "mse_softmax_lr5"])
def test_why_page_measures_the_gradient_ratio_whatever_the_reference_is_called(tiny_tables, tmp_path, reference):
    out = tmp_path / "why.html"
    report.render(NOTEBOOKS / "why_mse.py", out, {**tiny_tables, "title": "Why", "reference": reference,
                                                   "slow_loss": "mse_softmax"}, "Why")
    page = text_of(out.read_text())
    assert "measured logit-gradient ratio of the losses mse_softmax / cross_entropy is" in page
    assert re.search(r"ratio of the losses mse_softmax / cross_entropy is 0\.0[12]\d\d", page), page[:3000]
    assert "beats" not in page and "trails" not in page and "what slows it here" not in page
    if reference == "cross_entropy":  # the lr-scaled ablation: worded as what it shows, against its own loss
        assert re.search(r"mse_softmax_lr5 \(\s?mse_softmax at lr 5 instead of 0\.5\): at lr 5 (it recovers|it reaches|"
                         r"no detectable change)", page), page[page.find("What the measurements say"):][:3000]
        assert "Every layer's weight gradient at initialisation (epoch 0" in page  # measured, not NaN


def test_why_page_says_so_when_the_slow_loss_is_not_trained(tiny_tables, tmp_path):
    out = tmp_path / "why.html"
    report.render(NOTEBOOKS / "why_mse.py", out, {**tiny_tables, "title": "Why", "reference": "cross_entropy",
                                                   "slow_loss": "mse_logits"}, "Why")
    assert "is not measured here: no variant trains mse_logits" in text_of(out.read_text())
