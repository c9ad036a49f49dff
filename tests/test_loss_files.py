"""A user's losses in a file of their own (config ``loss_files:``): the config, the CLI and the workflow."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from helpers import plan, refused, resolved, snakemake, tiny_config, write_config
from lossbench import cli

# A loss with ten times cross-entropy's gradient that declares nothing about itself (measured, never
# given another loss's theory), and a capped one that declares its cap.
USER_LOSSES = textwrap.dedent('''
    import math

    import torch.nn.functional as F
    from lossbench.losses import one_hot, register_loss


    @register_loss("ten_x_ce")
    def ten_x_ce(logits, labels):
        return 10 * F.cross_entropy(logits, labels)


    @register_loss("sq_logits_sum", head="logits", softmax_cap=lambda classes: math.e / (math.e + classes - 1))
    def sq_logits_sum(logits, labels):
        return ((logits - one_hot(labels, logits)) ** 2).sum(dim=1).mean()
''')


@pytest.fixture
def loss_file(tmp_path, clean_registry, monkeypatch):
    """my_losses.py in tmp_path, the working directory (a relative path is read from there)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_losses.py").write_text(USER_LOSSES)
    return tmp_path / "my_losses.py"


def test_a_loss_file_in_the_config_lets_its_losses_be_named_everywhere(loss_file):
    sweep = resolved("loss_files: [my_losses.py]\nlosses: [cross_entropy, ten_x_ce]\n"
                     "variants: {sq: {loss: sq_logits_sum, lr: 0.01}}\nhorizon: {variants: [ten_x_ce]}\n"
                     "lr_study: {losses: [cross_entropy, ten_x_ce], lrs: [0.1, 1]}\nslow_loss: ten_x_ce\n")
    assert sweep.config["loss_files"] == [str(loss_file)]  # absolute, from the working directory
    assert set(sweep.variants) == {"cross_entropy", "ten_x_ce", "sq"}
    assert sweep.variants["sq"]["loss"] == "sq_logits_sum" and sweep.lr_study["losses"] == ["cross_entropy", "ten_x_ce"]


@pytest.mark.parametrize("content, words", [
    (None, "expected a Python file of losses, found nothing"),
    ("import nope_not_here\n", "does not import: ModuleNotFoundError"),
    ("x = 1\n", "registers no loss"),
    (USER_LOSSES.replace('"ten_x_ce"', '"cross_entropy"'), "registers 'cross_entropy', a name already registered"),
])
def test_a_bad_loss_file_in_the_config_is_one_line_naming_it(tmp_path, clean_registry, monkeypatch, content, words):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "bad.py").write_text(content)
    message = refused("loss_files: [bad.py]\n")
    assert message.startswith(f"loss_files: bad.py ({tmp_path / 'bad.py'}): ") and words in message, message


def test_a_loss_the_config_names_without_its_file_is_refused(clean_registry):
    assert "losses[1]: expected a registered loss" in refused("losses: [cross_entropy, ten_x_ce]\n")


def test_the_train_command_imports_the_file_and_refuses_one_edited_since_it_was_planned(loss_file, tmp_path):
    import hashlib

    import torch

    from helpers import synthetic_data

    torch.save(synthetic_data(), tmp_path / "data.pt")
    run = ["train", "--variant", "ten_x_ce", "--loss", "ten_x_ce", "--seed", "0", "--train-size", "200",
           "--val-size", "50", "--hidden", "16", "--batch-size", "25", "--epochs", "1", "--data", "data.pt"]
    sha = hashlib.sha256(loss_file.read_bytes()).hexdigest()
    assert cli.main([*run, "--out-dir", "a", "--loss-file", "my_losses.py", "--loss-file-sha256", sha]) == 0
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["loss"] == "ten_x_ce"
    assert cli.main([*run, "--out-dir", "b", "--loss-file", "my_losses.py", "--loss-file-sha256", "0" * 64]) == 1
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_a_users_loss_file_trains_reaches_every_page_and_an_edit_retrains_only_its_runs(tmp_path, real_mirror):
    (tmp_path / "my_losses.py").write_text(USER_LOSSES)
    config = write_config(tmp_path, tiny_config(loss_files=["my_losses.py"], losses=["cross_entropy", "ten_x_ce"],
                                                variants={"sq_logits_sum": {"loss": "sq_logits_sum", "lr": 0.01}},
                                                slow_loss="ten_x_ce", horizon=None,
                                                lr_study={"losses": ["cross_entropy", "ten_x_ce"], "lrs": [0.1, 1.0],
                                                          "seeds": [0]}))
    env = {"LOSSBENCH_DATA_MIRROR": str(real_mirror)}
    snakemake(tmp_path, config=config, env=env)
    runs = pd.read_csv(tmp_path / "results" / "mnist" / "tables" / "runs.csv")
    assert set(runs["loss"]) == {"cross_entropy", "ten_x_ce", "sq_logits_sum"} and (runs["status"] == "ok").all()
    html = tmp_path / "reports" / "html" / "mnist"
    why = (html / "why-mse.html").read_text()
    assert "ten_x_ce" in why and "declares no" in why  # measured, not given mse_softmax's theory
    assert "ten_x_ce" in (html / "learning-rate.html").read_text()
    assert "ten_x_ce" in (html / "comparison.html").read_text()
    # an edit of the file retrains the runs of its losses, and nothing else
    (tmp_path / "my_losses.py").write_text(USER_LOSSES + "\n# tuned\n")
    rerun = plan(tmp_path, config=config, env=env)
    assert {loss for loss, in rerun.wildcards("train", "variant")} == {"ten_x_ce", "sq_logits_sum"}
    assert rerun.wildcards("train_lr_study", "loss") == [("ten_x_ce",)]
