"""The command line: a user's mistake is one error line and exit 1; a bug keeps its traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import ROOT
from lossbench import cli, tables

NOTEBOOK = ROOT / "reports" / "notebooks" / "comparison.py"


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lossbench.cli", *argv], capture_output=True, text=True)


@pytest.mark.parametrize("argv, message", [
    (["train", "--variant", "v", "--loss", "cross_entropy", "--seed", "0", "--data", "/nonexistent/data.pt",
      "--out-dir", "OUT"], "/nonexistent/data.pt: data file not found"),
    (["report", "--notebook", str(NOTEBOOK), "--out", "o.html", "--title", "t", "--parameters", "{not json"],
     "--parameters: expected JSON"),
    (["compare", "/nonexistent/a", "/nonexistent/b"], "not a finished run folder"),
    (["data", "--dataset", "kmnist", "--out", "OUT"], "unknown dataset 'kmnist'"),
])
def test_a_users_mistake_is_one_error_line(tmp_path, argv, message):
    out = subprocess.run([sys.executable, "-m", "lossbench.cli", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1
    assert message in out.stderr and "ERROR" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "OUT").exists()


def test_an_unknown_loss_is_a_users_mistake(tiny_data, tmp_path):
    import torch

    torch.save(tiny_data, tmp_path / "data.pt")
    out = run_cli("train", "--variant", "v", "--loss", "hinge", "--seed", "0", "--train-size", "200", "--val-size",
                  "50", "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "run"))
    assert out.returncode == 1 and "unknown loss 'hinge'" in out.stderr and "Traceback" not in out.stderr


def test_a_bug_shows_its_traceback(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise KeyError("a bug, not a user's mistake")

    monkeypatch.setattr(tables, "write_tables", broken)
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["gather", "--runs", str(tmp_path / "metrics.json"), "--out-dir", str(tmp_path)])
