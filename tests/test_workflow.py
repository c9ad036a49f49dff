"""End to end: Snakemake on the tiny config (2 variants x 2 seeds x 1 epoch, one horizon run) into a temp dir."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import BIN, ROOT, SUMMARY, plan, snakemake, snakemake_command, tiny_config, write_config
from lossbench import data


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, real_mirror):
    workdir = tmp_path_factory.mktemp("work flow ü")  # a space and a non-ASCII letter in every path
    config = write_config(workdir, tiny_config())
    out = snakemake(workdir, config=config, env={"LOSSBENCH_DATA_MIRROR": str(real_mirror)})
    # every target matches exactly one rule (wildcard constraints), so no rule's input function is tried in vain
    assert "Exception" not in out.stdout + out.stderr, out.stderr
    return workdir, config


@pytest.mark.slow
def test_tiny_workflow_writes_the_tables(tiny_run):
    workdir, _ = tiny_run
    runs = pd.read_csv(workdir / "results" / "mnist" / "tables" / "runs.csv")
    epochs = pd.read_csv(workdir / "results" / "mnist" / "tables" / "epochs.csv")
    summary = pd.read_csv(workdir / "results" / "mnist" / "tables" / "summary.csv")
    assert sorted(zip(runs["variant"], runs["seed"])) == [
        ("cross_entropy", 0), ("cross_entropy", 1), ("mse_softmax_lr5", 0), ("mse_softmax_lr5", 1)]
    assert (runs["status"] == "ok").all() and runs["test_accuracy"].between(0.3, 1).all()
    assert len(epochs) == 4 * 2 and set(epochs["epoch"]) == {0, 1}
    assert list(summary["variant"]) == ["cross_entropy", "mse_softmax_lr5"] and (summary["n"] == 2).all()
    assert set(summary["lr"]) == {0.1, 5.0}
    for variant, seed in zip(runs["variant"], runs["seed"]):
        run = workdir / "results" / "mnist" / "runs" / variant / f"seed-{seed}"
        assert {p.name for p in run.iterdir()} == {"metrics.json", "history.csv", "model.pt", "predictions.csv"}
        data_sha = json.loads((run / "metrics.json").read_text())["provenance"]["data_sha256"]
        assert data_sha["train-images-idx3-ubyte.gz"] == (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609")
        assert len(data_sha["data.pt"]) == 64
        assert "epoch  1/1" in (workdir / "logs" / "mnist" / "train" / variant / f"seed-{seed}.log").read_text()
        benchmark = pd.read_csv(workdir / "benchmarks" / "mnist" / "train" / variant / f"seed-{seed}.tsv", sep="\t")
        # the job's own record (lossbench --benchmark), in Snakemake's benchmark columns
        assert list(benchmark.columns) == ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in",
                                           "io_out", "mean_load", "cpu_time"]
        assert len(benchmark) == 1 and benchmark["s"].iloc[0] > 0 and benchmark["max_rss"].iloc[0] > 100
        assert 0 < benchmark["cpu_time"].iloc[0] <= benchmark["s"].iloc[0] * 2 + 1
    manifest = json.loads((workdir / "resources" / "data" / "mnist" / "manifest.json").read_text())
    files = data.DATASETS["mnist"].files
    # the long-horizon run: written like every run, under horizon/, gathered into its own tables
    horizon_runs = pd.read_csv(workdir / "results" / "mnist" / "tables" / "horizon_runs.csv")
    horizon_epochs = pd.read_csv(workdir / "results" / "mnist" / "tables" / "horizon_epochs.csv")
    assert list(zip(horizon_runs["variant"], horizon_runs["seed"], horizon_runs["epochs"])) == [("cross_entropy", 0, 2)]
    assert horizon_runs["test_every"].tolist() == [2] and horizon_runs["status"].eq("ok").all()
    assert horizon_runs["config_hash"].iloc[0] != runs.loc[runs["variant"] == "cross_entropy", "config_hash"].iloc[0]
    assert horizon_epochs["val_accuracy"].notna().all()  # validation every epoch, the test set at the budget only
    assert list(horizon_epochs.loc[horizon_epochs["test_accuracy"].notna(), "epoch"]) == [2]
    run = workdir / "results" / "mnist" / "horizon" / "cross_entropy" / "seed-0"
    assert {p.name for p in run.iterdir()} == {"metrics.json", "history.csv", "model.pt", "predictions.csv"}
    assert json.loads((run / "metrics.json").read_text())["provenance"]["data_sha256"] == data_sha
    assert "epoch  2/2" in (workdir / "logs" / "mnist" / "horizon" / "cross_entropy" / "seed-0.log").read_text()
    assert (workdir / "benchmarks" / "mnist" / "horizon" / "cross_entropy" / "seed-0.tsv").is_file()
    assert manifest["files_sha256"] == {f.name: f.sha256_gz for f in files} | {
        f.name.removesuffix(".gz"): f.sha256_raw for f in files}
    assert (manifest["n_train"], manifest["n_test"]) == (60000, 10000)


@pytest.mark.slow
def test_nothing_changed_runs_nothing_and_a_changed_lr_reruns_only_its_variant(tiny_run):
    workdir, config = tiny_run
    assert "Nothing to be done" in snakemake(workdir, "-n", config=config).stdout
    assert plan(workdir, config=config).jobs == ()
    changed = tiny_config()
    changed["variants"]["mse_softmax_lr5"]["lr"] = 4.0
    rerun = plan(workdir, config=write_config(workdir, changed, name="changed.yaml"))
    assert rerun.counts == {"train": 2, "gather": 1, "render_page": 3, "render_variant_pages": 1, "render_index": 1,
                            "bundle_report": 1, "all": 1}
    assert rerun.wildcards("train", "variant", "seed") == [("mse_softmax_lr5", "0"), ("mse_softmax_lr5", "1")]
    # every page reads the tables: the variant pages (one job) and the others
    assert rerun.wildcards("render_page", "page") == [("comparison",), ("reproducibility",), ("why-mse",)]


@pytest.mark.slow
@pytest.mark.parametrize("setting, value, pages, variant_pages", [
    # (page settings) each reruns exactly the pages that show it, and the index and bundle after them
    ("reference", "mse_softmax_lr5", ["comparison", "reproducibility", "why-mse"], 0),
    ("slow_loss", "mse_logits", ["learning-rate", "reproducibility", "why-mse"], 0),
    ("report_title", "Another title", ["comparison", "learning-rate", "reproducibility", "why-mse"], 1),
])
def test_a_page_setting_reruns_the_pages_that_show_it(tiny_run, setting, value, pages, variant_pages):
    workdir, _ = tiny_run
    rerun = plan(workdir, config=write_config(workdir, tiny_config(**{setting: value}), name=f"{setting}.yaml"))
    assert rerun.wildcards("render_page", "page") == [(page,) for page in pages]
    assert rerun.counts == {"render_page": len(pages), "render_index": 1, "bundle_report": 1, "all": 1,
                            **({"render_variant_pages": 1} if variant_pages else {})}


@pytest.mark.slow
@pytest.mark.parametrize("setting, value, jobs", [
    # the budget reruns the horizon runs and what reads them; the criterion only the pages showing it
    ("epochs", 3, {"train_horizon": 1, "gather_horizon": 1}),
    ("plateau_window", 1, {}),
])
def test_a_horizon_setting_reruns_only_what_depends_on_it(tiny_run, setting, value, jobs):
    workdir, _ = tiny_run
    config = tiny_config()
    config["horizon"][setting] = value
    rerun = plan(workdir, config=write_config(workdir, config, name=f"horizon-{setting}.yaml"))
    assert rerun.wildcards("render_page", "page") == [("reproducibility",), ("why-mse",)]
    assert rerun.counts == {**jobs, "render_page": 2, "render_index": 1, "bundle_report": 1, "all": 1}


@pytest.mark.slow
def test_horizon_null_turns_the_block_off_and_the_why_page_still_builds(tiny_run):
    """`--config horizon=null`: no horizon job; the why page reruns (without the horizon tables)."""
    workdir, config = tiny_run
    rerun = plan(workdir, "--config", "horizon=null", config=config)
    assert "train_horizon" not in rerun.counts and "gather_horizon" not in rerun.counts
    assert ("why-mse",) in rerun.wildcards("render_page", "page")


@pytest.mark.slow
def test_the_lr_study_reads_the_sweeps_run_at_its_lr_and_trains_the_other_point(tiny_run):
    """The tiny two-point study (cross_entropy at 0.1 and 1, seed 0): lr 0.1 is the sweep's
    cross_entropy run (same settings and seed), read from results/<ds>/runs/, not retrained; lr 1 is a
    run of its own under lr-study/, written like every run and gathered into the study's tables."""
    workdir, _ = tiny_run
    tables = workdir / "results" / "mnist" / "tables"
    runs = pd.read_csv(tables / "lr_study_runs.csv")
    assert list(zip(runs["loss"], runs["lr"], runs["seed"], runs["variant"])) == [
        ("cross_entropy", 0.1, 0, "cross_entropy"), ("cross_entropy", 1.0, 0, "cross_entropy_lr1")]
    assert [Path(p).as_posix() for p in runs["path"]] == [  # relative to the working directory
        "results/mnist/runs/cross_entropy/seed-0", "results/mnist/lr-study/cross_entropy/lr-1/seed-0"]
    run = workdir / "results" / "mnist" / "lr-study" / "cross_entropy" / "lr-1" / "seed-0"
    assert {p.name for p in run.iterdir()} == {"metrics.json", "history.csv", "model.pt", "predictions.csv"}
    assert sorted(p.name for p in (workdir / "results" / "mnist" / "lr-study").rglob("seed-*")) == ["seed-0"]
    log = workdir / "logs" / "mnist" / "lr-study" / "cross_entropy" / "lr-1" / "seed-0.log"
    assert "epoch  1/1" in log.read_text()
    epochs = pd.read_csv(tables / "lr_study_epochs.csv")
    assert len(epochs) == 2 * 2 and epochs["logit_grad_norm"].notna().all()
    summary = pd.read_csv(tables / "lr_study_summary.csv")
    assert list(zip(summary["loss"], summary["lr"], summary["n"])) == [("cross_entropy", 0.1, 1),
                                                                       ("cross_entropy", 1.0, 1)]
    assert summary["val_accuracy_mean"].between(0, 1).all()


@pytest.mark.slow
@pytest.mark.parametrize("block, train", [
    # a new lr trains only its point; a new loss its whole grid (lr 0.1 of mse_softmax: not in this sweep)
    ({"lrs": [0.1, 1.0, 0.3]}, [("cross_entropy", "0.3", "0")]),
    ({"losses": ["cross_entropy", "mse_softmax"]}, [("mse_softmax", "0.1", "0"), ("mse_softmax", "1", "0")]),
    # each loss its own grid: cross_entropy's as before (nothing to train), mse_softmax's lr 5 read from the sweep
    ({"losses": ["cross_entropy", "mse_softmax"], "lrs": {"cross_entropy": [1.0, 0.1], "mse_softmax": [5.0, 20.0]}},
     [("mse_softmax", "20", "0")]),
    ({"losses": ["mse_softmax", "cross_entropy"], "lrs": {"mse_softmax": [0.3], "cross_entropy": [0.1, 3.0]}},
     [("cross_entropy", "3", "0"), ("mse_softmax", "0.3", "0")]),
])
def test_a_changed_study_trains_only_its_new_points(tiny_run, block, train):
    workdir, _ = tiny_run
    config = tiny_config()
    config["lr_study"] = {**config["lr_study"], **block}
    rerun = plan(workdir, config=write_config(workdir, config, name="study.yaml"))
    assert rerun.wildcards("train_lr_study", "loss", "lr", "seed") == train
    assert rerun.counts == {"train_lr_study": len(train), "gather_lr_study": 1, "render_page": 3, "render_index": 1,
                            "bundle_report": 1, "all": 1}
    assert rerun.wildcards("render_page", "page") == [("learning-rate",), ("reproducibility",), ("why-mse",)]


@pytest.mark.slow
def test_the_study_from_the_command_line_and_packed_and_off(tiny_run):
    workdir, config = tiny_run
    # --config merges into the file's block; text items are read as numbers
    rerun = plan(workdir, "--config", "lr_study={lrs: [0.1, 3]}", config=config)
    assert rerun.wildcards("train_lr_study", "loss", "lr", "seed") == [("cross_entropy", "3", "0")]
    # pack_seeds: one job per study loss trains its whole grid (the sweep's lr included), each run its own lr
    out = snakemake(workdir, "-n", "-p", "--config", "pack_seeds=True", config=config)
    assert re.findall(r"^rule (train_lr_study\w*):", out.stdout + out.stderr, re.M) == ["train_lr_study_grid"]
    grid = [line for line in (out.stdout + out.stderr).splitlines() if "--out-dir results/mnist/lr-study/" in line]
    assert len(grid) == 1 and "lossbench train-seeds" in grid[0] and "--lrs 0.1 1 --seeds 0" in grid[0], grid
    assert "--lr " not in grid[0]
    # each loss its own grid, packed: each loss's one job trains its own grid, stacked or one seed at a time
    own = tiny_config()
    own["lr_study"] = {**own["lr_study"], "losses": ["cross_entropy", "mse_softmax"],
                       "lrs": {"cross_entropy": [0.1, 0.3], "mse_softmax": [2.0, 5.0, 20.0]}}
    grids = write_config(workdir, own, name="grids.yaml")
    for pack_seeds, rule, shape in ((True, "train_lr_study_grid", "stacked"),
                                    ("auto", "train_lr_study_seed", "sequential")):
        out = snakemake(workdir, "-n", "-p", "--config", f"pack_seeds={pack_seeds}", config=grids)
        text = out.stdout + out.stderr
        assert set(re.findall(r"^rule (train_lr_study\w*):", text, re.M)) == {rule}, text
        commands = sorted(line.split("--lrs ")[1].split(" --seeds")[0] for line in text.splitlines()
                          if "--out-dir results/mnist/lr-study/" in line and f"--shape {shape}" in line)
        # stacked: every point of each grid; one seed at a time: those the sweep does not train (ce 0.1, mse 5)
        assert commands == {True: ["0.1 0.3", "2 5 20"], "auto": ["0.3", "2 20"]}[pack_seeds], text
    off = plan(workdir, "--config", "lr_study=null", config=config)
    assert not {"train_lr_study", "gather_lr_study"} & set(off.counts)
    assert ("learning-rate",) not in off.wildcards("render_page", "page")


def test_each_loss_its_own_lr_grid_from_the_command_line_and_one_error_for_a_grid_of_no_loss(tmp_path):
    config = write_config(tmp_path, tiny_config(horizon=None))
    grids = "lr_study={losses: [cross_entropy, mse_softmax], lrs: {cross_entropy: [0.1, 3e-1], mse_softmax: 20}}"
    jobs = plan(tmp_path, "--config", grids, config=config)  # text read as numbers, an item as a list of one
    assert jobs.wildcards("train_lr_study", "loss", "lr", "seed") == [("cross_entropy", "0.3", "0"),
                                                                      ("mse_softmax", "20", "0")]  # 0.1: the sweep's
    # the file's block studies cross_entropy only: mse_softmax's grid is not trained
    narrowed = plan(tmp_path, "--config", "lr_study={lrs: {cross_entropy: [1], mse_softmax: [3]}}", config=config)
    assert narrowed.wildcards("train_lr_study", "loss", "lr", "seed") == [("cross_entropy", "1", "0")]
    # an empty mapping would be merged away (the file's list kept): one line instead
    empty = write_config(tmp_path, {"lr_study": {"lrs": {}}}, name="empty.yaml")
    for args, source in ((["--configfile", str(config), "--config", "lr_study={lrs: {}}"], "--config"),
                         (["--configfile", str(config), str(empty)], str(empty))):
        out = snakemake(tmp_path, "-n", *args, check=False)
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        assert (f"ConfigError: lr_study.lrs: an empty mapping ({{}}) in {source} cannot empty it: Snakemake merges a "
                "mapping key by key into the config file's, so the value stays [0.1, 1.0]; write the value you "
                "mean") in out.stderr, out.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_table_setting_reruns_gather_and_a_new_seed_only_its_runs(tiny_run):
    workdir, _ = tiny_run
    rerun = plan(workdir, config=write_config(workdir, tiny_config(seeds=[0, 1, 2]), name="seeds.yaml"))
    assert rerun.wildcards("train", "variant", "seed") == [("cross_entropy", "2"), ("mse_softmax_lr5", "2")]
    assert rerun.counts["gather"] == 1 and rerun.counts["render_page"] == 3
    assert rerun.counts["render_variant_pages"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["metrics.json", "history.csv", "model.pt", "predictions.csv"])
def test_a_missing_run_file_makes_snakemake_train_that_run_again(tiny_run, name):
    workdir, config = tiny_run
    path = workdir / "results" / "mnist" / "runs" / "cross_entropy" / "seed-1" / name
    aside = path.with_name(f"aside-{name}")
    path.rename(aside)  # put back below with its own mtime, so the shared run stays as it was
    try:
        rerun = plan(workdir, config=config)
    finally:
        aside.rename(path)
    assert rerun.wildcards("train", "variant", "seed") == [("cross_entropy", "1")]
    assert rerun.counts["gather"] == 1


@pytest.mark.slow
def test_a_table_edited_by_hand_stops_the_workflow_before_any_job_until_it_is_regathered(tiny_run):
    """One row deleted from runs.csv by hand: snakemake refuses in one line naming the table and the
    command that mends it, and runs nothing; with that command (-R gather) it is accepted and regathers
    it."""
    workdir, config = tiny_run
    tables = workdir / "results" / "mnist" / "tables"
    runs = tables / "runs.csv"
    page = workdir / "reports" / "html" / "mnist" / "comparison.html"
    original, times, shown = runs.read_bytes(), (runs.stat().st_atime_ns, runs.stat().st_mtime_ns), page.read_bytes()
    runs.write_bytes(b"".join(original.splitlines(keepends=True)[:-1]))
    try:
        out = snakemake(workdir, config=config, check=False)
        output = out.stdout + out.stderr
        lines = [line for line in output.splitlines() if line.strip()]
        assert out.returncode != 0 and "Finished job" not in output and page.read_bytes() == shown, output
        assert sum("Error" in line for line in lines) == 1, output  # the plan, then one error; no traceback
        assert lines[-1].startswith("TableError: results/mnist/tables/runs.csv is not the table gather wrote (SHA-256 ")
        assert lines[-1].endswith("edited by hand? Rebuild it with `snakemake -R gather` (and the options you run "
                                 "snakemake with).")
        regather = plan(workdir, "-R", "gather", config=config)
        assert regather.counts["gather"] == 1 and "train" not in regather.counts
    finally:
        runs.write_bytes(original)
        os.utime(runs, ns=times)


@pytest.mark.slow
def test_the_workflow_runs_from_folders_with_spaces_and_non_ascii_letters(tiny_run, tmp_path):
    """A clone and a working directory whose paths have spaces and non-ASCII letters: every job,
    from training to the report pages (which read their notebooks from the clone), runs."""
    workdir, _ = tiny_run
    clone = tmp_path / "my clone – ü"
    shutil.copytree(ROOT / "workflow", clone / "workflow")
    shutil.copytree(ROOT / "reports" / "notebooks", clone / "reports" / "notebooks")
    work = tmp_path / "rün dir"
    shutil.copytree(workdir / "resources", work / "resources")
    config = write_config(work, tiny_config(), name="my config.yaml")
    cmd, environ = snakemake_command(work, config=config)
    cmd[cmd.index("--snakefile") + 1] = str(clone / "workflow" / "Snakefile")
    out = subprocess.run(cmd, capture_output=True, text=True, env=environ)
    assert out.returncode == 0, out.stdout + out.stderr
    pages = sorted(p.name for p in (work / "reports" / "html" / "mnist").glob("*.html"))
    assert pages == ["comparison.html", "index.html", "learning-rate.html", "reproducibility.html",
                     "variant-cross_entropy.html", "variant-mse_softmax_lr5.html", "why-mse.html"]
    assert "Holm" in (work / "reports" / "html" / "mnist" / "comparison.html").read_text()


# docs/setup.md's command that retrains every run (after changing how data.py builds data.pt)
RETRAIN = re.search(r"`snakemake -R ([\w ]+)`", (ROOT / "docs" / "setup.md").read_text())[1].split()


def test_default_config_on_cpu_plans_a_job_per_variant_6_study_jobs_4_horizon_runs_the_gathers_and_the_report(
        tmp_path):
    """pack_seeds auto on CPU packs sequentially: one job per variant (its 5 seeds), one per study loss and seed (its
    lrs but the sweep's 0.1, read from the sweep), each at one thread; the horizon's runs one job each."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    # README's retrain command names rules that exist; no GPU visible
    default = plan(tmp_path, "--cores", "8", "-R", *RETRAIN, env={"CUDA_VISIBLE_DEVICES": ""})
    assert {rule for rule in default.counts if rule.startswith("train")} <= set(RETRAIN)
    # the classes study's one-epoch grids: one job per C and loss; the optimiser control: one job per loss
    assert default.counts == {"prepare_data": 1, "train_seeds": 8, "train_horizon": 4, "train_lr_study_seed": 6,
                              "train_probe": 1, "train_classes_study_grid": 12, "train_optimizer_study_grid": 2,
                              "gather": 1, "gather_horizon": 1, "gather_lr_study": 1, "gather_probe": 1,
                              "gather_classes_study": 1, "gather_optimizer_study": 1, "render_page": 5,
                              "render_variant_pages": 1, "render_index": 1, "bundle_report": 1, "all": 1}
    assert default.wildcards("train_lr_study_seed", "loss", "seed") == [
        (loss, str(seed)) for loss in ("cross_entropy", "mse_logits", "mse_softmax") for seed in (0, 1)]
    out = snakemake(tmp_path, "-n", "-p", "--cores", "8", env={"CUDA_VISIBLE_DEVICES": ""})
    text = out.stdout + out.stderr
    commands = [line for line in text.splitlines() if "lossbench train-seeds" in line]
    assert len(commands) == 28 and all("--threads 1 " in c for c in commands), commands[:2]
    assert sum("--shape sequential --threads 1 " in c for c in commands) == 14
    assert sum("--lrs 0.01 0.03 0.3 1 3 10 30 --seeds " in c for c in commands) == 6
    assert sum(" --seeds 0 1 2 3 4 " in c for c in commands) == 8
    rules = ("train_optimizer_study_grid", "train_seeds", "train_lr_study_seed", "train_horizon", "train_probe")
    blocks = {m[1]: m[2] for m in re.finditer(rf"^rule ({'|'.join(rules)}):\n((?:.+\n)+)", text, re.M)}
    # on the CPU each training job takes one cpu_training slot (the workflow allows one per core); no other job
    jobs = [(m[1], m[2]) for m in re.finditer(r"^(?:local)?rule (\w+):\n((?:.+\n)+)", text, re.M)]
    slots = [(rule, re.search(r"cpu_training=(\d+)", block)) for rule, block in jobs]
    assert all(slot and slot[1] == "1" for rule, slot in slots if rule.startswith("train")) and len(slots) == 49
    assert not any(slot for rule, slot in slots if not rule.startswith("train"))
    # the longest jobs first (Adam's grids), then the sweep (ten pages need only it), then the rest
    assert [re.search(r"priority: (\d+)", blocks[r])[1] for r in rules] == ["3", "2", "1", "1", "1"]


def test_default_config_one_job_per_run_plans_40_train_jobs_4_horizon_runs_42_study_runs(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    default = plan(tmp_path, "--cores", "8", "-R", *RETRAIN, "--config", "pack_seeds=false",
                   env={"CUDA_VISIBLE_DEVICES": ""})
    assert {rule for rule in default.counts if rule.startswith("train")} <= set(RETRAIN)
    # the optimiser control: one job per run (2 losses x 3 lrs x 2 seeds); the classes study: one job per run too
    # (pack_seeds false: one job per run everywhere)
    assert default.counts == {"prepare_data": 1, "train": 40, "train_horizon": 4, "train_lr_study": 42, "gather": 1,
                              "gather_horizon": 1, "gather_lr_study": 1, "train_probe": 1, "gather_probe": 1,
                              "train_classes_study": 144, "gather_classes_study": 1, "train_optimizer_study": 12,
                              "gather_optimizer_study": 1, "render_page": 5, "render_variant_pages": 1,
                              "render_index": 1, "bundle_report": 1, "all": 1}
    # 3 losses x 8 lrs x 2 seeds, but lr 0.1: the sweep's runs of those losses, read from it
    lrs = ["0.01", "0.03", "0.3", "1", "3", "10", "30"]
    assert default.wildcards("train_lr_study", "loss", "lr", "seed") == sorted(
        (loss, lr, str(seed)) for loss in ("cross_entropy", "mse_logits", "mse_softmax")
        for lr in lrs for seed in (0, 1))
    variants = ["cross_entropy", "cross_entropy_lr0p002", "logsoftmax_nll", "mse_logits", "mse_logits_lr0p5",
                "mse_softmax", "mse_softmax_lr5", "softmax_nll"]
    assert default.wildcards("train", "variant", "seed") == [(v, str(s)) for v in variants for s in range(5)]
    horizon = ["cross_entropy_lr0p002", "mse_softmax"]
    assert default.wildcards("train_horizon", "variant", "seed") == [(v, str(s)) for v in horizon for s in (0, 1)]
    # the variant pages: one job (render_variant_pages) writes every variant's page
    assert default.wildcards("render_page", "page") == [
        ("classes",), ("comparison",), ("learning-rate",), ("reproducibility",), ("why-mse",)]


@pytest.mark.parametrize("pack_seeds, blocks", [(True, "on"), (False, "off"), ("auto", "on"), ("auto", "off")])
def test_the_readme_retrain_command_names_every_training_rule_in_every_config(tmp_path, pack_seeds, blocks):
    """The rule names do not change with the config: README's `snakemake -R ...` names rules that
    exist with pack_seeds either way and the horizon and study blocks on or off, and every rule
    that trains a run in that config."""
    off = {"horizon": None, "lr_study": None} if blocks == "off" else {}
    config = write_config(tmp_path, tiny_config(pack_seeds=pack_seeds, **off))
    jobs = plan(tmp_path, "-R", *RETRAIN, config=config)  # an unknown rule name: MissingRuleException
    training = {rule for rule in jobs.counts if rule.startswith("train")}
    assert training <= set(RETRAIN), (training, RETRAIN)
    expected = {True: {"train_seeds", "train_horizon", "train_lr_study_grid"}, False: {"train"},
                "auto": {"train_seeds", "train_horizon", "train_lr_study_seed"}}[pack_seeds]  # auto on CPU
    if blocks == "off":
        expected = expected & {"train", "train_seeds"}
    assert training == expected, jobs.counts


def training_jobs(out) -> dict[str, set[int]]:
    """A dry run's (`snakemake -n`) training rules, each with the gpu resource values of its jobs."""
    jobs: dict[str, set[int]] = {}
    for block in re.split(r"^(?=rule \w+:$)", out.stdout + out.stderr, flags=re.M):
        rule = re.match(r"rule (train\w*):$", block, re.M)
        if rule:
            gpu = re.search(r"^ +resources: .*\bgpu=(\d+)", block, re.M)
            jobs.setdefault(rule[1], set()).add(int(gpu[1]) if gpu else None)
    return jobs


SINGLE = {"train", "train_horizon", "train_lr_study"}
PACKED = {"train_seeds", "train_horizon", "train_lr_study_grid"}
SEQUENTIAL = {"train_seeds", "train_horizon", "train_lr_study_seed"}


@pytest.mark.parametrize("device, pack_seeds, rules, gpu", [
    ("cpu", "auto", SEQUENTIAL, 0), ("cpu", "true", PACKED, 0), ("cpu", "false", SINGLE, 0),
    ("cuda", "auto", PACKED, 1), ("cuda:0", "true", PACKED, 1), ("cuda", "false", SINGLE, 1),
    ("auto", "auto", SEQUENTIAL, 0),  # this machine: no NVIDIA GPU (tests/test_cluster.py: one visible)
])
def test_training_on_cuda_asks_for_a_gpu_and_pack_seeds_auto_stacks_there_only(tmp_path, device, pack_seeds,
                                                                                rules, gpu):
    """pack_seeds auto stacks where training runs on CUDA and packs one run after another on CPU, and each
    training job on CUDA asks for gpu=1, so the default profile's `resources: gpu: 1` keeps a local run from
    starting more than one on the GPU."""
    config = write_config(tmp_path, tiny_config())
    out = snakemake(tmp_path, "-n", "--config", f"device={device}", f"pack_seeds={pack_seeds}", config=config,
                    env={"CUDA_VISIBLE_DEVICES": ""})
    assert training_jobs(out) == {rule: {gpu} for rule in rules}, out.stdout


def test_under_a_profile_that_gives_training_a_gpu_device_auto_packs_and_asks_for_it(tmp_path):
    """The SLURM profile's set-resources give every training rule a GPU: read before the executor is known,
    that says device auto trains on CUDA there (pack_seeds auto packs)."""
    config = write_config(tmp_path, tiny_config(pack_seeds="auto"))
    out = snakemake(tmp_path, "-n", "--set-resources", "train_seeds:gpu=1", config=config,
                    env={"CUDA_VISIBLE_DEVICES": ""})
    assert training_jobs(out) == {rule: {1} for rule in PACKED}, out.stdout


def test_a_packed_job_has_one_output_so_planning_stays_linear_in_runs(tmp_path):
    """A packed job lists one file (packed.done beside its run folders), not every run file: Snakemake tries each
    file it looks for against every output of every rule, so 4 x runs outputs made planning quadratic in runs,
    packed or not (issue #21, finding 11: 1,000 seeds took 95 s packed, 170 s not; now 1.4 s and 19 s). Gather
    depends on the jobs and gets every run's metrics.json as a parameter."""
    config = write_config(tmp_path, tiny_config(seeds=list(range(50)), pack_seeds=True))
    result = snakemake(tmp_path, "-n", "-p", config=config)
    out = result.stdout + result.stderr
    outputs = re.findall(r"^rule (train_seeds|train_lr_study_grid):\n(?:.*\n)*?    output: (.*)$", out, re.M)
    assert sorted(outputs) == [("train_lr_study_grid", "results/mnist/lr-study/cross_entropy/packed.done"),
                               ("train_seeds", "results/mnist/runs/cross_entropy/packed.done"),
                               ("train_seeds", "results/mnist/runs/mse_softmax_lr5/packed.done")], outputs
    gather = re.search(r"lossbench gather --runs (.*?) --out-dir results/mnist/tables ", out)[1].split()
    assert len(gather) == 100 and gather[0] == "results/mnist/runs/cross_entropy/seed-0/metrics.json", gather[:3]


# What differs between two trainings of the same runs: the clock, the process, and the timing summaries
TIMING_COLUMNS = {"train_seconds", "train_cpu_seconds", "eval_seconds", "startup_seconds", "start_time", "end_time",
                  "pid", "epoch_seconds", "epoch_cpu_seconds", "train_seconds_median", "train_cpu_seconds_median"}


@pytest.mark.slow
def test_pack_seeds_auto_on_cpu_gives_the_tables_of_single_runs_bit_for_bit(tiny_run, tmp_path, real_mirror):
    """pack_seeds auto on CPU: one train_seeds job per variant, one train_lr_study_seed job per (study loss, seed)
    (its lrs but the sweep's, read from the sweep) and the horizon's runs, each job training its runs one after
    another: every gathered table equals the one-job-per-run pipeline's but for the clock's columns."""
    workdir, _ = tiny_run
    config = write_config(tmp_path, tiny_config(pack_seeds="auto"))
    env = {"LOSSBENCH_DATA_MIRROR": str(real_mirror), "CUDA_VISIBLE_DEVICES": ""}
    tables = [f"results/mnist/tables/{prefix}summary.csv" for prefix in ("", "lr_study_", "horizon_")]
    jobs = plan(tmp_path, *tables, config=config, env=env)
    assert jobs.counts == {"prepare_data": 1, "train_seeds": 2, "train_lr_study_seed": 1, "train_horizon": 1,
                           "gather": 1, "gather_lr_study": 1, "gather_horizon": 1}
    assert jobs.wildcards("train_lr_study_seed", "loss", "seed") == [("cross_entropy", "0")]
    snakemake(tmp_path, *tables, config=config, env=env)
    for prefix in ("", "lr_study_", "horizon_"):
        for name in ("runs", "epochs", "summary"):
            got, want = (pd.read_csv(w / "results" / "mnist" / "tables" / f"{prefix}{name}.csv")
                         for w in (tmp_path, workdir))
            got, want = (t.drop(columns=sorted(TIMING_COLUMNS & set(t.columns))) for t in (got, want))
            pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"{prefix}{name}.csv")
    lr_study_runs = pd.read_csv(tmp_path / "results" / "mnist" / "tables" / "lr_study_runs.csv")
    assert sorted(lr_study_runs["path"]) == ["results/mnist/lr-study/cross_entropy/lr-1/seed-0",
                                             "results/mnist/runs/cross_entropy/seed-0"]  # lr 0.1: the sweep's run
    assert "seed 1  epoch  1/1" in (tmp_path / "logs" / "mnist" / "train" / "cross_entropy" / "seeds.log").read_text()


def test_the_default_profile_lets_one_training_job_use_the_gpu_at_a_time():
    profile = yaml.safe_load((ROOT / "workflow" / "profiles" / "default" / "config.yaml").read_text())
    assert profile["resources"] == {"gpu": 1}


# The rules have no conda: directive on purpose (README, "With conda instead of make": the
# environment is created and activated, not built per rule), so this is the one lint expected.
NO_CONDA_LINT = "Specify a conda environment or container for each rule."


def test_workflow_lint_is_clean():
    """`snakemake --lint` finds nothing but the missing conda: directive, once per rule.

    (Snakemake 9.27.1's CLI prints text even for `--lint json`, so the text is read: each
    "Lints for ..." block lists its lints as "* <title>:" lines.)
    """
    out = subprocess.run([f"{BIN}/snakemake", "--lint", "--cores", "1"],  # every rule is defined in every config
                         cwd=ROOT, capture_output=True, text=True)
    text = out.stdout + out.stderr
    blocks = re.findall(r"^Lints for (.*):$", text, re.M)
    lints = re.findall(r"^    \* (.*):$", text, re.M)
    assert all(block.startswith("rule ") for block in blocks), text  # none for a snakefile
    assert lints == [NO_CONDA_LINT] * len(blocks), text
    assert blocks or "Congratulations, your workflow is in a good condition!" in text, text


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
    html_dir = workdir / "reports" / "html" / "mnist"
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
                "text": page.evaluate("document.body.innerText"),
            }
            page.screenshot(path=str(shots / f"{Path(name).stem}.png"), full_page=True)
            links = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
            queue += [h for h in links if h.endswith(".html") and "://" not in h]
        browser.close()
    on_disk = {p.name for p in html_dir.glob("*.html")}
    assert set(seen) == on_disk == {"index.html", "comparison.html", "why-mse.html", "learning-rate.html",
                                    "reproducibility.html", "variant-cross_entropy.html",
                                    "variant-mse_softmax_lr5.html"}
    assert failed == [] and remote == []
    assert all(info["broken"] == 0 for info in seen.values()), seen
    assert seen["comparison.html"]["images"] >= 3 and seen["variant-cross_entropy.html"]["images"] >= 4
    assert seen["why-mse.html"]["math"] >= 5
    why = seen["why-mse.html"]["text"]  # the horizon section, last, with its computed verdict
    assert "Slow or stuck?" in why
    assert "cross_entropy (lr 0.1, one seed): still rising at the budget" in why
    # the two-point learning-rate study: its page, with its figures and a grid too narrow to show an optimum
    # accuracy against lr at least; the saturation figure only where a seed ends saturated (a sentence otherwise)
    lr_page = seen["learning-rate.html"]
    assert lr_page["images"] >= 2 or (lr_page["images"] >= 1 and "No figure: no seed ends saturated" in lr_page["text"])
    assert "too narrow" in lr_page["text"]


@pytest.mark.slow
def test_snakemake_report_includes_the_pages_and_the_workflow_description(tiny_run):
    """`snakemake --report report.zip`: every page of the run inside, byte for byte, side by side
    in one folder (so their relative links work), and the text of workflow/report/workflow.rst on
    the report's front page."""
    workdir, config = tiny_run
    snakemake(workdir, "--report", "report.zip", config=config)
    with zipfile.ZipFile(workdir / "report.zip") as report:
        members = report.namelist()
        inside = [name for name in members if name.startswith("report/data/raw/") and name.endswith(".html")]
        pages = {Path(name).name: report.read(name) for name in inside}
        front = report.read("report/report.html").decode()
    on_disk = sorted((workdir / "reports" / "html" / "mnist").glob("*.html"))
    assert len(on_disk) == 7 and sorted(pages) == [p.name for p in on_disk], members
    assert len(inside) == len(on_disk), inside  # each page once
    assert len({Path(name).parent for name in inside}) == 1, inside
    for page in on_disk:
        assert pages[page.name] == page.read_bytes(), page.name
    description = re.search(r"^\s*var workflow_desc = (.*);$", front, re.M)
    assert description, "no workflow description in the report"
    text = " ".join(re.sub(r"<[^>]+>", " ", json.loads(description[1])).split())
    assert "lossbench trains one MLP" in text, text


@pytest.mark.slow
def test_works_without_activating_the_environment(tmp_path, real_mirror):
    """`.venv/bin/snakemake` alone: the rules still find the `lossbench` command beside it."""
    config = write_config(tmp_path, tiny_config())
    snakemake(tmp_path, "resources/data/mnist/manifest.json", config=config,
              env={"PATH": "/usr/bin:/bin", "LOSSBENCH_DATA_MIRROR": str(real_mirror)})
    assert (tmp_path / "resources" / "data" / "mnist" / "data.pt").is_file()




@pytest.mark.slow
def test_fashion_mnist_runs_the_same_pipeline_into_its_own_folders(tmp_path, real_mirror, fashion_mirror):
    """`--config dataset=fashion_mnist` beside an MNIST sweep: own results, report and title; MNIST untouched."""
    config = write_config(tmp_path, tiny_config(seeds=[0], variants={}, horizon=None, lr_study=None))
    snakemake(tmp_path, "--until", "gather", config=config, env={"LOSSBENCH_DATA_MIRROR": str(real_mirror)})
    mnist_runs = tmp_path / "results" / "mnist" / "tables" / "runs.csv"
    before = mnist_runs.read_bytes()

    fashion = {"LOSSBENCH_DATA_MIRROR": str(fashion_mirror)}
    snakemake(tmp_path, "--config", "dataset=fashion_mnist", config=config, env=fashion)
    runs = pd.read_csv(tmp_path / "results" / "fashion_mnist" / "tables" / "runs.csv")
    assert list(runs["dataset"]) == ["fashion_mnist"] and runs["status"].eq("ok").all()
    assert runs["test_accuracy"].between(0.3, 1).all()  # 3x chance after one short epoch
    metrics = json.loads((tmp_path / "results" / "fashion_mnist" / "runs" / "cross_entropy" / "seed-0" /
                          "metrics.json").read_text())
    assert metrics["provenance"]["data_sha256"]["t10k-labels-idx1-ubyte"] == (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")
    assert mnist_runs.read_bytes() == before and pd.read_csv(mnist_runs)["dataset"].eq("mnist").all()
    assert metrics["config_hash"] != pd.read_csv(mnist_runs)["config_hash"].iloc[0]
    html = tmp_path / "reports" / "html" / "fashion_mnist"
    assert "<title>lossbench: classification losses on Fashion-MNIST</title>" in (html / "index.html").read_text()
    assert "lossbench: classification losses on Fashion-MNIST — Comparison" in (html / "comparison.html").read_text()
    reproducibility = re.sub(r"<[^>]+>", "", (html / "reproducibility.html").read_text())  # text, not highlighting
    assert "snakemake --cores 8 --configfile config.yaml --config dataset=fashion_mnist" in reproducibility
    assert not (tmp_path / "reports" / "html" / "mnist").exists()  # MNIST's report was not asked for
    # both datasets' runs stay: rerunning either plans nothing
    assert "Nothing to be done" in snakemake(tmp_path, "-n", "--config", "dataset=fashion_mnist", config=config,
                                             env=fashion).stdout
    assert plan(tmp_path, SUMMARY, config=config).jobs == ()


@pytest.mark.slow
def test_packed_seeds_give_the_tables_of_single_runs_up_to_float_noise(tiny_run, tmp_path, real_mirror):
    """pack_seeds: true -> one train_seeds job per variant; every run matches its single-run twin."""
    workdir, _ = tiny_run
    packed_config = write_config(tmp_path, {**tiny_config(horizon=None, lr_study=None), "pack_seeds": True})
    env = {"LOSSBENCH_DATA_MIRROR": str(real_mirror)}
    jobs = plan(tmp_path, SUMMARY, config=packed_config, env=env)
    assert jobs.counts == {"prepare_data": 1, "train_seeds": 2, "gather": 1}
    assert jobs.wildcards("train_seeds", "variant") == [("cross_entropy",), ("mse_softmax_lr5",)]
    snakemake(tmp_path, "--until", "gather", config=packed_config, env=env)
    key = ["variant", "seed"]
    packed = pd.read_csv(tmp_path / "results" / "mnist" / "tables" / "runs.csv").set_index(key).sort_index()
    single = pd.read_csv(workdir / "results" / "mnist" / "tables" / "runs.csv").set_index(key).sort_index()
    assert list(packed.index) == list(single.index) and (packed["status"] == "ok").all()
    assert (packed["config_hash"] == single["config_hash"]).all()  # the same experiment
    assert (packed["initial_logit_grad_norm"] == single["initial_logit_grad_norm"]).all()  # the same start
    assert ((packed["test_accuracy"] - single["test_accuracy"]).abs() <= 0.005).all()
    assert ((packed["train_loss"] / single["train_loss"] - 1).abs() <= 1e-3).all()
    assert "seed 1  epoch  1/1" in (tmp_path / "logs" / "mnist" / "train" / "cross_entropy" / "seeds.log").read_text()
