"""The "Learning rate" page rendered end to end (``lossbench report``) on the default scenario's gathered
tables (tests/scenarios.py: a tiny real study, three losses over four lrs, two seeds): one render smoke
test; the page's words are golden files (test_lrstudy_words.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from scenarios import gathered, scenario

NOTEBOOKS = Path(__file__).resolve().parents[1] / "reports" / "notebooks"
BIN = Path(sys.executable).parent


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_learning_rate_page_runs_through_lossbench_report(tmp_path):
    s = scenario("default")
    tables = gathered(s, tmp_path / "tables")
    parameters = {name: tables[name] for name in ("lr_study_runs_csv", "lr_study_epochs_csv", "lr_study_summary_csv")}
    parameters |= {"reference_loss": s.lr_study_reference, "slow_loss": s.slow_loss,
                   "threshold": s.lr_study_threshold, "classes": s.classes}
    out = tmp_path / "learning-rate.html"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(BIN / "lossbench"), "report", "--notebook", str(NOTEBOOKS / "learning_rate.py"),
                           "--out", str(out), "--title", "Learning rate", "--parameters", json.dumps(parameters)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]  # a cell that raises fails the command
    html = out.read_text()
    page = text_of(html)
    for heading in ("What the study says", "Accuracy against the learning rate", "Against the effective learning rate",
                    "Selected learning rate per loss", "The threshold-lr ratio over thresholds and seeds",
                    "Saturation at large learning rates", "Every point of the grid"):
        assert heading in page
    assert not re.search(r"\b(nan|inf)\b", page, re.I)
    assert "selected lr" in page and not re.search(r"\b(best|beats|detected)\b", page)  # two seeds: no ranking
    assert 'href="why-mse.html"' in html
    # accuracy against lr, against the effective lr (two panels), saturation, and the threshold-lr ratio against the
    # threshold of mse_softmax and mse_logits (each has a ratio or a bound at some threshold in this scenario)
    assert html.count("<img") == 5
    assert html.count('alt="The threshold-lr ratio of ') == 2  # each sweep figure with its alt text
    from test_pages import assert_alt_text

    assert_alt_text(html)
