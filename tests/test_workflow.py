"""End to end: Snakemake on the tiny config (2 variants x 2 seeds x 1 epoch) into a temp dir."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT

BIN = str(Path(sys.executable).parent)


def snakemake(workdir: Path, *args: str, config: Path | None = None, check: bool = True, env: dict | None = None):
    cmd = [f"{BIN}/snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    if config:
        cmd += ["--configfile", str(config)]
    environ = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}
    out = subprocess.run(cmd, capture_output=True, text=True, env=environ)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def planned_jobs(output: str) -> dict[str, int]:
    """Job counts from a dry run's 'Job stats' table."""
    stats = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, real_mirror):
    workdir = tmp_path_factory.mktemp("workflow")
    config = workdir / "config.yaml"
    shutil.copy(ROOT / "tests" / "workflow" / "config.yaml", config)
    snakemake(workdir, config=config, env={"LOSSBENCH_DATA_MIRROR": str(real_mirror)})
    return workdir, config


@pytest.mark.slow
def test_tiny_workflow_writes_the_tables(tiny_run):
    workdir, _ = tiny_run
    runs = pd.read_csv(workdir / "results" / "tables" / "runs.csv")
    epochs = pd.read_csv(workdir / "results" / "tables" / "epochs.csv")
    summary = pd.read_csv(workdir / "results" / "tables" / "summary.csv")
    assert sorted(zip(runs["variant"], runs["seed"])) == [
        ("cross_entropy", 0), ("cross_entropy", 1), ("mse_softmax_lr5", 0), ("mse_softmax_lr5", 1)]
    assert (runs["status"] == "ok").all() and runs["test_accuracy"].between(0.3, 1).all()
    assert len(epochs) == 4 * 2 and set(epochs["epoch"]) == {0, 1}
    assert list(summary["variant"]) == ["cross_entropy", "mse_softmax_lr5"] and (summary["n"] == 2).all()
    assert set(summary["lr"]) == {0.1, 5.0}
    for variant, seed in zip(runs["variant"], runs["seed"]):
        run = workdir / "results" / "runs" / variant / f"seed-{seed}"
        assert {p.name for p in run.iterdir()} == {"metrics.json", "history.csv", "model.pt", "predictions.csv"}
        data_sha = json.loads((run / "metrics.json").read_text())["provenance"]["data_sha256"]
        assert data_sha["train-images-idx3-ubyte.gz"] == "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        assert len(data_sha["data.pt"]) == 64
        assert "epoch  1/1" in (workdir / "logs" / "train" / variant / f"seed-{seed}.log").read_text()
        assert (workdir / "benchmarks" / "train" / variant / f"seed-{seed}.tsv").is_file()
    assert (workdir / "resources" / "data" / "mnist" / "manifest.json").is_file()


@pytest.mark.slow
def test_nothing_changed_runs_nothing_and_a_changed_lr_reruns_only_its_variant(tiny_run):
    workdir, config = tiny_run
    assert "Nothing to be done" in snakemake(workdir, "-n", config=config).stdout
    changed = yaml.safe_load(config.read_text())
    changed["variants"]["mse_softmax_lr5"]["lr"] = 4.0
    other = workdir / "changed.yaml"
    other.write_text(yaml.safe_dump(changed))
    out = snakemake(workdir, "-n", config=other).stdout
    assert planned_jobs(out) == {"train": 2, "gather": 1, "render_page": 3, "render_variant_page": 2,
                                 "render_index": 1, "all": 1}
    trained = set(re.findall(r"wildcards: variant=(\w+), seed=(\d+)", out))
    assert trained == {("mse_softmax_lr5", "0"), ("mse_softmax_lr5", "1")}


def test_default_config_plans_30_train_jobs_one_gather_and_the_report(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    out = snakemake(tmp_path, "-n", "--cores", "8").stdout
    assert planned_jobs(out) == {"prepare_data": 1, "train": 30, "gather": 1, "render_page": 3,
                                 "render_variant_page": 6, "render_index": 1, "all": 1}


def test_bad_config_stops_before_any_job_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("losses: [cross_entropy, hinge]\nvariants: {}\n")
    out = snakemake(tmp_path, "-n", config=bad, check=False)
    assert out.returncode != 0 and "losses[1]: unknown loss 'hinge'" in out.stderr + out.stdout
    assert not (tmp_path / "results").exists()


def test_workflow_lint_is_clean():
    out = subprocess.run([f"{BIN}/snakemake", "--lint", "--cores", "1"], cwd=ROOT, capture_output=True, text=True)
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr, out.stdout + out.stderr


def test_snakefmt_is_clean():
    out = subprocess.run([f"{BIN}/snakefmt", "--check", "workflow"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]


@pytest.mark.slow
def test_report_opens_offline_in_a_real_browser(tiny_run, tmp_path):
    """Headless Chromium from disk: every page reachable from the index, no failed or network
    requests, every image decoded, formulas present as MathML; a screenshot of each page."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium (.ci/run installs it)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    workdir, _ = tiny_run
    html_dir = workdir / "reports" / "html"
    shots = Path(os.environ.get("LOSSBENCH_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    failed, remote, seen = [], [], {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else remote.append(r.url))
        queue = ["index.html"]
        while queue:
            name = queue.pop(0)
            if name in seen:
                continue
            page.goto((html_dir / name).as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
            seen[name] = {
                "images": len(images), "broken": sum(1 for ok, w in images if not ok or w == 0),
                "math": page.evaluate("document.getElementsByTagName('math').length"),
            }
            page.screenshot(path=str(shots / f"{Path(name).stem}.png"), full_page=True)
            links = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
            queue += [h for h in links if h.endswith(".html") and "://" not in h]
        browser.close()
    on_disk = {p.name for p in html_dir.glob("*.html")}
    assert set(seen) == on_disk == {"index.html", "comparison.html", "why-mse.html", "reproducibility.html",
                                    "variant-cross_entropy.html", "variant-mse_softmax_lr5.html"}
    assert failed == [] and remote == []
    assert all(info["broken"] == 0 for info in seen.values()), seen
    assert seen["comparison.html"]["images"] >= 3 and seen["variant-cross_entropy.html"]["images"] >= 4
    assert seen["why-mse.html"]["math"] >= 5


@pytest.mark.slow
def test_snakemake_report_includes_the_pages(tiny_run):
    workdir, config = tiny_run
    snakemake(workdir, "--report", "report.html", config=config)
    assert (workdir / "report.html").stat().st_size > 50_000


@pytest.mark.slow
def test_works_without_activating_the_environment(tmp_path, real_mirror):
    """`.venv/bin/snakemake` alone: the rules still find the `lossbench` command beside it."""
    config = tmp_path / "config.yaml"
    shutil.copy(ROOT / "tests" / "workflow" / "config.yaml", config)
    snakemake(tmp_path, "resources/data/mnist/manifest.json", config=config,
              env={"PATH": "/usr/bin:/bin", "LOSSBENCH_DATA_MIRROR": str(real_mirror)})
    assert (tmp_path / "resources" / "data" / "mnist" / "data.pt").is_file()


@pytest.mark.slow
def test_a_diverging_variant_is_recorded_and_flagged_in_tables_and_report(tmp_path, real_mirror):
    config = tmp_path / "config.yaml"
    config.write_text(
        "train_size: 1000\nval_size: 200\nbatch_size: 20\nepochs: 2\nseeds: [0]\n"
        "losses: [cross_entropy]\nvariants:\n  exploding: {loss: cross_entropy, lr: 1.0e+30}\n"
    )
    snakemake(tmp_path, config=config, env={"LOSSBENCH_DATA_MIRROR": str(real_mirror)})
    runs = pd.read_csv(tmp_path / "results" / "tables" / "runs.csv").set_index("variant")
    assert runs.loc["exploding", "status"] == "diverged" and runs.loc["exploding", "diverged_epoch"] == 1
    assert runs.loc["cross_entropy", "status"] == "ok"
    summary = pd.read_csv(tmp_path / "results" / "tables" / "summary.csv").set_index("variant")
    assert summary.loc["exploding", "n_diverged"] == 1
    html = tmp_path / "reports" / "html"
    assert "diverged: 1" in (html / "index.html").read_text()
    assert "runs **diverged**" not in (html / "comparison.html").read_text()  # markdown was rendered
    assert "1 of 1 runs <strong>diverged</strong>" in (html / "comparison.html").read_text()
    assert "1 run(s) diverged" in (html / "variant-exploding.html").read_text()


def _pids_running(fragment: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "lossbench" in cmdline and " train " in cmdline and fragment in cmdline:
                pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_a_job_killed_mid_epoch_is_redone_alone_and_matches_an_uninterrupted_run(tmp_path, real_mirror):
    """SIGKILL one train job mid-epoch: --keep-going lets the other finish, the rerun redoes
    only the killed run, and its metrics equal those of a run that was never interrupted."""
    import signal
    import time

    from lossbench.config import TrainConfig, resolve_variants
    from lossbench.data import load
    from lossbench.train import train

    settings = {"train_size": 3000, "val_size": 200, "batch_size": 20, "epochs": 3, "seeds": [0, 1],
                "losses": ["cross_entropy"], "variants": {}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings))
    env = {"LOSSBENCH_DATA_MIRROR": str(real_mirror)}
    cmd_env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    proc = subprocess.Popen(
        [f"{BIN}/snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory", str(tmp_path),
         "--cores", "2", "--keep-going", "--configfile", str(config), "--until", "train"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cmd_env)
    log = tmp_path / "logs" / "train" / "cross_entropy" / "seed-0.log"
    deadline = time.time() + 240
    while time.time() < deadline and not (log.exists() and "epoch  1/3" in log.read_text()):
        time.sleep(0.2)
    victims = _pids_running("cross_entropy/seed-0")
    assert victims, "the train job of seed 0 was not found running"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, output
    run0, run1 = (tmp_path / "results" / "runs" / "cross_entropy" / f"seed-{s}" for s in (0, 1))
    assert (run1 / "metrics.json").is_file()  # the other job finished (--keep-going)
    assert not (run0 / "metrics.json").exists() and not list(run0.glob(".*.tmp*"))  # nothing half-written

    rerun = snakemake(tmp_path, "-n", config=config, env=env).stdout
    assert set(re.findall(r"wildcards: variant=(\w+), seed=(\d+)", rerun)) == {("cross_entropy", "0")}
    snakemake(tmp_path, config=config, env=env)
    resumed = json.loads((run0 / "metrics.json").read_text())

    variant = resolve_variants(yaml.safe_load(config.read_text()))["cross_entropy"]
    cfg = TrainConfig(**{**variant, "hidden": tuple(variant.get("hidden", (1200, 600, 300))), "seed": 0})
    clean = train(cfg, load(tmp_path / "resources" / "data" / "mnist" / "data.pt"), out_dir=tmp_path / "clean")
    volatile = {"train_seconds", "eval_seconds", "startup_seconds", "start_time", "provenance"}
    assert {k: v for k, v in resumed.items() if k not in volatile} == {
        k: v for k, v in clean.items() if k not in volatile}
