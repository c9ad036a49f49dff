"""The "Learning rate" page and the why page's line on the study, executed on the tables of a tiny real
study (trained here on synthetic data, gathered with the prefix lr_study_ as the workflow does)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lossbench import report, tables
from lossbench.config import TrainConfig
from lossbench.train import train

NOTEBOOKS = Path(__file__).resolve().parents[1] / "reports" / "notebooks"
BIN = Path(sys.executable).parent
LRS = (0.5, 5.0, 50.0)  # on the synthetic digits: cross-entropy learns at 0.5; mse_softmax needs the larger ones


@pytest.fixture(scope="module")
def study_tables(tmp_path_factory):
    """A two-loss, three-lr, two-seed study of 2 epochs; the lr 0.5 runs are the sweep's, named as the
    sweep names them (a point the sweep trained is read from its run folder)."""
    from helpers import synthetic_data

    root = tmp_path_factory.mktemp("lrstudy")
    data = synthetic_data()
    sweep, study = [], []
    for loss in ("cross_entropy", "mse_softmax"):
        for lr in LRS:
            variant = loss if lr == LRS[0] else f"{loss}_lr{lr:g}"
            for seed in (0, 1):
                out = root / "runs" / variant / f"seed-{seed}"
                train(TrainConfig(variant=variant, loss=loss, seed=seed, train_size=200, val_size=50, hidden=(32, 16),
                                  lr=lr, batch_size=25, epochs=2), data, out_dir=out)
                study.append(out / "metrics.json")
                if lr == LRS[0]:
                    sweep.append(out / "metrics.json")
    tables.write_tables(sweep, root / "tables")
    tables.write_tables(study, root / "tables", prefix="lr_study_")
    return root / "tables"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_learning_rate_page_runs_through_lossbench_report(study_tables, tmp_path):
    out = tmp_path / "learning-rate.html"
    parameters = {f"lr_study_{name}_csv": str(study_tables / f"lr_study_{name}.csv")
                  for name in ("runs", "epochs", "summary")}
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(BIN / "lossbench"), "report", "--notebook", str(NOTEBOOKS / "learning_rate.py"),
                           "--out", str(out), "--title", "Learning rate", "--parameters", json.dumps(parameters)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]  # a cell that raises fails the command
    html = out.read_text()
    page = text_of(html)
    for heading in ("What the study says", "Accuracy against the learning rate", "Against the effective learning rate",
                    "Best learning rate per loss", "Saturation at large learning rates", "Every point of the grid"):
        assert heading in page
    assert not re.search(r"\bnan\b", page, re.I), page[page.lower().find("nan") - 300:][:600]
    assert "cross_entropy" in page and "mse_softmax" in page and "best lr" in page
    assert 'href="why-mse.html"' in html
    assert html.count("<img") == 3  # accuracy against lr, against the effective lr (two panels), saturation
    assert "95% t-interval" in page


def test_the_page_says_what_it_cannot_compute_without_the_reference_loss(study_tables, tmp_path):
    out = tmp_path / "learning-rate.html"
    report.render(NOTEBOOKS / "learning_rate.py", out,
                  {"title": "Learning rate", "reference_loss": "mse_logits",
                   **{f"lr_study_{name}_csv": str(study_tables / f"lr_study_{name}.csv")
                      for name in ("runs", "epochs", "summary")}}, "Learning rate")
    page = text_of(out.read_text())
    assert "The reference mse_logits is not in the study" in page
    assert "No effective lr: the reference mse_logits has no runs in the study" in page
    assert not re.search(r"\bnan\b", page, re.I)


@pytest.mark.parametrize("with_study", [False, True])
def test_the_why_page_cites_the_study_only_when_it_is_there(study_tables, tmp_path, with_study):
    out = tmp_path / "why.html"
    parameters = {"title": "Why", **{f"{name}_csv": str(study_tables / f"{name}.csv")
                                     for name in ("runs", "epochs", "summary")}}
    if with_study:
        parameters |= {f"lr_study_{name}_csv": str(study_tables / f"lr_study_{name}.csv")
                       for name in ("runs", "epochs")}
    report.render(NOTEBOOKS / "why_mse.py", out, parameters, "Why")
    html = out.read_text()
    page = text_of(html)
    assert ("The learning-rate study" in page) == with_study
    assert ('href="learning-rate.html"' in html) == with_study
    if with_study:
        assert re.search(r"Tuned, mse_softmax (matches|beats|falls short of|against) cross_entropy", page), page[
            page.find("The learning-rate study"):][:800]
