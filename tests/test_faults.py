"""The fault table: every fault or bad input a user can meet, injected for real, one row each.

The rows are README's "What happens when things go wrong", in order. "Nothing lost" means no
half-written file under results/ or resources/ and finished runs intact. Each row is one test,
or one parameter of a test for a family of rows (bad data files, bad configs):
``pytest tests/test_faults.py -v`` lists them, ``-k SIGKILL`` picks one. Rows marked slow run
the workflow end to end.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from helpers import (
    ROOT,
    SUMMARY,
    corrupt_checksum,
    plan,
    refused,
    snakemake,
    snakemake_command,
    tiny_config,
    write_config,
    write_run_record,
)
from lossbench import cli, data, report, tables
from lossbench.compare import WALL_CLOCK_METRICS
from lossbench.config import TrainConfig, resolve_variants
from lossbench.runfolder import load_state_dict
from lossbench.train import train


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_half_written(workdir: Path) -> None:
    """No temporary file or folder (atomic writes use '.<name>.tmp-<pid>', data '.<dir>-tmp-')."""
    for top in ("results", "resources"):
        leftovers = [p for p in (workdir / top).rglob(".*") if "tmp" in p.name] if (workdir / top).exists() else []
        assert leftovers == [], f"half-written files left: {leftovers}"


def fault_config(workdir: Path, **settings) -> Path:
    """The tiny config with one seed of cross_entropy only (no horizon runs), ``settings`` replaced, as config.yaml."""
    return write_config(workdir, tiny_config(**{"seeds": [0], "variants": {}, "horizon": None, "lr_study": None,
                                                **settings}))


def table(workdir: Path, name: str, dataset: str = "mnist") -> pd.DataFrame:
    return pd.read_csv(workdir / "results" / dataset / "tables" / f"{name}.csv")


# --- data -------------------------------------------------------------------------------------

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def not_gzip(path: Path) -> None:
    path.write_bytes(b"<html>404 not found</html>")


@pytest.mark.parametrize("damage, words", [
    pytest.param(corrupt_checksum, "wrong checksum", id="data file with the wrong checksum"),
    pytest.param(truncate, "truncated gzip file", id="data file truncated"),
    pytest.param(not_gzip, "not a gzip file", id="data file not gzip"),
])
def test_bad_data_file(tiny_mirror, tmp_path, damage, words):
    spec = data.DATASETS["mnist"].files[2]
    path = tiny_mirror / spec.name
    damage(path)
    resources = tmp_path / "resources"
    with pytest.raises(data.DataError) as err:
        data.prepare("mnist", resources / "data" / "mnist", mirror=str(tiny_mirror))
    message = str(err.value)
    actual = data.sha256_bytes(path.read_bytes())
    assert words in message and str(path) in message
    assert spec.sha256_gz in message and f"found SHA-256 {actual}" in message  # expected vs actual
    assert files_under(resources) == []
    assert_nothing_half_written(tmp_path)


def test_data_file_missing_from_the_mirror(tiny_mirror, tmp_path):
    path = tiny_mirror / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    with pytest.raises(data.DataError, match=f"data mirror {tiny_mirror} lacks {path}.*{data.MIRROR_ENV}"):
        data.prepare("mnist", tmp_path / "resources" / "data" / "mnist", mirror=str(tiny_mirror))
    assert files_under(tmp_path / "resources") == []


def test_mirror_folder_missing(tiny_mirror, tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(data.DataError, match=f"{nowhere} does not exist.*{data.MIRROR_ENV}.*unset both to download"):
        data.prepare("mnist", tmp_path / "resources" / "data" / "mnist", mirror=str(nowhere))
    assert files_under(tmp_path / "resources") == []


def test_mirror_of_another_dataset(tiny_mirror, tmp_path, monkeypatch):
    spec = data.DATASETS["mnist"]
    other = dataclasses.replace(spec, name="other", title="Other", files=tuple(
        dataclasses.replace(f, sha256_gz=None, sha256_raw="0" * 64) for f in spec.files))
    monkeypatch.setitem(data.DATASETS, "other", other)
    with pytest.raises(data.DataError, match="that is MNIST's train-images-idx3-ubyte.gz.*mirror of 'mnist'"):
        data.prepare("other", tmp_path / "resources" / "data" / "other", mirror=str(tiny_mirror))


@pytest.mark.slow
def test_corrupt_data_stops_the_workflow_before_any_training(real_mirror, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in data.DATASETS["mnist"].files:
        (mirror / f.name).symlink_to(real_mirror / f.name)
    bad = mirror / "train-labels-idx1-ubyte.gz"
    bad.unlink()
    not_gzip(bad)
    out = snakemake(tmp_path, config=fault_config(tmp_path), check=False,
                    env={data.MIRROR_ENV: str(mirror)})
    assert out.returncode != 0
    log = (tmp_path / "logs" / "mnist" / "data.log").read_text()
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and str(bad) in errors[0] and "not a gzip file" in errors[0], log
    assert "rule train" not in out.stdout + out.stderr and not (tmp_path / "results").exists()
    assert files_under(tmp_path / "resources") == []
    assert_nothing_half_written(tmp_path)


# --- config: refused before any job runs, naming the key ---------------------------------------

@pytest.mark.parametrize("text, words", [
    pytest.param("learning_rate: 0.1\n", "learning_rate: unknown key; expected one of dataset, ", id="unknown key"),
    pytest.param("losses: [cross_entropy, hinge]\n", "losses[1]: expected a registered loss (cross_entropy, ",
                 id="unknown loss"),
    pytest.param("batch_size: '100'\n", "batch_size: expected an integer >= 1, found '100' (str)", id="wrong type"),
    pytest.param("lr: 0\n", "lr: expected a finite number > 0, found 0 (int)", id="lr zero"),
    pytest.param("lr: -1.0\n", "lr: expected a finite number > 0, found -1.0 (float)", id="lr negative"),
    pytest.param("epochs: 0\n", "epochs: expected an integer >= 1, found 0 (int)", id="epochs 0"),
    pytest.param("seeds: []\n", "seeds: expected a non-empty list of distinct items", id="empty seeds"),
    pytest.param("variants:\n  fast: {loss: cross_entropy, lr: 0}\n", "variants.fast.lr: expected a finite number > 0",
                 id="variant override lr 0"),
    pytest.param("variants:\n  fast: {loss: cross_entropy, momentum: 0.9}\n",
                 "variants.fast.momentum: unknown key; expected one of loss, lr, ",
                 id="variant with an unknown setting"),
    pytest.param("variants:\n  x: {loss: hinge}\n", "variants.x.loss: expected a registered loss",
                 id="variant of an unknown loss"),
    pytest.param("variants:\n  cross_entropy: {loss: cross_entropy, lr: 1.0}\n",
                 "variants.cross_entropy: expected a name not listed under losses, found 'cross_entropy' in both",
                 id="duplicate variant name"),
    pytest.param("batch_size: 20000\n", "batch_size: expected at most train_size (10000), found 20000",
                 id="batch larger than the training split"),
    pytest.param("variants:\n  big: {loss: cross_entropy, batch_size: 10001}\n",
                 "variants.big.batch_size: expected at most train_size (10000), found 10001",
                 id="variant batch larger than the split"),
    pytest.param("losses: []\nvariants: {}\n",
                 "losses: expected at least one loss (or a variant under variants), found none",
                 id="nothing to train"),
    pytest.param("reference: hinge\n", "reference: expected a variant of this sweep (", id="reference not a variant"),
    pytest.param("dataset: cifar10\n", "dataset: expected one of mnist, fashion_mnist, found 'cifar10'",
                 id="unknown dataset"),
])
def test_bad_config(text, words):
    """Decided in-process by lossbench.config.resolve, as the workflow calls it before any job (the rows that
    go through Snakemake, one line and nothing written, are below and in test_faults_input.py)."""
    assert words in refused(text)


def test_a_bad_config_stops_snakemake_in_one_line_before_anything_is_written(tmp_path):
    """A variant named twice in the YAML file: read by the workflow before the schema (duplicate keys)."""
    config = tmp_path / "my.yaml"
    config.write_text("variants:\n  fast: {loss: cross_entropy}\n  fast: {loss: mse_softmax}\n")
    out = snakemake(tmp_path, config=config, check=False)
    lines = [line for line in out.stderr.splitlines() if line.strip() and "workflow specific profile" not in line]
    assert out.returncode != 0 and len(lines) == 1 and "line 3: duplicate key 'fast'" in lines[0], out.stderr
    assert not {"results", "resources", "logs", "reports", "benchmarks"} & {p.name for p in tmp_path.iterdir()}


# --- divergence ---------------------------------------------------------------------------------

def test_a_run_diverges(tiny_data, tmp_path):
    cfg = TrainConfig(variant="exploding", loss="cross_entropy", seed=0, train_size=200, val_size=50,
                      hidden=(32, 16), lr=1e30, batch_size=25, epochs=4)
    metrics = train(cfg, tiny_data, out_dir=tmp_path / "run")
    assert metrics["status"] == "diverged" and metrics["diverged_epoch"] == metrics["epochs_run"] >= 1
    assert metrics["train_loss"] is None  # NaN/inf are written as null (strict JSON)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert len(history) == metrics["epochs_run"] + 1 and not math.isfinite(history["train_loss"].iloc[-1])


HOSTILE_TITLE = 'Quotes " \'\'\' and\nnewline <script>alert(1)</script> $(touch {marker}) \'); open("{marker}", "w")#'


@pytest.mark.slow
def test_a_variant_diverges_in_the_workflow_and_a_hostile_report_title(real_mirror, tmp_path):
    marker = tmp_path / "pwned"
    title = HOSTILE_TITLE.format(marker=marker)
    config = fault_config(tmp_path, train_size=1000, epochs=2, report_title=title,
                          variants={"exploding": {"loss": "cross_entropy", "lr": 1e30}})
    snakemake(tmp_path, config=config, env={data.MIRROR_ENV: str(real_mirror)})
    runs = table(tmp_path, "runs").set_index("variant")
    assert runs.loc["exploding", "status"] == "diverged" and runs.loc["exploding", "diverged_epoch"] == 1
    assert runs.loc["cross_entropy", "status"] == "ok"
    assert table(tmp_path, "summary").set_index("variant").loc["exploding", "n_diverged"] == 1
    html = tmp_path / "reports" / "html" / "mnist"
    index, comparison = (html / "index.html").read_text(), (html / "comparison.html").read_text()
    assert "diverged: 1" in index
    assert "1 of 1 runs <strong>diverged</strong>" in comparison
    assert "1 run(s) diverged" in (html / "variant-exploding.html").read_text()
    # the title went through YAML, Snakemake's shell, papermill and nbconvert: shown as text only
    assert not marker.exists()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and "<script>alert(1)" not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in comparison and "<script>alert(1)" not in comparison


# --- jobs that die ------------------------------------------------------------------------------

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


def uninterrupted(workdir: Path, config: Path, variant: str, seed: int) -> dict:
    """The same run trained in this process, never interrupted."""
    settings = resolve_variants(yaml.safe_load(config.read_text()))[variant]
    cfg = TrainConfig(**{**settings, "hidden": tuple(settings.get("hidden", TrainConfig.hidden)), "seed": seed})
    return train(cfg, data.load(workdir / "resources" / "data" / "mnist" / "data.pt"), out_dir=workdir / "clean")


@pytest.mark.slow
def test_a_train_job_killed_with_SIGKILL_mid_epoch(real_mirror, tmp_path):
    config = fault_config(tmp_path, train_size=3000, epochs=3, seeds=[0, 1])
    env = {data.MIRROR_ENV: str(real_mirror)}
    cmd, environ = snakemake_command(tmp_path, "--keep-going", "--until", "train", config=config, env=env)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ)
    log = tmp_path / "logs" / "mnist" / "train" / "cross_entropy" / "seed-0.log"
    deadline = time.time() + 240
    while time.time() < deadline and not (log.exists() and "epoch  1/3" in log.read_text()):
        time.sleep(0.2)
    victims = _pids_running("cross_entropy/seed-0")
    assert victims, "the train job of seed 0 was not found running"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, output
    runs = tmp_path / "results" / "mnist" / "runs" / "cross_entropy"
    assert (runs / "seed-1" / "metrics.json").is_file()  # the other job finished (--keep-going)
    assert files_under(runs / "seed-0") == []
    assert_nothing_half_written(tmp_path)

    assert plan(tmp_path, config=config, env=env).wildcards("train", "variant", "seed") == [("cross_entropy", "0")]
    snakemake(tmp_path, config=config, env=env)
    resumed = json.loads((runs / "seed-0" / "metrics.json").read_text())
    clean = uninterrupted(tmp_path, config, "cross_entropy", 0)
    assert {k: v for k, v in resumed.items() if k not in WALL_CLOCK_METRICS} == {
        k: v for k, v in clean.items() if k not in WALL_CLOCK_METRICS}


INJECT = '''
    """Test-only fault injection: the train job of one run raises mid-training (epoch 1)."""
    import os
    import sys

    RUN = os.environ.get("LOSSBENCH_INJECT_FAILURE")
    if RUN and os.path.basename(sys.argv[0]) == "lossbench" and "train" in sys.argv[1:2]:
        import lossbench.train as _train

        _evaluate, _calls = _train.evaluate, []

        def evaluate(*args, **kwargs):
            if sys.argv[sys.argv.index("--out-dir") + 1].endswith(RUN) and len(_calls) == 2:
                raise RuntimeError("injected fault: CUDA error: an illegal memory access was encountered")
            _calls.append(1)
            return _evaluate(*args, **kwargs)

        _train.evaluate = evaluate
'''


@pytest.mark.slow
def test_a_train_job_that_fails_with_an_exception(real_mirror, tmp_path):
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(textwrap.dedent(INJECT))
    config = fault_config(tmp_path, epochs=2, seeds=[0, 1])
    env = {data.MIRROR_ENV: str(real_mirror)}
    failing = {**env, "PYTHONPATH": str(inject), "LOSSBENCH_INJECT_FAILURE": "cross_entropy/seed-0"}
    out = snakemake(tmp_path, "--keep-going", config=config, check=False, env=failing)
    output = out.stdout + out.stderr
    assert out.returncode != 0 and "Error in rule train" in output, output
    assert "logs/mnist/train/cross_entropy/seed-0.log" in output  # Snakemake names the log
    assert "injected fault" in (tmp_path / "logs" / "mnist" / "train" / "cross_entropy" / "seed-0.log").read_text()
    runs = tmp_path / "results" / "mnist" / "runs" / "cross_entropy"
    assert (runs / "seed-1" / "metrics.json").is_file() and files_under(runs / "seed-0") == []
    assert_nothing_half_written(tmp_path)

    assert plan(tmp_path, config=config, env=env).wildcards("train", "variant", "seed") == [("cross_entropy", "0")]
    snakemake(tmp_path, config=config, env=env)
    assert sorted(table(tmp_path, "runs")["seed"]) == [0, 1]


# --- files that lie -----------------------------------------------------------------------------

class _Exploit:
    """A pickle that runs code when unpickled (writes a marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_model_file_replaced_by_a_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    model = tmp_path / "model.pt"
    torch.save({"net.0.weight": _Exploit(marker)}, model, pickle_module=pickle)
    with pytest.raises(pickle.UnpicklingError):
        load_state_dict(model)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # the safe load is what made the difference
        data.load(model)
    torch.load(model, weights_only=False)  # the exploit is real: an unsafe load runs it
    assert marker.exists()


PARAMETER_NOTEBOOK = '''# %% tags=["parameters"]
title = "default"
marker = "unused"

# %%
from lossbench import report
display(report.heading(title))
print("marker is", marker)
'''


def test_a_notebook_parameter_with_quotes_newlines_and_HTML(tmp_path):
    source = tmp_path / "page.py"
    source.write_text(PARAMETER_NOTEBOOK)
    marker = tmp_path / "pwned"
    title = HOSTILE_TITLE.format(marker=marker)
    out = tmp_path / "html" / "page.html"
    report.render(source, out, {"title": title, "marker": str(marker)}, title,
                  nav=[{"href": "index.html", "title": "Overview <b>"}])
    page = out.read_text()
    assert not marker.exists()  # the parameter stayed a string
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "Overview &lt;b&gt;" in page and f"marker is {marker}" in page
    assert list((tmp_path / "html").iterdir()) == [out]  # nothing half-written beside it


# --- stale outputs ------------------------------------------------------------------------------

@pytest.mark.slow
def test_outputs_from_an_older_config_are_rerun(real_mirror, tmp_path):
    env = {data.MIRROR_ENV: str(real_mirror)}
    config = fault_config(tmp_path, seeds=[0, 1], losses=["cross_entropy", "mse_softmax"])
    snakemake(tmp_path, "--until", "gather", config=config, env=env)
    runs = table(tmp_path, "runs")
    recorded = {json.loads((tmp_path / p / "metrics.json").read_text())["config_hash"] for p in runs["path"]}
    assert set(runs["config_hash"]) == recorded and len(recorded) == 2  # one hash per variant, in the table
    settings = yaml.safe_load(config.read_text())
    settings["lr"] = 0.2  # every variant's params change: every run is stale
    config.write_text(yaml.safe_dump(settings))
    rerun = plan(tmp_path, SUMMARY, config=config, env=env)
    assert rerun.wildcards("train", "variant", "seed") == [
        (v, s) for v in ("cross_entropy", "mse_softmax") for s in ("0", "1")]
    dry_run = snakemake(tmp_path, "-n", "--until", "gather", config=config, env=env).stdout
    assert "Params have changed since last execution" in dry_run


def test_gather_given_runs_of_two_configs_for_one_variant(tmp_path, capsys):
    paths = [str(write_run_record(tmp_path / "runs", "a", seed, 0.9, [0.1, 0.9], config_hash=h))
             for seed, h in ((0, "h1"), (1, "h2"))]
    assert cli.main(["gather", "--runs", *paths, "--out-dir", str(tmp_path / "tables")]) == 1
    err = capsys.readouterr().err
    assert "variant 'a': runs come from different configs" in err and "seed-1 has h2" in err
    assert not (tmp_path / "tables").exists()
    with pytest.raises(tables.GatherError, match="given twice"):
        tables.write_tables([paths[0], paths[0]], tmp_path / "tables")


# --- the table in docs/faults.md -----------------------------------------------------------------

def test_readme_lists_every_kind_of_fault():
    """docs/faults.md's table is the user's contract: each family of rows above has a line there."""
    section = (ROOT / "docs" / "faults.md").read_text().split("# What happens when things go wrong")[1]
    for words in ("missing, truncated, not gzip", "wrong checksum", "mirror folder does not exist",
                  "another dataset", "config key is unknown", "diverges", "killed", "fails with an exception",
                  "malicious pickle", "quotes, newlines", "older config", "--keep-going",
                  "Directory cannot be locked", "is deleted", "a page's (`reference`", "spaces or non-ASCII",
                  "learning-rate study run diverges", "`lr_study` grid no study could use"):
        assert words in section, f"docs/faults.md's fault table lacks {words!r}"
    assert re.search(r"tests/test_faults\.py", section)
