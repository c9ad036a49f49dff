"""The command line: a user's mistake is one error line (exit 2 for a usage error, 1 for a bad input file or
folder); a bug keeps its traceback; every help ends with an example that runs as written."""

from __future__ import annotations

import glob
import json
import shlex
import subprocess
import sys

import pandas as pd
import pytest
import torch

from helpers import ROOT
from lossbench import cli, tables

NOTEBOOK = ROOT / "reports" / "notebooks" / "comparison.py"


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lossbench.cli", *argv], capture_output=True, text=True)


@pytest.mark.parametrize("argv, message, status", [
    (["train", "--variant", "v", "--loss", "cross_entropy", "--seed", "0", "--data", "/nonexistent/data.pt",
      "--out-dir", "OUT"], "/nonexistent/data.pt: data file not found", 1),
    (["report", "--notebook", str(NOTEBOOK), "--out", "o.html", "--title", "t", "--parameters", "{not json"],
     "--parameters: expected JSON", 2),
    (["report", "--notebook", str(NOTEBOOK), "--out", "o.html"],
     "--title: expected for one page (or --pages for several), found none", 2),
    (["report", "--notebook", str(NOTEBOOK), "--out", "o.html", "--pages", '[{"out": "a.html", "title": "a"}]'],
     "--pages: expected alone (each page gives its own out, title, parameters and executed_notebook), found also "
     "--out", 2),
    (["report", "--notebook", str(NOTEBOOK), "--pages", "[]"], "--pages: expected at least one page, found an empty "
     "list", 2),
    (["report", "--notebook", str(NOTEBOOK), "--pages", '[{"out": "a.html"}]'],
     "--pages[0].title: expected a non-empty string, found nothing", 2),
    (["report", "--notebook", str(NOTEBOOK), "--pages", '[{"out": "a.html", "title": "a", "parameters": [1]}]'],
     "--pages[0].parameters: expected a JSON object, found a list", 2),
    (["report", "--notebook", str(NOTEBOOK), "--pages", '[{"out": "a.html", "title": "a", "params": {}}]'],
     "--pages[0]: expected the keys out, title, parameters, executed_notebook, found also params", 2),
    (["report", "--notebook", str(NOTEBOOK), "--pages", '[{"out": ".", "title": "a"}]'],
     "--pages[0].out: '.' is a folder; expected a file name", 2),
    (["compare", "/nonexistent/a", "/nonexistent/b"], "not a finished run folder", 1),
    (["data", "--dataset", "kmnist", "--out", "OUT"], "argument --dataset: expected one of mnist", 2),
])
def test_a_users_mistake_is_one_error_line(tmp_path, argv, message, status):
    out = subprocess.run([sys.executable, "-m", "lossbench.cli", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == status
    assert message in out.stderr and "ERROR" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "OUT").exists()


def test_an_unknown_loss_is_a_users_mistake(tiny_data, tmp_path):
    import torch

    torch.save(tiny_data, tmp_path / "data.pt")
    out = run_cli("train", "--variant", "v", "--loss", "hinge", "--seed", "0", "--train-size", "200", "--val-size",
                  "50", "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "run"))
    assert out.returncode == 2 and "--loss: unknown loss 'hinge'" in out.stderr and "Traceback" not in out.stderr


def test_a_training_command_writes_its_own_benchmark_record_at_its_end(tiny_data, tmp_path):
    """--benchmark: the process's wall time, peak memory, I/O and CPU in Snakemake's benchmark columns (what the
    workflow's benchmarks/ holds); a command that fails writes none."""
    torch.save(tiny_data, tmp_path / "data.pt")
    flags = ["--variant", "v", "--loss", "cross_entropy", "--seed", "0", "--epochs", "1", *TINY,
             "--data", str(tmp_path / "data.pt")]
    out = run_cli("train", *flags, "--out-dir", str(tmp_path / "run"), "--benchmark", str(tmp_path / "b" / "run.tsv"))
    assert out.returncode == 0, out.stderr
    record = pd.read_csv(tmp_path / "b" / "run.tsv", sep="\t")
    assert list(record.columns) == ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                                    "mean_load", "cpu_time"] and len(record) == 1
    row = record.iloc[0]
    assert 0.5 < row["s"] < 300 and 100 < row["max_rss"] <= row["max_vms"]  # torch alone is over 100 MiB
    assert 0.5 < row["cpu_time"] <= 2.5 * row["s"] and row["mean_load"] == pytest.approx(
        100 * row["cpu_time"] / row["s"], rel=0.02, abs=1)
    assert row["io_out"] >= 0 and pd.isna(row["max_uss"]) and row["h:m:s"].count(":") == 2
    failed = run_cli("train", *flags, "--loss", "hinge", "--out-dir", str(tmp_path / "run2"), "--benchmark",
                     str(tmp_path / "b" / "failed.tsv"))
    assert failed.returncode != 0 and not (tmp_path / "b" / "failed.tsv").exists()


def test_a_bug_shows_its_traceback(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise KeyError("a bug, not a user's mistake")

    monkeypatch.setattr(tables, "write_tables", broken)
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["gather", "--runs", str(tmp_path / "metrics.json"), "--out-dir", str(tmp_path)])


# --- help that teaches: every help ends with an example that runs as written ---------------------

SUBCOMMANDS = sorted(cli.EXAMPLES.keys() - {"lossbench"})
TINY = ["--train-size", "200", "--val-size", "50", "--hidden", "16", "--batch-size", "50"]


def helps() -> dict[str, str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, cli.argparse._SubParsersAction))
    return {"lossbench": parser.format_help(), **{name: p.format_help() for name, p in action.choices.items()}}


def test_every_subcommand_has_an_example():
    texts = helps()
    assert sorted(texts.keys() - {"lossbench"}) == SUBCOMMANDS  # an example for each, none for a lost one
    for name, text in texts.items():
        example = text.rstrip().split("\nExample:\n")
        assert len(example) == 2, f"`lossbench {name} --help` does not end with an example"
        assert example[1].splitlines() == [f"  {line}" for line in cli.EXAMPLES[name]]
        if name != "lossbench":
            assert any(line.startswith(f"lossbench {name} ") for line in cli.EXAMPLES[name])


@pytest.mark.parametrize("argv", [["--help"], ["compare", "--help"], ["figure", "--help"]])
def test_python_m_lossbench_helps_and_exits_0(argv):
    out = subprocess.run([sys.executable, "-m", "lossbench", *argv], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "Example:" in out.stdout and out.stderr == "", out.stderr


@pytest.mark.parametrize("argv, words", [
    (["train", "--epohcs", "3"], "the following arguments are required"),
    (["trian"], "invalid choice: 'trian'"),
    (["gather", "--runs", "m.json", "--out-dir", "t", "--epohcs", "3"], "unrecognized arguments: --epohcs 3"),
    (["bench", "--repeats", "0"], "argument --repeats: expected an integer >= 1"),
])
def test_a_usage_error_exits_2_in_one_line(argv, words):
    out = subprocess.run([sys.executable, "-m", "lossbench", *argv], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "ERROR" in out.stderr, out.stderr
    assert words in out.stderr and "usage:" not in out.stderr


def example(command: str, tmp_path, data_pt) -> list[list[str]]:
    """The example's lossbench commands, as a shell would split them, with the data, /tmp/lb and
    the network's size made tiny (the flags are the example's, the sizes the test's)."""
    commands = []
    for line in cli.EXAMPLES[command]:
        if not line.startswith("lossbench "):
            continue
        argv = shlex.split(line.replace(cli.DATA, str(data_pt)).replace("/tmp/lb", str(tmp_path)), comments=True)[1:]
        argv = [x for arg in argv for x in (sorted(glob.glob(arg)) if "*" in arg else [arg])]
        commands.append(argv + (TINY if argv[0] in ("train", "train-seeds") else []))
    return commands


def test_the_examples_run_as_written_on_tiny_data(tiny_data, tmp_path, monkeypatch):
    """train, train-seeds, gather, compare, index and figure, in the order a user would run them
    (data downloads and bench times real MNIST: their examples are only parsed here)."""
    torch.save(tiny_data, tmp_path / "data.pt")
    monkeypatch.chdir(ROOT)
    for command in ("train", "train-seeds", "gather", "compare", "index", "figure"):
        for argv in example(command, tmp_path / "lb", tmp_path / "data.pt"):
            assert cli.main(argv) == 0, argv
    assert (tmp_path / "lb" / "index.html").is_file()
    assert (tmp_path / "lb" / "key-figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for command in ("data", "bench"):
        args = cli.build_parser().parse_args(example(command, tmp_path / "lb", tmp_path / "data.pt")[0])
        assert args.func.__name__ == f"cmd_{command}"


@pytest.mark.slow
def test_the_report_example_runs_as_written(tiny_data, tmp_path, monkeypatch):
    torch.save(tiny_data, tmp_path / "data.pt")
    monkeypatch.chdir(ROOT)
    for command in ("train", "gather", "report"):
        for argv in example(command, tmp_path / "lb", tmp_path / "data.pt"):
            assert cli.main(argv) == 0, argv
    assert "<html" in (tmp_path / "lb" / "comparison.html").read_text()


def test_the_figure_refuses_a_table_edited_by_hand(tiny_data, tmp_path, capsys):
    torch.save(tiny_data, tmp_path / "data.pt")
    for command in ("train", "gather"):
        for argv in example(command, tmp_path / "lb", tmp_path / "data.pt"):
            assert cli.main(argv) == 0
    epochs = tmp_path / "lb" / "tables" / "epochs.csv"
    epochs.write_text(epochs.read_text() + "\n")
    assert cli.main(["figure", "--tables", str(epochs.parent), "--out", str(tmp_path / "f.png")]) == 1
    assert "is not the table gather wrote" in capsys.readouterr().err and not (tmp_path / "f.png").exists()


# --- the number of classes and the optimiser (issue #22) ------------------------------------------------


@pytest.mark.parametrize("command", ["train", "train-seeds"])
def test_classes_and_optimizer_flags_train_and_are_recorded_then_gathered(tiny_data, tmp_path, command):
    torch.save(tiny_data, tmp_path / "data.pt")
    seeds = ["--seed", "0"] if command == "train" else ["--seeds", "0", "1"]
    argv = [command, "--variant", "v", "--loss", "cross_entropy", *seeds, "--classes", "3", "--optimizer", "adam",
            "--lr", "0.003", "--train-size", "60", "--val-size", "20", "--hidden", "16", "--batch-size", "20",
            "--epochs", "1", "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "v")]
    assert cli.main(argv) == 0
    found = sorted(glob.glob(str(tmp_path / "v" / "**" / "metrics.json"), recursive=True))
    assert len(found) == (1 if command == "train" else 2)
    runs = tables.write_tables(found, tmp_path / "tables")["runs"]
    assert list(runs["classes"]) == [3] * len(found) and list(runs["optimizer"]) == ["adam"] * len(found)
    metrics = json.loads(open(found[0]).read())
    assert (metrics["config"]["classes"], metrics["config"]["optimizer"]) == (3, "adam")
    assert int(pd.read_csv(tmp_path / "v" / ("" if command == "train" else "seed-0") / "predictions.csv")[
        "label"].max()) == 2  # the test set of classes 0, 1, 2 only


@pytest.mark.parametrize("flags, words, status", [
    (["--classes", "1"], "argument --classes: expected an integer >= 2, found '1'", 2),
    (["--classes", "11"], "--classes 11: expected at most 10 (MNIST's classes; a run uses the first N)", 2),
    (["--optimizer", "lbfgs"], "argument --optimizer: expected one of sgd, adam, nsgd, found 'lbfgs'", 2),
    (["--classes", "2", "--train-size", "60", "--val-size", "20"],
     "train_size + val_size: 60 + 20 = 80 exceeds the", 1),
])
@pytest.mark.parametrize("command", ["train", "train-seeds"])
def test_classes_and_optimizer_flags_refuse_what_cannot_run_in_one_line(tiny_data, tmp_path, capsys, command, flags,
                                                                        words, status):
    torch.save(tiny_data, tmp_path / "data.pt")
    seeds = ["--seed", "0"] if command == "train" else ["--seeds", "0"]
    argv = [command, "--variant", "v", "--loss", "cross_entropy", *seeds, "--train-size", "40", "--val-size", "10",
            "--batch-size", "10", *flags, "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "v")]
    assert cli.main(argv) == status
    err = capsys.readouterr().err
    assert words in err and err.count("ERROR") == 1 and "Traceback" not in err
    assert not (tmp_path / "v").exists()
