"""The learning-rate study's config block (``lr_study:``): checked before any job, run settings, sweep twins."""

from __future__ import annotations

import copy

import pytest

from lossbench import cli
from lossbench.config import (
    ConfigError,
    TrainConfig,
    defaults,
    lr_study_lrs,
    lr_study_run_settings,
    lr_study_variant,
    lr_text,
    resolve,
    sweep_twin,
    train_args,
)
from lossbench.losses import LOSSES

CONFIG = {"dataset": "mnist", "train_size": 1000, "val_size": 200, "hidden": [32], "lr": 0.1, "batch_size": 20,
          "epochs": 2, "seeds": [0, 1], "test_every": None, "losses": ["cross_entropy", "mse_softmax"],
          "variants": {"mse_softmax_lr3": {"loss": "mse_softmax", "lr": 3.0}}}


def study_of(**block):
    return resolve({**copy.deepcopy(CONFIG), "lr_study": block}, LOSSES).lr_study


def test_the_block_is_filled_with_the_schemas_defaults_epochs_from_the_sweep_and_off_when_null():
    assert study_of() == {**defaults("lr_study"), "epochs": 2}
    assert study_of(epochs=7)["epochs"] == 7
    assert resolve({**copy.deepcopy(CONFIG), "lr_study": None}, LOSSES).lr_study is None
    assert resolve(copy.deepcopy(CONFIG), LOSSES).lr_study is None


def test_the_default_grid_brackets_where_every_default_loss_peaks():
    """Measured (README, "Learning-rate study"): cross_entropy peaks near 0.3 and diverges from 3,
    mse_logits peaks near 3, mse_softmax near 10; each needs a grid point on both sides."""
    lrs = defaults("lr_study")["lrs"]
    assert lrs == sorted(lrs) and lrs[0] < 0.1 and lrs[-1] > 10  # cross_entropy reaches 0.5 after epoch 1 near 0.05
    assert {0.1, 0.3, 1.0, 3.0, 10.0} <= set(lrs)


@pytest.mark.parametrize("block, words", [  # each one line naming the key, what was expected and what was found
    ({"lrs": []}, "lr_study.lrs: expected a non-empty list of distinct items, each a finite number > 0, or a mapping "
                  "of names to such lists, found [] (list)"),
    ({"lrs": True}, "lr_study.lrs: expected a non-empty list of distinct items, each a finite number > 0, or a "
                    "mapping of names to such lists, found True (bool)"),
    # each loss its own grid: every loss of losses, no other, each grid checked as the one list is
    ({"lrs": {"cross_entropy": [0.1]}}, "lr_study.lrs: expected a grid for each of lr_study.losses (cross_entropy, "
                                        "mse_softmax, mse_logits), found none for mse_softmax, mse_logits; give each "
                                        "one, or give lr_study.lrs one list for every loss"),
    ({"losses": ["cross_entropy", "mse_softmax"], "lrs": {"cross_entropy": [0.1], "mse_softmax": [3], "hinge": [1]}},
     "lr_study.lrs.hinge: expected a registered loss's grid (cross_entropy, logsoftmax_nll, mse_logits, mse_softmax, "
     "mse_softmax_sum, softmax_nll), found one for 'hinge'; name a registered loss, or drop it"),
    # a key that is no plain name is written as Python writes it: the message shows what the file holds
    ({"lrs": {"cross_entropy ": [0.1]}}, "lr_study.lrs['cross_entropy ']: expected a registered loss's grid"),
    ({"lrs": {None: [0.1]}}, "lr_study.lrs[None]: expected a registered loss's grid"),
    ({"lrs": {1: [0.1]}}, "lr_study.lrs[1]: expected a registered loss's grid"),
    ({"losses": ["cross_entropy"], "lrs": {}}, "lr_study.lrs: expected a grid for each of lr_study.losses "
                                               "(cross_entropy), found none for cross_entropy; give it one"),
    ({"losses": ["cross_entropy"], "lrs": {"cross_entropy": []}},
     "lr_study.lrs.cross_entropy: expected a non-empty list of distinct items, each a finite number > 0, found []"),
    ({"losses": ["cross_entropy"], "lrs": {"cross_entropy": [0.1, -3]}},
     "lr_study.lrs.cross_entropy[1]: expected a finite number > 0, found -3 (int)"),
    ({"losses": ["cross_entropy"], "lrs": {"cross_entropy": [0.3, 0.3]}},
     "lr_study.lrs.cross_entropy[1]: 0.3 is listed twice (also lr_study.lrs.cross_entropy[0])"),
    ({"losses": ["cross_entropy"], "lrs": {"cross_entropy": True}},
     "lr_study.lrs.cross_entropy: expected a non-empty list of distinct items, each a finite number > 0, found True"),
    ({"lrs": [0.1, 0.0]}, "lr_study.lrs[1]: expected a finite number > 0, found 0.0 (float)"),
    ({"lrs": [-1]}, "lr_study.lrs[0]: expected a finite number > 0, found -1 (int)"),
    ({"lrs": [0.1, float("inf")]}, "lr_study.lrs[1]: expected a finite number > 0, found inf (float)"),
    ({"lrs": [0.1, "fast"]}, "lr_study.lrs[1]: expected a finite number > 0, found 'fast' (str)"),
    ({"lrs": [0.1, True]}, "lr_study.lrs[1]: expected a finite number > 0, found True (bool)"),
    ({"lrs": [0.1, 1, 1.0]}, "lr_study.lrs[2]: 1.0 is listed twice (also lr_study.lrs[1]); expected each item once"),
    ({"losses": []}, "lr_study.losses: expected a non-empty list of distinct items, each a string, found [] (list)"),
    ({"losses": ["cross_entropy", "hinge"]}, "lr_study.losses[1]: expected registered losses (cross_entropy, "),
    ({"losses": ["mse_softmax", "mse_softmax"]}, "lr_study.losses[1]: 'mse_softmax' is listed twice"),
    ({"seeds": [0, 0]}, "lr_study.seeds[1]: 0 is listed twice (also lr_study.seeds[0])"),
    ({"seeds": [-1]}, "lr_study.seeds[0]: expected an integer from 0 to "),
    ({"epochs": 0}, "lr_study.epochs: expected an integer >= 1 or null, found 0"),
    ({"epochs": 2.0}, "lr_study.epochs: expected an integer >= 1 or null, found 2.0 (float); write 2"),
    ({"losses": ["mse_softmax"]}, "lr_study.reference: expected one of lr_study.losses (mse_softmax), found "
                                  "'cross_entropy'; set lr_study.reference to one of them, or set lr_study: null"),
    ({"threshold": 1.0}, "lr_study.threshold: expected a finite number between 0 and 1 (exclusive), found 1.0"),
    ({"lr": 0.5}, "lr_study.lr: unknown key; expected one of losses, lrs, seeds, epochs, reference, threshold"),
])
def test_a_bad_block_is_refused_naming_the_key(block, words):
    with pytest.raises(ConfigError) as err:
        study_of(**block)
    assert words in str(err.value)


def test_each_loss_can_have_a_grid_of_its_own_read_as_the_one_list_is():
    study = study_of(losses=["mse_softmax", "cross_entropy"],
                     lrs={"cross_entropy": [0.1, "3e-1"], "mse_softmax": 10})  # text read as numbers, an item as a list
    assert study["lrs"] == {"mse_softmax": [10.0], "cross_entropy": [0.1, 0.3]}  # in losses' order
    assert lr_study_lrs(study, "cross_entropy") == [0.1, 0.3] and lr_study_lrs(study, "mse_softmax") == [10.0]
    one = study_of(lrs=[0.3, 1])
    assert [lr_study_lrs(one, loss) for loss in one["losses"]] == [[0.3, 1.0]] * 3  # one list: every loss's grid
    assert lr_study_lrs(one, "mse_logits") is not lr_study_lrs(one, "mse_logits")  # a copy each time
    # a grid for a registered loss that losses leaves out is not trained (losses narrowed on the command line
    # over a file whose mapping names more keeps working)
    narrowed = study_of(losses=["cross_entropy"], lrs={"cross_entropy": [0.3], "mse_softmax": [3, 10]})
    assert narrowed["lrs"] == {"cross_entropy": [0.3]}


def test_a_block_that_is_no_mapping_is_refused():
    with pytest.raises(ConfigError, match=r"^lr_study: expected a mapping or null, found \[0.1\] \(list\)$"):
        resolve({**copy.deepcopy(CONFIG), "lr_study": [0.1]}, LOSSES)


def test_a_users_own_registered_loss_can_be_studied_by_name(monkeypatch):
    monkeypatch.setitem(LOSSES, "my_hinge", LOSSES["cross_entropy"])
    assert study_of(losses=["cross_entropy", "my_hinge"])["losses"] == ["cross_entropy", "my_hinge"]


@pytest.mark.parametrize("lr, text", [(0.03, "0.03"), (1.0, "1"), (30.0, "30"), (1e-5, "1e-05"), (0.5, "0.5"),
                                      (0.031622776601683794, "0.03162277660168379"), (2.5e-07, "2.5e-07"),
                                      (1e6, "1e06"), (3e22, "3e22"), (123456789.0, "123456789.0")])
def test_an_lr_names_its_folder_with_the_shortest_text_that_reads_back_as_it(lr, text):
    assert lr_text(lr) == text and float(text) == lr
    assert lr_study_variant("mse_softmax", lr) == f"mse_softmax_lr{text}"
    cli.name(lr_study_variant("mse_softmax", lr))  # a name `lossbench train --variant` takes


def test_a_study_run_is_the_sweep_at_its_lr_for_the_studys_epochs_tested_at_the_end():
    study = study_of(epochs=3)
    settings = lr_study_run_settings(CONFIG, study, "mse_logits", 0.3)
    assert (settings["variant"], settings["loss"], settings["lr"]) == ("mse_logits_lr0.3", "mse_logits", 0.3)
    assert (settings["epochs"], settings["test_every"], settings["hidden"]) == (3, 3, [32])
    assert (settings["train_size"], settings["batch_size"]) == (1000, 20)
    flags = train_args(settings)  # what the rule passes to lossbench train
    assert "--lr 0.3" in flags and "--epochs 3" in flags and "--test-every 3" in flags
    cfg = TrainConfig(**{**settings, "hidden": tuple(settings["hidden"]), "seed": 0})
    assert cfg.lr == 0.3


def test_a_study_point_the_sweep_trains_is_found_and_only_then():
    variants = resolve(copy.deepcopy(CONFIG), LOSSES).variants
    study = study_of()
    assert sweep_twin(lr_study_run_settings(CONFIG, study, "cross_entropy", 0.1), variants) == "cross_entropy"
    assert sweep_twin(lr_study_run_settings(CONFIG, study, "mse_softmax", 3.0), variants) == "mse_softmax_lr3"
    assert sweep_twin(lr_study_run_settings(CONFIG, study, "mse_softmax", 1.0), variants) is None
    assert sweep_twin(lr_study_run_settings(CONFIG, study, "mse_logits", 0.1), variants) is None  # not in the sweep
    longer = study_of(epochs=3)  # another budget: not the same run
    assert sweep_twin(lr_study_run_settings(CONFIG, longer, "cross_entropy", 0.1), variants) is None


def test_the_sweep_tests_at_the_last_epoch_only_unless_test_every_says_otherwise():
    variants = resolve({**copy.deepcopy(CONFIG), "variants": {"long": {"loss": "cross_entropy", "epochs": 6}}},
                       LOSSES).variants
    assert variants["cross_entropy"]["test_every"] == 2 and variants["long"]["test_every"] == 6
    assert resolve({**copy.deepcopy(CONFIG), "test_every": 1}, LOSSES).variants["cross_entropy"]["test_every"] == 1
    with pytest.raises(ConfigError, match="test_every: expected an integer >= 1 or null, found 0"):
        resolve({**copy.deepcopy(CONFIG), "test_every": 0}, LOSSES)
