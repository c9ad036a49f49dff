"""Report pages rendered on the tables of tiny real runs (trained here on synthetic data): one render
per page (the comparison page renders in tests/test_notebooks.py, through papermill's command line).
What each page says is checked on its records and golden words (tests/test_comparison.py,
tests/test_why.py, tests/test_variant_page.py); here, that each page runs end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lossbench import report
from scenarios import gathered, scenario

NOTEBOOKS = Path(__file__).resolve().parents[1] / "reports" / "notebooks"


@pytest.fixture(scope="module")
def tiny_tables(tmp_path_factory):
    """The default scenario's runs (tests/scenarios.py) gathered as gather writes them, and its data."""
    import torch

    from helpers import synthetic_data

    root = tmp_path_factory.mktemp("pages")
    torch.save(synthetic_data(), root / "data.pt")
    s = scenario("default")
    return {**gathered(s, root / "tables"), "root": root, "runs": Path(s.metrics[""][0]).parents[2]}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


PLACEHOLDER = "No description has been provided"  # nbconvert's alt for an image without one


def assert_alt_text(html: str) -> None:
    """Every image of a rendered page has its own computed alt text (lossbench.alt), never nbconvert's
    placeholder nor alt's fallback for a figure that says nothing."""
    images = re.findall(r"<img\b[^>]*>", html)
    assert PLACEHOLDER not in html
    for image in images:
        alt = re.search(r'\balt="([^"]*)"', image)
        assert alt and len(alt[1].strip()) > 40 and "no labelled panel" not in alt[1], image[:200]


def render(notebook: str, out: Path, parameters: dict) -> str:
    report.render(NOTEBOOKS / notebook, out, parameters, parameters["title"])
    html = out.read_text()
    assert_alt_text(html)
    page = text_of(html)
    assert "nan" not in re.findall(r"\bnan\b", page.lower()) and "Traceback" not in page
    return page


def test_why_page_renders_its_measurements(tiny_tables, tmp_path):
    tables_ = {k: v for k, v in tiny_tables.items() if k.endswith("_csv") and not k.endswith("_summary_csv")}
    page = render("why_mse.py", tmp_path / "why.html", {**tables_, "title": "Why", "reference": "cross_entropy",
                                                         "reference_loss": "", "slow_loss": "mse_softmax",
                                                         "lr_study_reference": "cross_entropy", "plateau_window": 2})
    assert re.search(r"ratio of the losses mse_softmax / cross_entropy is 0\.0[12]\d\d", page), page[:3000]
    assert "declared in the registry" in page and "Every layer's weight gradient at initialisation (epoch 0" in page
    assert re.search(r"mse_softmax_lr5 \(\s?mse_softmax at lr 5 instead of 0\.1\): at lr 5 ", page)
    assert "Slow or stuck" in page and "Learning rate" in page  # the horizon's and the study's sections
    assert "beats" not in page and "what slows it here" not in page


def test_comparison_page_renders_with_alt_text_on_every_figure(tiny_tables, tmp_path):
    page = render("comparison.py", tmp_path / "comparison.html", {
        "title": "Comparison", "reference": "cross_entropy", "runs_csv": tiny_tables["runs_csv"],
        "epochs_csv": tiny_tables["epochs_csv"], "summary_csv": tiny_tables["summary_csv"]})
    assert "Learning curves" in page
    assert (tmp_path / "comparison.html").read_text().count("<img") >= 3  # curves, seeds, timing


def test_variant_page_renders_the_median_seed(tiny_tables, tmp_path):
    page = render("variant.py", tmp_path / "variant.html", {
        "title": "cross_entropy", "variant": "cross_entropy", "runs_csv": tiny_tables["runs_csv"],
        "epochs_csv": tiny_tables["epochs_csv"], "data_pt": str(tiny_tables["root"] / "data.pt")})
    assert "lr 0.1, batch 25, 3 epochs, 3 seeds: test accuracy" in page and "Test set of seed" in page


def test_reproducibility_page_renders_the_provenance(tiny_tables, tmp_path):
    root = tiny_tables["root"]
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"dataset": "mnist", "n_train": 300, "n_test": 100, "source": "synthetic",
                                    "files_sha256": {"data.pt": "0" * 64}}))
    page = render("reproducibility.py", tmp_path / "repro.html", {
        "title": "Reproducibility", "runs_csv": tiny_tables["runs_csv"], "manifest_json": str(manifest),
        "metrics_json": str(tiny_tables["runs"] / "cross_entropy" / "seed-0" / "metrics.json"),
        "config": {"dataset": "mnist"}, "snakemake_version": "9"})
    assert "git commit(s):" in page and "snakemake --cores 8" in page
