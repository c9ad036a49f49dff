"""The command line by hand: every bad argument, run file or folder state, injected for real, one row each.

Each row calls ``lossbench`` (``cli.main``, or a real process where the process matters) with one
thing wrong and checks the promise: one ERROR line naming the argument or file and what was
expected, exit status 2 for a bad argument (a usage error, argparse's convention; ``cli.USAGE``) and
1 for a bad file or folder, no traceback, and nothing started, written or lost (no run folder, no
temporary folder, the previous tables byte for byte). ``pytest tests/test_faults_cli.py -v``
lists the rows; README's "What happens when things go wrong" sums them up.
"""

from __future__ import annotations

import json
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import ROOT
from lossbench import cli, packed, runfolder, tables
from lossbench import train as train_module
from lossbench.config import TrainConfig
from lossbench.errors import LossbenchError
from lossbench.train import train

NOTEBOOK = ROOT / "reports" / "notebooks" / "comparison.py"
TINY = dict(variant="ce", loss="cross_entropy", train_size=200, val_size=50, hidden=(16,), lr=0.5, batch_size=50,
            epochs=2)
TRAIN_FLAGS = ["--variant", "ce", "--loss", "cross_entropy", "--seed", "0", "--train-size", "200", "--val-size",
               "50", "--hidden", "16", "--batch-size", "50", "--epochs", "1"]


def one_error_line(capsys, *words: str) -> str:
    """The command printed exactly one line, an ERROR holding every one of ``words``, and no traceback."""
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and " ERROR " in err and "Traceback" not in err, err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    return err


def leftovers(root: Path) -> list[str]:
    """Temporary folders or files left anywhere under ``root``."""
    return sorted(p.name for p in root.rglob(".*") if "tmp" in p.name)


@pytest.fixture
def data_pt(tiny_data, tmp_path) -> Path:
    torch.save(tiny_data, tmp_path / "data.pt")
    return tmp_path / "data.pt"


# --- arguments: refused before any work ---------------------------------------------------------

A_FILE = "{tmp}/a-file"  # an existing file where a folder is wanted

BAD_TRAIN_ARGUMENTS = {
    "out-dir is a file": (["--out-dir", A_FILE], ["argument --out-dir", "a-file' is a file; expected a folder"]),
    "out-dir under a file": (["--out-dir", A_FILE + "/run"], ["argument --out-dir", "a-file is a file, not a folder"]),
    "val-size 0": (["--val-size", "0"], ["argument --val-size: expected an integer >= 1, found '0'"]),
    "batch-size 0": (["--batch-size", "0"], ["argument --batch-size: expected an integer >= 1, found '0'"]),
    "epochs -3": (["--epochs", "-3"], ["argument --epochs: expected an integer >= 1, found '-3'"]),
    "epochs 1.0": (["--epochs", "1.0"], ["argument --epochs: expected an integer >= 1, found '1.0'"]),
    "threads 0": (["--threads", "0"], ["argument --threads: expected an integer >= 1, found '0'"]),
    "train-size 0": (["--train-size", "0"], ["argument --train-size: expected an integer >= 1"]),
    "hidden width 0": (["--hidden", "16", "0"], ["argument --hidden: expected an integer >= 1, found '0'"]),
    "lr 0": (["--lr", "0"], ["argument --lr: expected a finite number > 0, found '0'"]),
    "lr negative": (["--lr", "-0.1"], ["argument --lr: expected a finite number > 0, found '-0.1'"]),
    "lr nan": (["--lr", "nan"], ["argument --lr: expected a finite number > 0, found 'nan'"]),
    "lr inf": (["--lr", "inf"], ["argument --lr: expected a finite number > 0, found 'inf'"]),
    "lr not a number": (["--lr", "fast"], ["argument --lr: expected a finite number > 0, found 'fast'"]),
    "seed negative": (["--seed", "-1"], ["argument --seed: expected an integer from 0 to", "found '-1'"]),
    "seed too large": (["--seed", str(2**64)], ["argument --seed: expected an integer from 0 to 18446744073709551615"]),
    "device unknown": (["--device", "gpu"], ["argument --device: expected auto, cpu, cuda or cuda:N, found 'gpu'"]),
    "dataset unknown": (["--dataset", "kmnist"], ["argument --dataset: expected one of mnist", "found 'kmnist'"]),
    "variant with a newline": (["--variant", "ce\n"], ["argument --variant: expected a name"]),
    "batch larger than the split": (["--batch-size", "500"], ["--batch-size 500: larger than --train-size 200"]),
    "loss not registered": (["--loss", "hinge"], ["unknown loss 'hinge'; registered:"]),
    "flag misspelt": (["--epohcs", "3"], ["unrecognized arguments: --epohcs 3", "lossbench train --help"]),
    "boolean not a boolean": (["--cuda-graph", "maybe"], ["argument --cuda-graph: expected true or false"]),
}


@pytest.mark.parametrize("extra, words", BAD_TRAIN_ARGUMENTS.values(), ids=BAD_TRAIN_ARGUMENTS.keys())
def test_train_refuses_a_bad_argument_before_training(data_pt, tmp_path, capsys, extra, words):
    (tmp_path / "a-file").write_text("not a folder")
    extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
    argv = ["train", *TRAIN_FLAGS, "--data", str(data_pt), "--out-dir", str(tmp_path / "run"), *extra]
    assert cli.main(argv) == cli.USAGE
    one_error_line(capsys, *words)  # one line: no epoch was logged, training never started
    assert not (tmp_path / "run").exists() and leftovers(tmp_path) == []
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_train_refuses_a_missing_required_flag(data_pt, capsys):
    assert cli.main(["train", "--variant", "ce", "--loss", "cross_entropy", "--data", str(data_pt),
                     "--out-dir", "run"]) == cli.USAGE
    one_error_line(capsys, "the following arguments are required: --seed")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_train_on_cuda_without_a_gpu_is_refused_at_the_start(data_pt, tmp_path, capsys):
    argv = ["train", *TRAIN_FLAGS, "--device", "cuda", "--data", str(data_pt), "--out-dir", str(tmp_path / "run")]
    assert cli.main(argv) == 1
    one_error_line(capsys, "device: cuda asked for, but no CUDA GPU is visible (host ", "CUDA_VISIBLE_DEVICES",
                   "torch ")


BAD_SEEDS_ARGUMENTS = {
    "seeds repeated": (["--seeds", "1", "1"], ["--seeds: expected distinct seeds, found 1 1"], cli.USAGE),
    "seed negative": (["--seeds", "0", "-2"], ["argument --seeds: expected an integer from 0 to", "found '-2'"],
                      cli.USAGE),
    "a seed folder is a file": (["--seeds", "0", "1"], ["--out-dir", "run/seed-1: is a file; expected a folder"], 1),
    "out-dir is a file": (["--seeds", "0", "--out-dir", A_FILE], ["argument --out-dir", "is a file"], cli.USAGE),
}


@pytest.mark.parametrize("extra, words, status", BAD_SEEDS_ARGUMENTS.values(), ids=BAD_SEEDS_ARGUMENTS.keys())
def test_train_seeds_refuses_a_bad_argument_before_training(data_pt, tmp_path, capsys, monkeypatch, extra, words,
                                                            status):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "seed-1").write_text("in the way")
    started = []
    monkeypatch.setattr(packed, "run_epochs", lambda *a, **k: started.append(1))
    flags = [f for f in TRAIN_FLAGS if f not in ("--seed", "0")]
    extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
    argv = ["train-seeds", *flags, "--data", str(data_pt), "--out-dir", str(tmp_path / "run"), *extra]
    assert cli.main(argv) == status
    one_error_line(capsys, *words)
    assert started == [] and sorted(p.name for p in (tmp_path / "run").iterdir()) == ["seed-1"]


def test_the_python_api_refuses_the_same_before_any_work(tiny_data, tmp_path):
    """train(), train_seeds() and bench.run() check what the command line checks, for callers in Python."""
    from lossbench import bench
    from lossbench.config import ConfigError

    (tmp_path / "a-file").write_text("")
    with pytest.raises(runfolder.RunFolderError, match="a-file: is a file; expected a folder"):
        train(TrainConfig(seed=0, **TINY), tiny_data, out_dir=tmp_path / "a-file")
    with pytest.raises(runfolder.RunFolderError, match="a-file is a file; expected a folder"):
        packed.train_seeds([TrainConfig(seed=0, **TINY)], tiny_data, out_dir=tmp_path / "a-file" / "v")
    for bad in ({"repeats": 0}, {"epochs": 0}, {"packed": -1}, {"threads": 0}):
        with pytest.raises(ConfigError, match=f"--{next(iter(bad))}: expected an integer >= "):
            bench.run(str(tmp_path / "no-data.pt"), **bad)


def test_a_bad_argument_in_a_real_process_is_one_line_and_exit_2(data_pt, tmp_path):
    """As a user or Snakemake sees it: stderr is one ERROR line (no usage dump), the exit status argparse's 2."""
    (tmp_path / "a-file").write_text("")
    out = subprocess.run([sys.executable, "-m", "lossbench.cli", "train", *TRAIN_FLAGS, "--data", str(data_pt),
                          "--out-dir", str(tmp_path / "a-file")], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "ERROR" in out.stderr, out.stderr
    assert "argument --out-dir" in out.stderr and "is a file" in out.stderr


BAD_BENCH_ARGUMENTS = {
    "repeats 0": (["--repeats", "0"], ["argument --repeats: expected an integer >= 1, found '0'"]),
    "epochs 0": (["--epochs", "0"], ["argument --epochs: expected an integer >= 1, found '0'"]),
    "threads 0": (["--threads", "0"], ["argument --threads: expected an integer >= 1, found '0'"]),
    "packed -1": (["--packed", "-1"], ["argument --packed: expected an integer >= 0, found '-1'"]),
    "device unknown": (["--device", "tpu"], ["argument --device: expected auto, cpu, cuda or cuda:N"]),
    "loss not registered": (["--loss", "hinge"], ["unknown loss 'hinge'"]),
    "json is a folder": (["--json", "{tmp}"], ["argument --json", "is a folder; expected a file name"]),
}


@pytest.mark.parametrize("extra, words", BAD_BENCH_ARGUMENTS.values(), ids=BAD_BENCH_ARGUMENTS.keys())
def test_bench_refuses_a_bad_argument_before_timing(data_pt, tmp_path, capsys, monkeypatch, extra, words):
    from lossbench import bench

    started = []
    monkeypatch.setattr(bench, "run", lambda *a, **k: started.append(1))
    argv = ["bench", "--data", str(data_pt), *[arg.replace("{tmp}", str(tmp_path)) for arg in extra]]
    assert cli.main(argv) == cli.USAGE
    one_error_line(capsys, *words)
    assert started == []


BAD_PAGE_ARGUMENTS = {
    "report --parameters a list": (
        ["report", "--parameters", "[1, 2]"], ["--parameters: expected a JSON object", "found a list"]),
    "report --parameters a string": (
        ["report", "--parameters", '"title"'], ["--parameters: expected a JSON object", "found a string"]),
    "report --parameters not JSON": (["report", "--parameters", "{title: x}"], ["--parameters: expected JSON"]),
    "report --nav without titles": (
        ["report", "--nav", '[{"href": "a.html"}]'], ["--nav[0].title: expected a non-empty string, found nothing"]),
    "report --notebook missing": (
        ["report", "--notebook", "{tmp}/nope.py"], ["argument --notebook", "nope.py': expected an existing file"]),
    "report --out a folder": (["report", "--out", "{tmp}"], ["argument --out", "is a folder; expected a file name"]),
    "report --title empty": (["report", "--title", " "], ["argument --title: expected a non-empty title"]),
    "index --pages without titles": (
        ["index", "--pages", '[{"href": "a.html"}]'], ["--pages[0].title: expected a non-empty string, found nothing"]),
    "index --pages with an empty href": (
        ["index", "--pages", '[{"href": "", "title": "A"}]'], ["--pages[0].href: expected a non-empty string"]),
    "index --pages an object": (
        ["index", "--pages", '{"href": "a.html", "title": "A"}'], ["--pages: expected a JSON list of objects"]),
    "index --pages entry a string": (["index", "--pages", '["a.html"]'], ["--pages[0]: expected an object"]),
    "index --pages description not text": (
        ["index", "--pages", '[{"href": "a.html", "title": "A", "description": 3}]'],
        ["--pages[0].description: expected a string, found a number"]),
    "index --summary missing": (
        ["index", "--summary", "{tmp}/none.csv"], ["argument --summary", "none.csv': expected an existing file"]),
}
PAGE_DEFAULTS = {
    "report": {"--notebook": str(NOTEBOOK), "--out": "{tmp}/page.html", "--title": "T"},
    "index": {"--out": "{tmp}/index.html", "--title": "T", "--pages": "[]", "--summary": "{tmp}/summary.csv"},
}


@pytest.mark.parametrize("argv, words", BAD_PAGE_ARGUMENTS.values(), ids=BAD_PAGE_ARGUMENTS.keys())
def test_report_and_index_refuse_a_bad_argument_before_rendering(tmp_path, capsys, monkeypatch, argv, words):
    from lossbench import report

    rendered = []
    monkeypatch.setattr(report, "render", lambda *a, **k: rendered.append(1))
    monkeypatch.setattr(report, "write_index", lambda *a, **k: rendered.append(1))
    (tmp_path / "summary.csv").write_text("variant\n")
    command, *given = argv
    flags = {**PAGE_DEFAULTS[command], **dict(zip(given[::2], given[1::2]))}
    assert cli.main([command, *(x.replace("{tmp}", str(tmp_path)) for kv in flags.items() for x in kv)]) == cli.USAGE
    one_error_line(capsys, *words)
    assert rendered == [] and not list(tmp_path.glob("*.html"))


# --- gather: a run whose files disagree with its metrics is refused, naming the file -------------

@pytest.fixture(scope="module")
def good_runs(tmp_path_factory) -> Path:
    """Two real tiny runs (one ok, one diverged) and the tables gathered from them."""
    from helpers import synthetic_digits

    root = tmp_path_factory.mktemp("gather")
    (train_x, train_y), (test_x, test_y) = synthetic_digits(300, seed=1), synthetic_digits(100, seed=2)
    data = {"train_images": torch.from_numpy(train_x), "train_labels": torch.from_numpy(train_y).long(),
            "test_images": torch.from_numpy(test_x), "test_labels": torch.from_numpy(test_y).long()}
    train(TrainConfig(seed=0, **TINY), data, out_dir=root / "runs" / "ce" / "seed-0")
    boom = TrainConfig(seed=0, **{**TINY, "variant": "boom", "lr": 1e30})  # diverges
    train(boom, data, out_dir=root / "runs" / "boom" / "seed-0")
    return root / "runs"


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def cut_lines(path: Path, keep: int) -> None:
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:keep]))


def flip_last_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))


def set_last(path: Path, column: str, value) -> None:
    import pandas as pd

    frame = pd.read_csv(path)
    frame.loc[frame.index[-1], column] = value
    frame.to_csv(path, index=False)


def wrong_prediction(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    index, label, predicted, *rest = lines[1].split(",")
    lines[1] = ",".join([index, label, str((int(label) + 1) % 10), *rest])
    path.write_text("".join(lines))


FILE_FAULTS = {  # file of the run (seed-0 of ce) -> what is done to it, words of the error
    "metrics.json a JSON list": ("metrics.json", lambda p: p.write_text("[1, 2]"),
                                 ["expected a JSON object (a run's metrics), found a list"]),
    "metrics.json not JSON": ("metrics.json", lambda p: p.write_text(p.read_text()[:40]), ["not valid JSON"]),
    "metrics.json missing": ("metrics.json", Path.unlink, ["not found (expected a run's metrics.json)"]),
    "accuracy a string": ("metrics.json", lambda p: edit_json(p, test_accuracy="0.9"),
                          ['test_accuracy is "0.9" (a string); expected a number in [0, 1]']),
    "accuracy 7.5": ("metrics.json", lambda p: edit_json(p, val_accuracy=7.5),
                     ["val_accuracy is 7.5 (a number); expected a number in [0, 1]"]),
    "seed negative": ("metrics.json", lambda p: edit_json(p, seed=-1), ["seed is -1", "expected an integer >= 0"]),
    "seed a boolean": ("metrics.json", lambda p: edit_json(p, seed=True), ["seed is true (a boolean)"]),
    "a key missing": ("metrics.json", lambda p: edit_json(p, config={"lr": 0.5}),
                      ["config.batch_size is missing"]),
    "epochs_run not the config's": ("metrics.json", lambda p: edit_json(p, epochs_run=5),
                                    ["status ok but epochs_run 5", "expected epochs_run = config.epochs (2)"]),
    "history empty": ("history.csv", lambda p: p.write_text(""), ["empty; expected a header and one row per"]),
    "history header only": ("history.csv", lambda p: cut_lines(p, 1),
                            ["no rows; metrics.json says epochs_run 2, so expected epochs 0-2 (3 rows)"]),
    "history cut to its first row": ("history.csv", lambda p: cut_lines(p, 2),
                                     ["epochs 0-0 (1 row); metrics.json says epochs_run 2"]),
    "history cut mid-line": ("history.csv", lambda p: p.write_text(p.read_text()[:-30]),
                             ["line 4: ", "fields, the header has", "(the file is cut or altered)"]),
    "history missing": ("history.csv", Path.unlink, ["history file (one row per epoch) not found"]),
    "history value altered": ("history.csv", lambda p: p.write_text(p.read_text().replace("0.", "0.0", 1)),
                              ["history.csv: SHA-256", "is not the", "recorded in metrics.json"]),
    "history accuracy altered": ("history.csv", lambda p: set_last(p, "val_accuracy", 0.123),
                                 ["last epoch's val_accuracy 0.123 is not metrics.json's"]),
    "predictions missing": ("predictions.csv", Path.unlink, ["predictions file (one row per test image) not found"]),
    "predictions a row short": ("predictions.csv", lambda p: cut_lines(p, 100),
                                ["99 rows; metrics.json records 100 (one per test image)"]),
    "predictions disagree with the accuracy": ("predictions.csv", wrong_prediction,
                                               ["gives test accuracy", "metrics.json says"]),
    "model missing": ("model.pt", Path.unlink, ["model.pt: not found beside metrics.json"]),
    "model altered": ("model.pt", flip_last_byte, ["model.pt: SHA-256", "recorded in metrics.json"]),
}


@pytest.mark.parametrize("name, fault, words", FILE_FAULTS.values(), ids=FILE_FAULTS.keys())
def test_gather_refuses_a_run_whose_files_disagree_and_keeps_the_previous_tables(
        good_runs, tmp_path, capsys, name, fault, words):
    runs = tmp_path / "runs"
    shutil.copytree(good_runs, runs)
    metrics = [str(runs / "ce" / "seed-0" / "metrics.json"), str(runs / "boom" / "seed-0" / "metrics.json")]
    assert cli.main(["gather", "--runs", *metrics, "--out-dir", str(tmp_path / "tables")]) == 0
    previous = {p.name: p.read_bytes() for p in (tmp_path / "tables").iterdir()}
    capsys.readouterr()

    fault(runs / "ce" / "seed-0" / name)
    assert cli.main(["gather", "--runs", *metrics, "--out-dir", str(tmp_path / "tables")]) == 1
    one_error_line(capsys, str(runs / "ce" / "seed-0" / name), *words)
    assert {p.name: p.read_bytes() for p in (tmp_path / "tables").iterdir()} == previous  # untouched, no temp files


def test_gather_refuses_an_out_dir_that_is_a_file_and_no_runs(good_runs, tmp_path, capsys):
    (tmp_path / "tables").write_text("")
    assert cli.main(["gather", "--runs", str(good_runs / "ce" / "seed-0" / "metrics.json"),
                     "--out-dir", str(tmp_path / "tables")]) == cli.USAGE
    one_error_line(capsys, "argument --out-dir", "is a file; expected a folder")
    with pytest.raises(tables.GatherError, match="no metrics.json given"):
        tables.write_tables([], tmp_path / "out")


def test_gather_keeps_the_previous_tables_when_a_table_cannot_be_written(good_runs, tmp_path, monkeypatch):
    """All three tables are written aside first: if writing the last fails, none is replaced."""
    paths = [good_runs / "ce" / "seed-0" / "metrics.json"]
    tables.write_tables(paths, tmp_path)
    previous = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = tables.pd.DataFrame.to_csv

    def failing(frame, path, **kwargs):
        if "summary" in str(path):
            raise OSError(28, "No space left on device")
        return real(frame, path, **kwargs)

    monkeypatch.setattr(tables.pd.DataFrame, "to_csv", failing)
    with pytest.raises(OSError):
        tables.write_tables([*paths, good_runs / "boom" / "seed-0" / "metrics.json"], tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == previous


def test_metrics_json_records_the_checksums_of_the_run_files(good_runs):
    run = good_runs / "ce" / "seed-0"
    files = json.loads((run / "metrics.json").read_text())["files"]
    assert set(files) == {"history.csv", "predictions.csv", "model.pt"}
    for name, record in files.items():
        assert record["sha256"] == runfolder.sha256_file(run / name)
    assert files["history.csv"]["rows"] == 3 and files["predictions.csv"]["rows"] == 100


# --- weights that hold more than tensors ---------------------------------------------------------

class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_refused_pickle_says_so_names_the_file_and_never_suggests_the_unsafe_load(good_runs, tmp_path, capsys):
    shutil.copytree(good_runs / "ce" / "seed-0", tmp_path / "a")
    shutil.copytree(good_runs / "ce" / "seed-0", tmp_path / "b")
    marker = tmp_path / "pwned"
    torch.save({"net.0.weight": _Exploit(marker)}, tmp_path / "b" / "model.pt", pickle_module=pickle)
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    err = one_error_line(capsys, f"{tmp_path / 'b' / 'model.pt'}: refused for safety", "holds pickled objects")
    assert "weights_only=False" not in err and "weights_only" not in err.split("refused")[1]
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # still what torch's refusal is, for code that catches it
        runfolder.load_state_dict(tmp_path / "b" / "model.pt")


@pytest.mark.parametrize("content, words", [
    (b"", "not a readable weights file"),
    (b"PK\x03\x04 not really a zip", "not a readable weights file"),
    (None, "weights file not found"),
], ids=["empty", "not a torch file", "missing"])
def test_a_weights_file_that_cannot_be_read_is_named(good_runs, tmp_path, capsys, content, words):
    shutil.copytree(good_runs / "ce" / "seed-0", tmp_path / "a")
    shutil.copytree(good_runs / "ce" / "seed-0", tmp_path / "b")
    model = tmp_path / "b" / "model.pt"
    model.unlink()
    if content is not None:
        model.write_bytes(content)
        assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
        one_error_line(capsys, str(model), words)
    with pytest.raises(LossbenchError, match=words):
        runfolder.load_state_dict(model)


# --- a run that fails midway leaves no partial run folder -------------------------------------------

def fail_at_the_predictions(*args, **kwargs):
    raise OSError(28, "No space left on device")


def fail_in_epoch_2(original):
    def evaluated_row(epoch, *args, **kwargs):
        if epoch == 2:
            raise RuntimeError("injected fault in epoch 2")
        return original(epoch, *args, **kwargs)
    return evaluated_row


@pytest.mark.parametrize("where", ["in an epoch", "writing the folder"])
@pytest.mark.parametrize("how", ["single", "packed"])
def test_a_run_that_fails_midway_leaves_no_run_folder(tiny_data, tmp_path, monkeypatch, where, how):
    if where == "in an epoch":
        monkeypatch.setattr(train_module, "evaluated_row", fail_in_epoch_2(train_module.evaluated_row))
    else:
        monkeypatch.setattr(runfolder, "write_predictions", fail_at_the_predictions)
    out = tmp_path / "results" / "runs" / "ce"
    with pytest.raises((OSError, RuntimeError)):
        if how == "single":
            train(TrainConfig(seed=0, **TINY), tiny_data, out_dir=out / "seed-0")
        else:
            packed.train_seeds([TrainConfig(seed=s, **TINY) for s in (0, 1)], tiny_data, out_dir=out)
    assert not (tmp_path / "results").exists()  # not the run folder, not the folders above it
    assert leftovers(tmp_path) == []


def test_a_failed_rerun_keeps_the_previous_run_whole(good_runs, tiny_data, tmp_path, monkeypatch):
    run = tmp_path / "seed-0"
    shutil.copytree(good_runs / "ce" / "seed-0", run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    monkeypatch.setattr(runfolder, "write_predictions", fail_at_the_predictions)
    with pytest.raises(OSError):
        train(TrainConfig(seed=0, **TINY), tiny_data, out_dir=run)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before and leftovers(tmp_path) == []


def test_a_rerun_replaces_the_run_folder_and_a_killed_runs_leftovers_go(good_runs, tiny_data, tmp_path):
    run = tmp_path / "seed-0"
    shutil.copytree(good_runs / "ce" / "seed-0", run)
    (run / "notes.txt").write_text("mine")  # a file of the user's in the folder stays
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = "".join(c if c.isalnum() or c == "." else "_" for c in socket.gethostname())
    killed = tmp_path / f".seed-0.tmp-{host}-{dead.stdout.strip()}"  # as a SIGKILLed run leaves it
    killed.mkdir()
    (killed / "model.pt").write_bytes(b"half")
    metrics = train(TrainConfig(seed=0, **{**TINY, "epochs": 1}), tiny_data, out_dir=run)
    assert json.loads((run / "metrics.json").read_text()) == metrics and metrics["epochs_run"] == 1
    assert sorted(p.name for p in run.iterdir()) == sorted([*runfolder.RUN_FILES, "notes.txt"])
    assert leftovers(tmp_path) == []
    assert cli.main(["gather", "--runs", str(run / "metrics.json"), "--out-dir", str(tmp_path / "t")]) == 0


def test_a_run_into_an_empty_folder_snakemake_made_works(tiny_data, tmp_path):
    (tmp_path / "seed-0").mkdir()
    train(TrainConfig(seed=0, **TINY), tiny_data, out_dir=tmp_path / "seed-0")
    assert sorted(p.name for p in (tmp_path / "seed-0").iterdir()) == sorted(runfolder.RUN_FILES)
