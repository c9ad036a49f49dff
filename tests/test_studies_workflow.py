"""The number-of-classes study and the optimiser control in the workflow (rules/classes_study.smk,
rules/optimizer_study.smk): what Snakemake plans (jobs, folders, the flags each job passes), packed and
not, on and off; and one tiny end-to-end run of both that gathers their tables."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from helpers import plan, snakemake, tiny_config, write_config

# Two C, two losses, two lrs, one seed: mse_softmax's grid at C is the reference grid x C^2/2
CLASSES = {"classes": [2, 5], "losses": ["cross_entropy", "mse_softmax"], "lrs": [0.1, 1.0], "seeds": [0],
           "train_size": 200, "val_size": 100}
OPTIMIZER = {"losses": ["cross_entropy", "mse_softmax"], "lrs": [0.001, 0.003], "seeds": [0]}
GRIDS = {("2", "cross_entropy"): ["0.1", "1"], ("2", "mse_softmax"): ["0.2", "2"],
         ("5", "cross_entropy"): ["0.1", "1"], ("5", "mse_softmax"): ["1.25", "12.5"]}
STUDY_RULES = ["train_classes_study", "train_classes_study_grid", "gather_classes_study", "train_optimizer_study",
               "train_optimizer_study_grid", "gather_optimizer_study"]


def studies_config(tmp_path, **overrides):
    return write_config(tmp_path, tiny_config(horizon=None, lr_study=None, classes_study=CLASSES,
                                              optimizer_study=OPTIMIZER, **overrides))


def shell_commands(out) -> dict[str, list[str]]:
    """A dry run's (`snakemake -n -p`) shell commands, by rule."""
    commands: dict[str, list[str]] = {}
    for block in re.split(r"^(?=rule \w+:$)", out.stdout + out.stderr, flags=re.M):
        rule = re.match(r"rule (\w+):$", block, re.M)
        command = re.search(r"^Shell command: (.*)$", block, re.M)
        if rule and command:
            commands.setdefault(rule[1], []).append(command[1])
    return commands


def flag(command: str, name: str) -> str:
    """The words after ``name`` in ``command`` up to the next flag."""
    return re.search(rf" {name} (.*?)(?= --|$| >)", command)[1]


def test_one_job_per_run_in_its_folder_with_its_classes_and_optimizer(tmp_path):
    config = studies_config(tmp_path, pack_seeds=False)
    jobs = plan(tmp_path, config=config, env={"CUDA_VISIBLE_DEVICES": ""})
    assert {rule: n for rule, n in jobs.counts.items() if "study" in rule} == {
        "train_classes_study": 8, "gather_classes_study": 1, "train_optimizer_study": 4, "gather_optimizer_study": 1}
    assert jobs.wildcards("train_classes_study", "classes", "loss", "lr", "seed") == sorted(
        (c, loss, lr, "0") for (c, loss), lrs in GRIDS.items() for lr in lrs)
    assert jobs.wildcards("train_optimizer_study", "optimizer", "loss", "lr", "seed") == [
        ("adam", loss, lr, "0") for loss in ("cross_entropy", "mse_softmax") for lr in ("0.001", "0.003")]
    commands = shell_commands(snakemake(tmp_path, "-n", "-p", config=config, env={"CUDA_VISIBLE_DEVICES": ""}))
    for command in commands["train_classes_study"]:
        folder = re.search(r"--out-dir results/mnist/classes-study/C-(\d+)/(\w+)/lr-([\d.]+)/seed-0 ", command)
        c, loss, lr = folder.groups()
        assert lr in GRIDS[(c, loss)], command
        assert (flag(command, "--classes"), flag(command, "--loss")) == (c, loss)
        assert float(flag(command, "--lr")) == float(lr)
        assert (flag(command, "--epochs"), flag(command, "--train-size"), flag(command, "--val-size")) == (
            "1", "200", "100")
        assert flag(command, "--variant") == f"{loss}_C{c}_lr{lr}" and "--optimizer" not in command
    for command in commands["train_optimizer_study"]:
        loss, lr = re.search(r"--out-dir results/mnist/optimizer-study/adam/(\w+)/lr-([\d.]+)/seed-0 ",
                             command).groups()
        assert (flag(command, "--optimizer"), flag(command, "--loss"), float(flag(command, "--lr"))) == (
            "adam", loss, float(lr))
        assert flag(command, "--epochs") == "1" and "--classes" not in command  # the sweep's epochs; all classes
    (gather,) = commands["gather_classes_study"]
    assert "lossbench gather --prefix classes_study_ " in gather and len(flag(gather, "--runs").split()) == 8
    (gather,) = commands["gather_optimizer_study"]
    assert "lossbench gather --prefix optimizer_study_ " in gather and len(flag(gather, "--runs").split()) == 4


def test_packed_one_job_per_grid_trains_it_with_its_own_lrs(tmp_path):
    config = studies_config(tmp_path, pack_seeds=True)
    out = snakemake(tmp_path, "-n", "-p", config=config)
    commands = shell_commands(out)
    assert "train_classes_study" not in commands and "train_optimizer_study" not in commands
    grids = {}
    for command in commands["train_classes_study_grid"]:
        c, loss = re.search(r"--out-dir results/mnist/classes-study/C-(\d+)/(\w+) ", command).groups()
        assert command.startswith("lossbench train-seeds ") and " --lr " not in command
        assert flag(command, "--classes") == c and flag(command, "--variant") == f"{loss}_C{c}"
        assert flag(command, "--seeds") == "0" and command.endswith(
            f"&& touch results/mnist/classes-study/C-{c}/{loss}/packed.done")
        grids[(c, loss)] = flag(command, "--lrs").split()
    assert grids == GRIDS
    losses = set()
    for command in commands["train_optimizer_study_grid"]:
        (loss,) = re.search(r"--out-dir results/mnist/optimizer-study/adam/(\w+) ", command).groups()
        assert flag(command, "--lrs") == "0.001 0.003" and flag(command, "--optimizer") == "adam"
        assert flag(command, "--variant") == f"{loss}_adam"
        losses.add(loss)
    assert losses == {"cross_entropy", "mse_softmax"}
    (gather,) = commands["gather_classes_study"]  # every run's metrics.json, though the jobs list one file each
    assert len(flag(gather, "--runs").split()) == 8


@pytest.mark.parametrize("pack_seeds, epochs, classes_rule, optimizer_rule", [
    # auto on CPU: packed (sequential: each run bit for bit its single run, start-up paid once per job)
    ("auto", 1, "train_classes_study_grid", "train_optimizer_study_grid"),
    ("auto", 2, "train_classes_study_grid", "train_optimizer_study_grid"),
    ("false", 1, "train_classes_study", "train_optimizer_study"),
    ("true", 2, "train_classes_study_grid", "train_optimizer_study_grid"),
])
def test_the_classes_studys_one_epoch_grids_are_packed_on_cpu_too(tmp_path, pack_seeds, epochs, classes_rule,
                                                                     optimizer_rule):
    study = {**CLASSES, "epochs": epochs}
    config = write_config(tmp_path, tiny_config(horizon=None, lr_study=None, classes_study=study,
                                                optimizer_study=OPTIMIZER))
    jobs = plan(tmp_path, "--config", f"pack_seeds={pack_seeds}", "device=cpu", config=config)
    assert {rule for rule in jobs.counts if rule.startswith("train_") and "study" in rule} == {
        classes_rule, optimizer_rule}
    assert jobs.counts[classes_rule] == (4 if classes_rule.endswith("_grid") else 8)


def test_off_the_studies_plan_nothing_and_their_rules_stay_defined(tmp_path):
    config = write_config(tmp_path, tiny_config(horizon=None, lr_study=None))
    for pack in ("true", "false"):  # -R names every rule: a rule the config does not use still exists
        jobs = plan(tmp_path, "-R", *STUDY_RULES, "--config", f"pack_seeds={pack}", config=config)
        assert not set(STUDY_RULES) & set(jobs.counts), jobs.counts
    on = studies_config(tmp_path)
    off = plan(tmp_path, "--config", "classes_study=null", "optimizer_study=null", config=on)
    assert not set(STUDY_RULES) & set(off.counts), off.counts


def test_the_command_line_merges_into_the_files_block(tmp_path):
    jobs = plan(tmp_path, "--config", "classes_study={classes: [3]}", config=studies_config(tmp_path, pack_seeds=False))
    assert jobs.wildcards("train_classes_study", "classes", "loss", "lr") == [
        ("3", "cross_entropy", "0.1"), ("3", "cross_entropy", "1"), ("3", "mse_softmax", "0.45"),
        ("3", "mse_softmax", "4.5")]


@pytest.mark.parametrize("override, message", [
    ("classes_study={classes: [2, 12]}", "ConfigError: classes_study.classes[1]: expected at most MNIST's 10 "
                                         "classes, found 12"),
    ("classes_study={train_size: 12000, val_size: 1000}", "ConfigError: classes_study.train_size + "
                                                          "classes_study.val_size: expected at most 12,665"),
    ("optimizer_study={optimizer: rmsprop}", "ConfigError: optimizer_study.optimizer: expected one of adam, nsgd, "
                                             "sgd, found 'rmsprop' (str)"),
])
def test_a_bad_block_stops_the_workflow_with_one_line(tmp_path, override, message):
    out = snakemake(tmp_path, "-n", "--config", override, config=studies_config(tmp_path), check=False)
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.slow
def test_a_tiny_run_of_both_studies_gathers_their_tables(tmp_path, real_mirror):
    """Both studies end to end at tiny sizes (200 images, hidden [16], one seed), up to their tables."""
    config = write_config(tmp_path, tiny_config(
        hidden=[16], seeds=[0], variants={}, horizon=None, lr_study=None,
        classes_study={**CLASSES, "classes": [2, 3]}, optimizer_study={**OPTIMIZER, "losses": ["mse_softmax"]}))
    tables = tmp_path / "results" / "mnist" / "tables"
    targets = [f"results/mnist/tables/{study}_summary.csv" for study in ("classes_study", "optimizer_study")]
    snakemake(tmp_path, *targets, config=config)
    runs = pd.read_csv(tables / "classes_study_runs.csv")
    assert sorted(zip(runs["classes"], runs["loss"], runs["lr"])) == [
        (2, "cross_entropy", 0.1), (2, "cross_entropy", 1.0), (2, "mse_softmax", 0.2), (2, "mse_softmax", 2.0),
        (3, "cross_entropy", 0.1), (3, "cross_entropy", 1.0), (3, "mse_softmax", 0.45), (3, "mse_softmax", 4.5)]
    assert set(runs["optimizer"]) == {"sgd"} and set(runs["epochs"]) == {1}
    assert set(runs["hidden"].astype(str)) == {"16"}
    assert (tables / "classes_study_epochs.csv").is_file() and (tables / "classes_study_gathered.json").is_file()
    for c, loss, lr in zip(runs["classes"], runs["loss"], runs["lr"]):
        run = tmp_path / "results" / "mnist" / "classes-study" / f"C-{c}" / loss / f"lr-{lr:g}" / "seed-0"
        recorded = json.loads((run / "metrics.json").read_text())["config"]
        assert (recorded["classes"], recorded["train_size"], recorded["val_size"]) == (c, 200, 100), run
    adam = pd.read_csv(tables / "optimizer_study_runs.csv")
    assert sorted(zip(adam["optimizer"], adam["loss"], adam["lr"], adam["classes"])) == [
        ("adam", "mse_softmax", 0.001, 10), ("adam", "mse_softmax", 0.003, 10)]
    assert (tmp_path / "results" / "mnist" / "optimizer-study" / "adam" / "mse_softmax" / "lr-0.001" / "seed-0"
            / "metrics.json").is_file()
