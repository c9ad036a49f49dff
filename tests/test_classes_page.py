"""The "Number of classes" page rendered end to end (``lossbench report``) on constructed tables written as
gather writes them (tests/test_classes.py's issue-22 scenario): one render smoke test, and the page with the
study off. The page's words are golden files (test_classes_words.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import test_classes as t
from lossbench.tables import write_gathered

NOTEBOOKS = Path(__file__).resolve().parents[1] / "reports" / "notebooks"
BIN = Path(sys.executable).parent


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def render(tmp_path: Path, parameters: dict) -> str:
    out = tmp_path / "classes.html"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(BIN / "lossbench"), "report", "--notebook", str(NOTEBOOKS / "classes.py"),
                           "--out", str(out), "--title", "Number of classes", "--parameters", json.dumps(parameters)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]  # a cell that raises fails the command
    return out.read_text()


def test_the_number_of_classes_page_runs_through_lossbench_report(tmp_path):
    runs, epochs = t.tables(t.spec(t.ISSUE))
    folder = tmp_path / "tables"
    write_gathered({"runs": runs, "epochs": epochs}, folder, prefix="classes_study_")
    html = render(tmp_path, {"classes_study_runs_csv": str(folder / "classes_study_runs.csv"),
                             "classes_study_epochs_csv": str(folder / "classes_study_epochs.csv"),
                             "reference_loss": "cross_entropy", "slow_loss": "mse_softmax", "threshold": 0.5})
    page = text_of(html)
    for heading in ("The ratio against the number of classes", "The curves the thresholds are read from",
                    "How it is measured", "Per number of classes"):
        assert heading in page
    assert "stops holding from C = 5" in page  # the answer opens the page
    assert not re.search(r"\b(nan|inf)\b", page, re.I)
    assert not re.search(r"\b(best|beats|detected)\b", page)  # two seeds: no ranking
    assert html.count("<img") == 2 and "No description has been provided" not in html
    img = re.search(r"<img [^>]+>", html).group(0)  # nbconvert may reorder the attributes
    assert 'alt="Log-log plot of the threshold-lr ratio to cross_entropy' in img
    assert 'src="data:image/png;base64,' in img
    assert 'href="why-mse.html"' in html


def test_the_page_with_the_study_off_says_so(tmp_path):
    html = render(tmp_path, {"classes_study_runs_csv": "", "classes_study_epochs_csv": ""})
    assert "No number-of-classes study in these tables" in text_of(html) and "<img" not in html
