"""Fault rows for what a user types or leaves behind, each injected for real (issue 12).

Config values (refused by a real ``snakemake`` before any job, naming the key, or read as
meant), the data mirror (a real data job in a real workflow), data files given to
``lossbench train``, and the state a killed data step leaves. README's "What happens when
things go wrong" lists them. The one slow row runs the whole tiny workflow.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from helpers import BIN, plan, snakemake, snakemake_command, tiny_config, write_config
from lossbench import cli, data

NO_OUTPUT = {"results", "resources", "logs", "reports", "benchmarks"}


def one_run_config(workdir: Path, text: str = "") -> Path:
    """A config of one loss and one seed (so dry runs stay short) but for the keys ``text`` (YAML) sets."""
    given = yaml.safe_load(text) or {}
    base = "".join(f"{key}: {value}\n" for key, value in
                   [("losses", "[cross_entropy]"), ("seeds", "[0]"), ("variants", "{}")] if key not in given)
    path = workdir / "my.yaml"
    path.write_text(base + text)
    return path


# --- config values: refused before any job runs, in one line naming the key -------------------------
# Every row of what a config may hold runs in-process (tests/test_config.py: lossbench.config.resolve,
# which common.smk calls); these few go through a real snakemake, to see the workflow stop with the
# one line, exit 1 and no output, and read what users write as they mean it.

@pytest.mark.parametrize("text, args, line", [
    pytest.param("epochs: 1.0\n", (), "ConfigError: epochs: expected an integer >= 1, found 1.0 (float); write 1",
                 id="the schema: epochs 1.0"),
    pytest.param("", ("--config", "losses=[cross_entropy]", "horizon={variants: [mse_softmax]}"),
                 "ConfigError: horizon.variants[0]: expected variants of this sweep (cross_entropy), found "
                 "mse_softmax; name one of cross_entropy in horizon.variants instead, or set horizon: null (off)",
                 id="a check: a horizon naming a variant the sweep does not define"),
])
def test_bad_config_value(tmp_path, text, args, line):
    out = snakemake(tmp_path, "-n", *args, config=one_run_config(tmp_path, text), check=False)
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln and not ln.startswith("Using workflow")]
    assert out.returncode == 1 and lines == [line], out.stdout + out.stderr  # no traceback, no schema dump
    assert not NO_OUTPUT & {p.name for p in tmp_path.iterdir()}


MERGE = """\
variants:
  fast: &fast {loss: cross_entropy, lr: 0.5}
  faster:
    <<: *fast
    lr: 2.0
"""


def test_config_written_as_users_write_it(tmp_path):
    """lr: 1e-3 (a string to YAML 1.1), a YAML merge key, and --config values read as the file reads them."""
    out = snakemake(tmp_path, "-n", "-p", "--config", "seeds=[0,1]", "test_every=null", "pack_seeds=yes",
                    config=one_run_config(tmp_path, "lr: 1e-3\n" + MERGE))
    jobs = [line for line in out.stdout.splitlines() if "lossbench train" in line]
    assert len(jobs) == 3 and all("lossbench train-seeds" in job and "--seeds 0 1 " in job for job in jobs), jobs
    assert {re.search(r"--variant (\w+)", job)[1]: re.search(r"--lr (\S+)", job)[1] for job in jobs} == {
        "cross_entropy": "0.001", "fast": "0.5", "faster": "2.0"}


# --- the data mirror, in a real data job ---------------------------------------------------------

def data_job(workdir: Path, config: Path, env: dict, cwd: Path | None = None) -> tuple[int, str]:
    """Run the workflow's data job alone; its exit status and its log's ERROR lines."""
    cmd, environ = snakemake_command(workdir, "resources/data/mnist/data.pt", config=config, env=env)
    if cwd is not None:
        environ["PWD"] = str(cwd)  # as a shell sets it
    out = subprocess.run(cmd, capture_output=True, text=True, env=environ, cwd=cwd)
    log = workdir / "logs" / "mnist" / "data.log"
    errors = [line for line in log.read_text().splitlines() if "ERROR" in line] if log.exists() else []
    assert len(errors) <= 1, log.read_text()
    return out.returncode, "\n".join(errors) or out.stdout + out.stderr


def test_an_empty_mirror_variable_does_not_hide_the_configured_mirror(tmp_path):
    config = one_run_config(tmp_path, "data_mirror: not/here\n")
    rc, error = data_job(tmp_path, config, {data.MIRROR_ENV: ""})
    assert rc != 0 and f"data mirror folder {tmp_path}/not/here does not exist" in error, error
    assert "download" not in error.split("does not exist")[0]
    assert not (tmp_path / "resources" / "data" / "mnist").exists()


def test_a_relative_mirror_is_taken_from_where_snakemake_was_started(tmp_path):
    start, workdir = tmp_path / "start", tmp_path / "work"
    start.mkdir()
    workdir.mkdir()
    rc, error = data_job(workdir, one_run_config(workdir), {data.MIRROR_ENV: "mirrors/mnist"}, cwd=start)
    assert rc != 0 and f"data mirror folder {start}/mirrors/mnist does not exist" in error, error


def test_a_mirror_that_is_a_file(tmp_path):
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    gz.write_bytes(b"")
    rc, error = data_job(tmp_path, one_run_config(tmp_path), {data.MIRROR_ENV: str(gz)})
    assert rc != 0 and f"data mirror {gz} is a file, not a folder" in error and f"e.g. {tmp_path}" in error, error


def test_offline_without_a_mirror_says_how_to_give_one(tmp_path):
    proxy = "http://127.0.0.1:9"  # nothing listens there: every download fails at once, as offline
    env = {data.MIRROR_ENV: "", "http_proxy": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy,
           "HTTPS_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
    rc, error = data_job(tmp_path, one_run_config(tmp_path), env)
    assert rc != 0 and "could not download MNIST with torchvision" in error, error
    assert f"{data.MIRROR_ENV}=/path/to/folder" in error and "Traceback" not in error
    assert not (tmp_path / "resources" / "data" / "mnist").exists()
    assert [p.name for p in (tmp_path / "resources" / "data").iterdir()] == []  # no temp folder left


# --- data files given to lossbench train ---------------------------------------------------------

def good_tensors() -> dict:
    return {"train_images": torch.zeros(20, 28, 28, dtype=torch.uint8), "train_labels": torch.arange(20) % 10,
            "test_images": torch.zeros(5, 28, 28, dtype=torch.uint8), "test_labels": torch.arange(5)}


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _write(path: Path, make):
    if isinstance(make, bytes):
        path.write_bytes(make)
    else:
        torch.save(make(path), path, pickle_module=pickle)


@pytest.mark.parametrize("make, words", [
    pytest.param(b"images,labels\n1,2\n", "not a tensor file (not in torch.save's format", id="a CSV file"),
    pytest.param(b"", "not a tensor file (empty or cut short", id="an empty file"),
    pytest.param(lambda p: {**good_tensors(), "train_images": _Exploit(p.with_name("pwned"))},
                 "refused for safety", id="a pickle that runs code"),
    pytest.param(lambda p: [good_tensors()], "expected a mapping of tensors", id="a list"),
    pytest.param(lambda p: {k: v for k, v in good_tensors().items() if k != "test_labels"},
                 "wrong keys: expected train_images, train_labels, test_images, test_labels; missing test_labels",
                 id="a key missing"),
    pytest.param(lambda p: {"images": 1, "labels": 2}, "missing train_images", id="other keys"),
    pytest.param(lambda p: {**good_tensors(), "train_labels": torch.arange(20) % 10 + 1},
                 "train_labels: expected classes 0 .. 9, found 1 .. 10 (2 label(s) out of range)", id="label 10"),
    pytest.param(lambda p: {**good_tensors(), "test_labels": torch.tensor([0, 1, -1, 2, 3])},
                 "test_labels: expected classes 0 .. 9, found -1 .. 3", id="label -1"),
    pytest.param(lambda p: {**good_tensors(), "train_images": torch.zeros(20, 28, 28)},
                 "train_images: expected a 3-D torch.uint8 tensor, found 3-D torch.float32", id="float images"),
    pytest.param(lambda p: {**good_tensors(), "train_labels": torch.zeros(19, dtype=torch.long)},
                 "train: expected as many labels as images (at least one), found 20 images and 19 labels",
                 id="fewer labels than images"),
])
def test_a_bad_data_file_for_train(tmp_path, capsys, make, words):
    bad = tmp_path / "data.pt"
    _write(bad, make)
    out = tmp_path / "run"
    argv = ["train", "--variant", "v", "--loss", "cross_entropy", "--seed", "0", "--train-size", "10",
            "--val-size", "5", "--batch-size", "5", "--epochs", "1", "--hidden", "8", "--device", "cpu",
            "--data", str(bad), "--out-dir", str(out)]
    assert cli.main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and str(bad) in errors[0] and words in errors[0], errors
    assert "weights_only=False" not in errors[0] and not (tmp_path / "pwned").exists()
    assert not out.exists()


# --- a data step killed with SIGKILL -------------------------------------------------------------

def test_a_data_step_killed_with_SIGKILL_is_cleaned_up_by_the_next(real_mirror, tiny_mirror, tmp_path):
    parent = tmp_path / "resources" / "data"
    cmd = [f"{BIN}/lossbench", "data", "--out", str(parent / "mnist"), "--mirror", str(real_mirror)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(parent.glob(".mnist-tmp-*/torchvision")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = list(parent.glob(".mnist-tmp-*"))
    assert len(left) == 1 and f"-{proc.pid}-" in left[0].name, left  # what the killed step left
    # a live concurrent step's folder (this process) and another host's are not touched
    live = parent / f".fashion_mnist-tmp-{data.host_tag()}-{os.getpid()}-abcdefgh"
    other_host = parent / ".mnist-tmp-elsewhere-1-abcdefgh"
    live.mkdir()
    other_host.mkdir()
    data.prepare("mnist", parent / "mnist", mirror=str(tiny_mirror))
    assert sorted(p.name for p in parent.iterdir()) == sorted(["mnist", live.name, other_host.name])


# --- deleting the manifest changes nothing training depends on ---------------------------------

@pytest.mark.slow
def test_deleting_the_manifest_then_changing_the_title_retrains_nothing(real_mirror, tmp_path):
    config = write_config(tmp_path, tiny_config(seeds=[0], variants={}, horizon=None, lr_study=None))
    env = {data.MIRROR_ENV: str(real_mirror)}
    snakemake(tmp_path, config=config, env=env)
    runs = sorted((tmp_path / "results" / "mnist" / "runs").rglob("*.*"))
    before = {p: p.stat().st_mtime_ns for p in runs}
    (tmp_path / "resources" / "data" / "mnist" / "manifest.json").unlink()
    # and a temp folder that an earlier data step, killed, left (its process is gone)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / "resources" / "data" / f".mnist-tmp-{data.host_tag()}-{int(dead.stdout)}-abcdefgh"
    stale.mkdir()
    retitled = write_config(tmp_path, tiny_config(seeds=[0], variants={}, horizon=None, lr_study=None,
                                                  report_title="Retitled"))

    planned = plan(tmp_path, config=retitled, env=env)
    assert "prepare_data" in planned.counts and "train" not in planned.counts, planned.counts
    snakemake(tmp_path, config=retitled, env=env)
    assert {p: p.stat().st_mtime_ns for p in runs} == before  # no run was trained again
    assert plan(tmp_path, config=retitled, env=env).jobs == ()
    assert not stale.exists()
    manifest = json.loads((tmp_path / "resources" / "data" / "mnist" / "manifest.json").read_text())
    assert manifest["data_pt_sha256"] == data.sha256_file(tmp_path / "resources" / "data" / "mnist" / "data.pt")
    assert "Retitled" in (tmp_path / "reports" / "html" / "mnist" / "index.html").read_text()


# --- device: cuda where no GPU is visible ----------------------------------------------------------

DEVICE_RUN = """
import sys, torch
from lossbench.config import TrainConfig
from lossbench.errors import LossbenchError
from lossbench.train import train
tensors = {"train_images": torch.zeros(20, 28, 28, dtype=torch.uint8), "train_labels": torch.arange(20) % 10,
           "test_images": torch.zeros(5, 28, 28, dtype=torch.uint8), "test_labels": torch.arange(5)}
try:
    train(TrainConfig(variant="v", loss="cross_entropy", seed=0, train_size=10, val_size=5, hidden=(8,),
                      batch_size=5, epochs=1, device=sys.argv[1]), tensors)
except LossbenchError as exc:
    print(exc)
    sys.exit(1)
"""


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_device_cuda_where_no_gpu_is_visible(tmp_path, device):
    import socket

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU visible, whatever the machine has
    out = subprocess.run([sys.executable, "-c", DEVICE_RUN, device], capture_output=True, text=True, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    host = socket.gethostname()
    assert out.stdout.startswith(f"device: {device} asked for, but no CUDA GPU is visible (host {host}, "
                                 "CUDA_VISIBLE_DEVICES=''; torch "), out.stdout
    assert "Traceback" not in out.stderr
