"""The report pages work with papermill's own command line, as docs/by-hand.md's "Running a page by hand
with papermill" shows: jupytext converts a page, `papermill --help-notebook` lists its parameters
and `papermill` runs it with -p values and no -k/--language (the kernel and language come from the
page's jupytext header)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from helpers import write_run_record
from lossbench import tables

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOKS = sorted((ROOT / "reports" / "notebooks").glob("*.py"))


def run(*cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command from the venv's bin, as a user with the environment activated runs it."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return out


def to_ipynb(source: Path, tmp_path: Path) -> Path:
    """`jupytext --to ipynb`, as in docs/by-hand.md."""
    target = tmp_path / f"{source.stem}.ipynb"
    run("jupytext", "--to", "ipynb", str(source), "-o", str(target), cwd=tmp_path)
    return target


def declared_parameters(source: Path) -> list[str]:
    """The names the page's cell tagged `parameters` assigns, in order."""
    cells = [c for c in jupytext.read(source).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{source.name}: one cell tagged parameters"
    tree = ast.parse(cells[0].source)
    return [target.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])]


def test_there_are_pages():
    assert {p.stem for p in NOTEBOOKS} >= {"comparison", "why_mse", "variant", "reproducibility"}


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_help_lists_the_page_parameters(source, tmp_path):
    notebook = to_ipynb(source, tmp_path)
    metadata = json.loads(notebook.read_text())["metadata"]
    assert metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert metadata["language_info"]["name"] == "python"

    out = run("papermill", "--help-notebook", str(notebook), cwd=tmp_path)
    listed = re.findall(r"^  (\w+): ", out.stdout.split("Parameters inferred for notebook")[1], re.M)
    assert listed == declared_parameters(source) and listed


def test_papermill_cli_runs_a_page_without_kernel_flags(tmp_path):
    runs = tmp_path / "runs"
    metrics = [write_run_record(runs, variant, seed, accuracy + 0.01 * seed, [0.1, accuracy - 0.1, accuracy])
               for variant, accuracy in [("cross_entropy", 0.9), ("mse_softmax", 0.2), ("mse_logits", 0.7)]
               for seed in range(3)]
    tables.write_tables(metrics, tmp_path / "tables")
    notebook = to_ipynb(ROOT / "reports" / "notebooks" / "comparison.py", tmp_path)

    run("papermill", str(notebook), "out.ipynb", "-p", "title", "Hand-run comparison",
        "-p", "runs_csv", "tables/runs.csv", "-p", "epochs_csv", "tables/epochs.csv",
        "-p", "summary_csv", "tables/summary.csv", "-p", "reference", "cross_entropy", cwd=tmp_path)

    executed = json.loads((tmp_path / "out.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"]["title"] == "Hand-run comparison"
    outputs = json.dumps([c.get("outputs", []) for c in executed["cells"]])
    assert "Hand-run comparison" in outputs and "mse_softmax" in outputs
    assert '"output_type": "error"' not in outputs
