"""Fault rows for the report under degenerate results (issue 12, section 5), injected for real.

Each row builds the tables of tiny real runs (trained here on synthetic data; a diverged run is
trained at an absurd learning rate), renders the real notebooks of reports/notebooks/ with
``lossbench.report.render`` and reads the page as a reader would. Every page is also checked for
what must never be on one: Python warning text, a traceback, "nan"/"inf", or an accuracy
interval outside [0, 1]. The runs are trained once for the module.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest

from lossbench import report, tables
from lossbench.config import TrainConfig
from lossbench.train import train

NOTEBOOKS = Path(__file__).resolve().parents[1] / "reports" / "notebooks"
# variant: (loss, lr); "boom" diverges on every seed, "wobbly" on seed 1 only (checked by the fixture)
VARIANTS = {"cross_entropy": ("cross_entropy", 0.5), "mse_softmax": ("mse_softmax", 0.5),
            "boom": ("cross_entropy", 1e30), "wobbly": ("cross_entropy", 1000.0)}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Run folders for every variant and seeds 0 and 1, and the data they were trained on."""
    import torch

    from helpers import synthetic_data

    root = tmp_path_factory.mktemp("degenerate")
    data = synthetic_data()
    torch.save(data, root / "data.pt")
    for variant, (loss, lr) in VARIANTS.items():
        for seed in (0, 1):
            train(TrainConfig(variant=variant, loss=loss, seed=seed, train_size=200, val_size=50, hidden=(32, 16),
                              lr=lr, batch_size=25, epochs=1), data, out_dir=root / "runs" / variant / f"seed-{seed}")
    status = {(v, s): json.loads((root / "runs" / v / f"seed-{s}" / "metrics.json").read_text())["status"]
              for v in VARIANTS for s in (0, 1)}
    assert status[("boom", 0)] == status[("boom", 1)] == "diverged", status
    assert (status[("wobbly", 0)], status[("wobbly", 1)]) == ("ok", "diverged"), \
        f"pick another lr for 'wobbly' that diverges on seed 1 only: {status}"
    return root


def tables_of(sweep: Path, tmp: Path, variants, seeds=(0, 1)) -> dict:
    paths = [sweep / "runs" / v / f"seed-{s}" / "metrics.json" for v in variants for s in seeds]
    tables.write_tables(paths, tmp / "tables")
    return {f"{name}_csv": str(tmp / "tables" / f"{name}.csv") for name in ("runs", "epochs", "summary")}


def text_of(page_html: str) -> str:
    page_html = re.sub(r"<(style|script)\b.*?</\1>", " ", page_html, flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_html))
    return re.sub(r" ([,;:)])", r"\1", text)  # "`a`, b" renders as "<code>a</code>, b": no space before ","


def assert_readable(text: str) -> None:
    """What never belongs on a page, whatever the results."""
    for bad in (r"Warning", r"Traceback", r"\bnan\b", r"\bNaN\b", r"\binf\b", r"Error\b"):
        found = re.search(bad, text)
        assert found is None, f"{bad!r} on the page: …{text[max(0, found.start() - 200):found.end() + 200]}…"
    for low, high in re.findall(r"(-?\d\.\d{4})–(-?\d\.\d{4})", text):
        assert 0 <= float(low) <= float(high) <= 1, f"accuracy interval {low}–{high} outside [0, 1]"


def page(sweep: Path, tmp: Path, name: str, variants, seeds=(0, 1), reference: str = "cross_entropy",
         variant: str | None = None) -> str:
    """Render one real page on the tables of ``variants`` x ``seeds``; its text, checked readable."""
    t = tables_of(sweep, tmp, variants, seeds)
    params = {"comparison": {**t, "reference": reference},
              "why_mse": {**t, "reference": reference, "slow_loss": "mse_softmax"},
              "variant": {"runs_csv": t["runs_csv"], "epochs_csv": t["epochs_csv"], "variant": variant,
                          "data_pt": str(sweep / "data.pt"), "classes": list("0123456789")}}[name]
    out = tmp / f"{name}.html"
    report.render(NOTEBOOKS / f"{name}.py", out, {**params, "title": name}, name, executed=tmp / f"{name}.ipynb")
    text = text_of(out.read_text())
    assert_readable(text)
    return text


ROWS = {
    # name: (variants, seeds, reference, {page: sentences that must be on it}); every row but "one seed"
    # has two seeds per variant
    "one seed": (["cross_entropy", "mse_softmax"], (0,), "cross_entropy", {
        "comparison": ["One seed per variant: no interval and no test",
                       "mse_softmax vs cross_entropy: not tested: mse_softmax and cross_entropy have one run",
                       "One seed per variant: each line is that run, with no band", "95% CI n/a (one run)"],
        "variant:cross_entropy": ["One seed only: one line per panel, no spread over seeds to show"],
    }),
    "two seeds": (["cross_entropy", "mse_softmax"], (0, 1), "cross_entropy", {
        "why_mse": ["ratio of the losses mse_softmax / cross_entropy is", "(mean of 2 seeds)",
                    "No band (with 2 seeds a 95% t-interval of the mean reaches 6.4 times the gap between them"],
    }),
    "one variant": (["cross_entropy"], (0, 1), "cross_entropy", {
        "comparison": ["One variant in this sweep, cross_entropy", "nothing to rank or test it against",
                       "Nothing to test: cross_entropy is the only variant in this sweep."],
        "why_mse": ["is not measured here: no variant trains mse_softmax", "cross_entropy is the only variant",
                    "Saturation is not read for mse_softmax: no variant trains it"],
    }),
    "variants whose every run or some runs diverged": (["cross_entropy", "boom", "wobbly"], (0, 1), "cross_entropy", {
        "comparison": ["Highest mean test accuracy: cross_entropy", "boom, wobbly not ranked (diverged runs)",
                       "boom vs cross_entropy: not judged: boom diverged in 2 of 2 runs",
                       "wobbly vs cross_entropy: not judged: wobbly diverged in 1 of 2 runs",
                       "boom ⚠ diverged: 2", "wobbly ⚠ diverged: 1"],
        "variant:boom": ["2 of 2 run(s) diverged", "Every run of this variant diverged"],
    }),
    "a variant page with some runs diverged": (["wobbly"], (0, 1), "wobbly", {
        "variant:wobbly": ["1 of 2 run(s) diverged", "Test set of seed 0", "among the runs that did not diverge"],
    }),
    "every variant diverged": (["boom", "wobbly"], (0, 1), "boom", {
        "comparison": ["No best variant: every variant has diverged runs, so none is ranked",
                       "wobbly vs boom: not judged: wobbly diverged in 1 of 2 runs and boom diverged in 2 of 2"],
    }),
    "no mse_softmax in the sweep": (["cross_entropy", "boom"], (0, 1), "cross_entropy", {
        "why_mse": ["The initial logit-gradient ratio mse_softmax / cross_entropy is not measured here: no variant "
                    "trains mse_softmax", "boom (loss cross_entropy, lr 1e+30): not compared with cross_entropy",
                    "Saturation is not read for mse_softmax: no variant trains it"],
    }),
    "reference: a diverged variant": (["cross_entropy", "mse_softmax", "boom"], (0, 1), "boom", {
        "comparison": ["cross_entropy vs boom: not judged: boom diverged in 2 of 2 runs",
                       "mse_softmax vs boom: not judged: boom diverged in 2 of 2 runs"],
        "why_mse": ["cross_entropy (loss cross_entropy, lr 0.5): not compared with boom, because boom diverged"],
    }),
}


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.replace(" ", "-").replace(":", ""))
def test_the_report_stays_true_and_readable(sweep, tmp_path, row):
    variants, seeds, reference, expected = ROWS[row]
    for target, sentences in expected.items():
        name, _, variant = target.partition(":")
        text = page(sweep, tmp_path / target.replace(":", "-"), name, variants, seeds, reference, variant or None)
        for sentence in sentences:
            assert sentence in text, f"{row}, {target}: {sentence!r} missing from …{text[:4000]}"
        for diverged in ("boom", "wobbly"):  # never best, never equal to anything
            assert f"mean test accuracy: {diverged}" not in text
            assert not re.search(rf"{diverged} \(loss [^)]*\) matches", text)
            assert not re.search(rf"{diverged} vs \S+: no detectable difference", text)


def test_reference_mse_softmax_renders_the_why_page_and_the_index(sweep, tmp_path):
    """Issue 12's example: `reference: mse_softmax` crashed the why page, and so no index was built."""
    text = page(sweep, tmp_path, "why_mse", ["cross_entropy", "mse_softmax", "boom"], (0, 1), "mse_softmax")
    assert "ratio of the losses mse_softmax / cross_entropy is" in text
    assert "cross_entropy (loss cross_entropy, lr 0.5): " in text and "test accuracy, against" in text
    assert " beats " not in text  # the why page ranks no ablation against the reference (issue 14)
    report.write_index(tmp_path / "index.html", "Degenerate", [{"href": "why_mse.html", "title": "Why"}],
                       tmp_path / "tables" / "summary.csv")
    assert_readable(text_of((tmp_path / "index.html").read_text()))


KERNEL_PROBE = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
title: str = "probe"

# %%
import os
import sys

print("kernel executable:", sys.executable, "| foreign kernel:", os.environ.get("FOREIGN_KERNEL", "no"))
"""


def test_pages_run_in_this_interpreter_whatever_python3_kernelspec_is_on_the_jupyter_path(tmp_path, monkeypatch):
    """A `python3` kernelspec earlier on the Jupyter path (another Python, here one that marks itself)
    is what jupyter_client would start; the pages still run in the interpreter that renders them."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = ["/bin/sh", "-c", 'FOREIGN_KERNEL=yes exec "$0" -m ipykernel_launcher -f "$1"', sys.executable,
            "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == "/bin/sh"  # the fault is in place
    source = tmp_path / "probe.py"
    source.write_text(KERNEL_PROBE)
    report.render(source, tmp_path / "probe.html", {"title": "probe"}, "probe")
    text = text_of((tmp_path / "probe.html").read_text())
    assert f"kernel executable: {sys.executable} | foreign kernel: no" in text


def test_how_to_rerun_gives_the_invocations_config_files_and_overrides(sweep, tmp_path):
    t = tables_of(sweep, tmp_path, ["cross_entropy"], (0,))
    out = tmp_path / "reproducibility.html"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"dataset": "mnist", "n_train": 300, "n_test": 100, "source": "synthetic",
                                    "files_sha256": {"train.gz": "0" * 64}}))
    report.render(NOTEBOOKS / "reproducibility.py", out, {
        "title": "Reproducibility", "runs_csv": t["runs_csv"], "manifest_json": str(manifest),
        "metrics_json": str(sweep / "runs" / "cross_entropy" / "seed-0" / "metrics.json"),
        "config": {"dataset": "mnist", "reference": "cross_entropy"}, "snakemake_version": "9.27.1",
        "configfiles": ["configs/small run.yaml"], "overrides": {"reference": "cross_entropy", "seeds": [0]},
    }, "Reproducibility")
    assert_readable(text_of(out.read_text()))
    code = html.unescape(re.sub(r"<[^>]+>", "", out.read_text()))  # the highlighted block, as copied
    assert "snakemake --cores 8 --configfile 'configs/small run.yaml' --config reference=cross_entropy " \
           "'seeds=[0]'\n" in code
