"""The probe's config block (``probe:``): defaults resolved (loss from slow_loss, lr from the sweep, epochs from
the horizon when it is on), off when null, and a bad block refused in one line naming the key."""

from __future__ import annotations

import copy

import pytest

from lossbench.config import ConfigError, probe_run_settings, resolve
from lossbench.losses import LOSSES

CONFIG = {"dataset": "mnist", "train_size": 1000, "val_size": 200, "hidden": [32], "lr": 0.1, "batch_size": 20,
          "epochs": 2, "seeds": [0, 1], "test_every": None, "losses": ["cross_entropy", "mse_softmax"]}


def probe_of(config=None, **block):
    return resolve({**copy.deepcopy(config or CONFIG), "probe": block}, LOSSES).probe


def test_the_defaults_and_off():
    assert resolve(copy.deepcopy(CONFIG), LOSSES).probe is None
    assert resolve({**copy.deepcopy(CONFIG), "probe": None}, LOSSES).probe is None
    assert probe_of() == {"loss": "mse_softmax", "reference": "cross_entropy", "lr": 0.1, "epochs": 2, "seeds": [0],
                          "points_per_epoch": 10, "probe_size": 100}
    horizon = {**CONFIG, "horizon": {"variants": ["mse_softmax"], "epochs": 7}}
    assert probe_of(horizon)["epochs"] == 7  # the horizon's budget when it is on
    assert probe_of(horizon, epochs=3, lr=2.0)["epochs"] == 3
    assert probe_of(slow_loss := {**CONFIG, "slow_loss": "cross_entropy"}, reference="mse_softmax")["loss"] == \
        slow_loss["slow_loss"]


def test_the_run_settings_are_the_sweeps_with_the_probes_loss_lr_and_epochs():
    probe = probe_of(lr=3.0)
    settings = probe_run_settings(resolve(copy.deepcopy(CONFIG), LOSSES).config, probe)
    assert settings["loss"] == "mse_softmax" and settings["lr"] == 3.0 and settings["epochs"] == 2
    assert settings["hidden"] == [32] and settings["train_size"] == 1000 and "variant" not in settings


@pytest.mark.parametrize("block, words", [
    ({"loss": "nope"}, "probe.loss: expected a registered loss ("),
    ({"reference": "mse_softmax"}, "probe.reference: expected a loss other than the probed one (mse_softmax), "
                                   "found 'mse_softmax'"),
    ({"probe_size": 1001}, "probe.probe_size: expected at most train_size (1000), found 1001"),
    ({"points_per_epoch": 0}, "probe.points_per_epoch: expected an integer >= 1"),
    ({"lr": 0}, "probe.lr: expected"),
    ({"seeds": []}, "probe.seeds: expected"),
    ({"every": 3}, "probe.every: unknown key; expected one of loss, reference, lr, epochs, seeds, points_per_epoch, "
                   "probe_size"),
])
def test_a_bad_block_is_refused_in_one_line_naming_the_key(block, words):
    with pytest.raises(ConfigError) as err:
        probe_of(**block)
    assert words in str(err.value) and "\n" not in str(err.value)
