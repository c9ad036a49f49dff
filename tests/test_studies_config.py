"""The number-of-classes study's and the optimiser control's config blocks (``classes_study:``,
``optimizer_study:``): defaults, one-line errors naming the key, each loss's lr grid at C, and the run
settings the workflow passes to ``lossbench train``."""

from __future__ import annotations

import copy
import gzip
from collections import Counter
from dataclasses import replace

import pytest

from helpers import FASHION_MNIST, mirror_path, refused, resolved
from lossbench import gathered, tables
from lossbench.config import (
    ConfigError,
    classes_study_lrs,
    classes_study_run_settings,
    defaults,
    lr_text,
    optimizer_study_run_settings,
    packs_seeds,
    packs_study,
    resolve,
    train_args,
)
from lossbench.data import DATASETS, TRAIN_IMAGES_PER_LABEL, class_train_images
from lossbench.losses import LOSSES, loss_info

SWEEP = {"dataset": "mnist", "train_size": 1000, "val_size": 200, "hidden": [32], "lr": 0.1, "batch_size": 20,
         "epochs": 2, "seeds": [0, 1], "losses": ["cross_entropy", "mse_softmax"], "variants": {}}


def sweep_with(**blocks):
    return resolve({**copy.deepcopy(SWEEP), **blocks}, LOSSES)


def classes_study_of(**block):
    return sweep_with(classes_study=block).classes_study


def optimizer_study_of(**block):
    return sweep_with(optimizer_study=block).optimizer_study


# --- defaults, on and off --------------------------------------------------------------------------

def test_the_blocks_are_off_unless_given_and_null_turns_them_off():
    sweep = sweep_with()
    assert sweep.classes_study is None and sweep.optimizer_study is None
    sweep = sweep_with(classes_study=None, optimizer_study=None)
    assert sweep.classes_study is None and sweep.optimizer_study is None


def test_the_classes_study_is_filled_with_the_schemas_defaults_and_the_sweeps_sizes():
    study = classes_study_of()
    assert study == {**defaults("classes_study"), "train_size": 1000, "val_size": 200}
    assert study["classes"] == [2, 3, 5, 10] and study["epochs"] == 1 and study["reference"] == "cross_entropy"
    assert study["losses"] == ["cross_entropy", "mse_softmax", "mse_softmax_sum"] and study["threshold"] == 0.5
    assert classes_study_of(epochs=None)["epochs"] == 2  # null: the sweep's
    assert classes_study_of(train_size=500, val_size=100)["train_size"] == 500


def test_the_optimizer_study_is_filled_with_the_schemas_defaults_and_the_sweeps_epochs():
    study = optimizer_study_of()
    assert study == {**defaults("optimizer_study"), "epochs": 2}
    assert study["optimizer"] == "adam" and study["losses"] == ["cross_entropy", "mse_softmax"]
    assert optimizer_study_of(epochs=3, optimizer="nsgd")["epochs"] == 3


def test_the_default_config_turns_both_studies_on_at_their_sized_defaults():
    """config/config.yaml writes each block out (a user sees every key); the sizes chosen for the 10-minute
    budget are documented there and in docs/studies.md."""
    sweep = resolved()
    assert sweep.classes_study["classes"] == [2, 3, 5, 10] and sweep.classes_study["epochs"] == 1
    assert sweep.classes_study["train_size"] + sweep.classes_study["val_size"] <= class_train_images("mnist", 2)
    assert sweep.optimizer_study["optimizer"] == "adam" and sweep.optimizer_study["epochs"] == sweep.config["epochs"]


@pytest.mark.parametrize("override, block, changed", [
    # --config merges into the file's block, as for lr_study; text items are read as numbers
    ("classes_study={classes: [2, 5]}", "classes_study", {"classes": [2, 5]}),
    ("classes_study={lrs: [1e-2, 0.1], threshold: 6e-1}", "classes_study", {"lrs": [0.01, 0.1], "threshold": 0.6}),
    ("classes_study={classes: 3}", "classes_study", {"classes": [3]}),  # one item: a list of one
    ("classes_study={train_size: 2000, val_size: 500}", "classes_study", {"train_size": 2000, "val_size": 500}),
    ("optimizer_study={lrs: [1e-4, 1e-3], seeds: [0, 3]}", "optimizer_study", {"lrs": [0.0001, 0.001],
                                                                               "seeds": [0, 3]}),
    ("optimizer_study={optimizer: nsgd}", "optimizer_study", {"optimizer": "nsgd"}),
])
def test_a_block_from_the_command_line_merges_into_the_files(override, block, changed):
    in_file = getattr(resolved(), block)
    assert getattr(resolved("", override), block) == {**in_file, **changed}


def test_null_from_the_command_line_turns_a_study_off():
    assert resolved("", "classes_study=null").classes_study is None
    assert resolved("", "optimizer_study=null").optimizer_study is None


# --- refused, one line naming the key ---------------------------------------------------------------

@pytest.mark.parametrize("block, words", [
    ({"classes": []}, "classes_study.classes: expected a non-empty list of distinct items, each an integer >= 2, "
                      "found [] (list)"),
    ({"classes": [1, 2]}, "classes_study.classes[0]: expected an integer >= 2, found 1 (int)"),
    ({"classes": [2, 2]}, "classes_study.classes[1]: 2 is listed twice (also classes_study.classes[0])"),
    ({"classes": [2, 5.0]}, "classes_study.classes[1]: expected an integer >= 2, found 5.0 (float); write 5"),
    ({"classes": [2, 11]}, "classes_study.classes[1]: expected at most MNIST's 10 classes, found 11"),
    ({"losses": ["cross_entropy", "hinge"]}, "classes_study.losses[1]: expected registered losses (cross_entropy, "),
    ({"losses": ["mse_softmax"]}, "classes_study.reference: expected one of classes_study.losses (mse_softmax), "
                                  "found 'cross_entropy'; set classes_study.reference to one of them, or set "
                                  "classes_study: null (off)"),
    ({"lrs": [0.1, 0]}, "classes_study.lrs[1]: expected a finite number > 0, found 0 (int)"),
    ({"seeds": [-1]}, "classes_study.seeds[0]: expected an integer from 0 to "),
    ({"epochs": 0}, "classes_study.epochs: expected an integer >= 1 or null, found 0"),
    ({"threshold": 0}, "classes_study.threshold: expected a finite number between 0 and 1 (exclusive), found 0"),
    ({"train_size": 0}, "classes_study.train_size: expected an integer >= 1 or null, found 0"),
    ({"train_size": 10}, "classes_study.train_size: expected at least batch_size (20), found 10"),
    ({"optimizer": "adam"}, "classes_study.optimizer: unknown key; expected one of classes, losses, lrs, seeds, "
                            "epochs, train_size, val_size, reference, threshold"),
])
def test_a_bad_classes_study_is_refused_naming_the_key(block, words):
    with pytest.raises(ConfigError) as err:
        classes_study_of(**{"losses": ["cross_entropy", "mse_softmax"], **block})
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("block, words", [
    ({"optimizer": "rmsprop"}, "optimizer_study.optimizer: expected one of adam, nsgd, sgd, found 'rmsprop' (str)"),
    ({"losses": []}, "optimizer_study.losses: expected a non-empty list of distinct items, each a string, found []"),
    ({"losses": ["hinge"]}, "optimizer_study.losses[0]: expected registered losses (cross_entropy, "),
    ({"lrs": [1e-3, 1e-3]}, "optimizer_study.lrs[1]: 0.001 is listed twice (also optimizer_study.lrs[0])"),
    ({"epochs": 2.0}, "optimizer_study.epochs: expected an integer >= 1 or null, found 2.0 (float); write 2"),
    ({"reference": "cross_entropy"}, "optimizer_study.reference: unknown key; expected one of optimizer, losses, "
                                     "lrs, seeds, epochs"),
])
def test_a_bad_optimizer_study_is_refused_naming_the_key(block, words):
    with pytest.raises(ConfigError) as err:
        optimizer_study_of(**block)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_block_that_is_no_mapping_is_refused():
    assert refused("classes_study: [2, 3]") == "classes_study: expected a mapping or null, found [2, 3] (list)"
    assert refused("", "optimizer_study=adam") == "optimizer_study: expected a mapping or null, found 'adam' (str)"


def test_sizes_the_smallest_c_cannot_give_are_refused_naming_the_keys_and_numbers():
    """MNIST holds 5,923 zeros and 6,742 ones: C = 2 draws train and validation images from 12,665."""
    big = {**SWEEP, "train_size": 10_000, "val_size": 2_000}
    fits = resolve({**copy.deepcopy(big), "classes_study": {"losses": ["cross_entropy"], "train_size": 10_000,
                                                            "val_size": 2_665}}, LOSSES).classes_study
    assert fits["train_size"] + fits["val_size"] == 12_665
    with pytest.raises(ConfigError) as err:
        resolve({**copy.deepcopy(big), "classes_study": {"losses": ["cross_entropy"], "val_size": 2_666}}, LOSSES)
    assert str(err.value) == (
        "train_size (classes_study.train_size: null, the sweep's) + classes_study.val_size: expected at most "
        "12,665, the MNIST training images of labels 0 .. 1 (C = 2, the smallest of classes_study.classes), "
        "found 10000 + 2666 = 12666; set classes_study.train_size and classes_study.val_size smaller")
    # without C = 2, C = 3 (18,623 images) holds them
    resolve({**copy.deepcopy(big), "classes_study": {"losses": ["cross_entropy"], "classes": [3, 10],
                                                     "val_size": 8_000}}, LOSSES)
    with pytest.raises(ConfigError, match=r"^classes_study.train_size \+ classes_study.val_size: expected at most "
                                          r"12,000, the Fashion-MNIST training images of labels 0 .. 1"):
        resolve({**copy.deepcopy(big), "dataset": "fashion_mnist",
                 "classes_study": {"losses": ["cross_entropy"], "train_size": 11_000, "val_size": 1_001}}, LOSSES)


def test_the_pinned_label_counts_are_the_datasets():
    for dataset, folder in [("mnist", mirror_path()), ("fashion_mnist", FASHION_MNIST)]:
        path = folder / "train-labels-idx1-ubyte.gz"
        if not path.is_file():
            if dataset == "mnist":
                raise AssertionError(f"{path}: the MNIST mirror every test reads is missing")
            continue  # Debian's dataset-fashion-mnist is not installed here
        counts = Counter(gzip.decompress(path.read_bytes())[8:])
        assert TRAIN_IMAGES_PER_LABEL[dataset] == tuple(counts[label] for label in range(10)), dataset
        assert sum(TRAIN_IMAGES_PER_LABEL[dataset]) == DATASETS[dataset].n_train
    assert class_train_images("mnist", 2) == 12_665 and class_train_images("mnist", 10) == 60_000


# --- each loss's grid at C ---------------------------------------------------------------------------

def test_each_losss_grid_is_the_reference_grid_scaled_by_the_declared_gradient_scales():
    study = classes_study_of(losses=["cross_entropy", "mse_softmax", "mse_logits"], lrs=[0.01, 0.03, 0.1])
    for classes in (2, 3, 5, 10):
        assert classes_study_lrs(study, "cross_entropy", classes) == [0.01, 0.03, 0.1]  # the reference: its grid
        factor = loss_info("cross_entropy").predicted_scale(classes) / loss_info("mse_softmax").predicted_scale(classes)
        assert factor == pytest.approx(classes**2 / 2)  # 2/C^2: the predicted lr factor C^2/2
        assert classes_study_lrs(study, "mse_softmax", classes) == pytest.approx([lr * factor for lr in study["lrs"]],
                                                                                  rel=1e-6)
    # rounded to 6 significant digits: the folder reads lr-1.5, not lr-1.5000000000000002
    assert classes_study_lrs(study, "mse_softmax", 10) == [0.5, 1.5, 5.0]
    assert [lr_text(lr) for lr in classes_study_lrs(study, "mse_softmax", 3)] == ["0.045", "0.135", "0.45"]
    assert all(len(lr_text(lr)) <= 10 for lr in classes_study_lrs(study, "mse_logits", 3))


def test_mse_softmax_sum_is_placed_by_its_own_scale():
    """nn.MSELoss(reduction="sum"): the predicted lr factor C/2, not C^2/2."""
    study = classes_study_of(lrs=[0.1])
    assert [classes_study_lrs(study, "mse_softmax_sum", c) for c in (2, 3, 5, 10)] == [[0.1], [0.15], [0.25], [0.5]]


def test_a_loss_without_a_declared_scale_gets_the_reference_grid(monkeypatch):
    monkeypatch.setitem(LOSSES, "my_loss", replace(LOSSES["mse_softmax"], name="my_loss", grad_scale=None))
    study = classes_study_of(losses=["cross_entropy", "my_loss"], lrs=[0.01, 0.1])
    assert loss_info("my_loss").predicted_scale(5) is None
    assert classes_study_lrs(study, "my_loss", 5) == [0.01, 0.1]
    # nor is anything placed by a reference without one
    study = classes_study_of(losses=["my_loss", "mse_softmax"], reference="my_loss", lrs=[0.01, 0.1])
    assert classes_study_lrs(study, "mse_softmax", 5) == [0.01, 0.1]


# --- the runs' settings ---------------------------------------------------------------------------

def test_a_classes_study_run_trains_the_first_c_classes_for_the_studys_epochs_and_sizes():
    study = classes_study_of(losses=["cross_entropy", "mse_softmax"], train_size=500, val_size=100, epochs=1)
    settings = classes_study_run_settings(SWEEP, study, 5, "mse_softmax", 1.25)
    assert (settings["variant"], settings["loss"], settings["lr"], settings["classes"]) == (
        "mse_softmax_C5_lr1.25", "mse_softmax", 1.25, 5)
    assert (settings["train_size"], settings["val_size"], settings["epochs"], settings["test_every"]) == (
        500, 100, 1, 1)
    assert (settings["hidden"], settings["batch_size"]) == ([32], 20)  # the sweep's
    flags = train_args(settings).split()
    for flag, value in [("--classes", "5"), ("--lr", "1.25"), ("--train-size", "500"), ("--epochs", "1")]:
        assert flags[flags.index(flag) + 1] == value, flag


def test_an_optimizer_study_run_is_the_sweep_with_the_studys_optimizer():
    study = optimizer_study_of(lrs=[1e-4, 1e-3])
    settings = optimizer_study_run_settings(SWEEP, study, "cross_entropy", 1e-3)
    assert (settings["variant"], settings["optimizer"], settings["lr"], settings["epochs"]) == (
        "cross_entropy_adam_lr0.001", "adam", 1e-3, 2)
    assert (settings["train_size"], settings["test_every"]) == (1000, 2) and "classes" not in settings
    flags = train_args(settings).split()
    assert flags[flags.index("--optimizer") + 1] == "adam" and flags[flags.index("--lr") + 1] == "0.001"


def test_the_optimizers_of_the_schema_are_the_ones_training_knows():
    from lossbench import config

    assert set(config._schema()["properties"]["optimizer_study"]["then"]["properties"]["optimizer"]["enum"]) == set(
        config.OPTIMIZERS)


# --- their gathered tables ----------------------------------------------------------------------------

@pytest.mark.parametrize("prefix, rule", [("classes_study_", "gather_classes_study"),
                                          ("optimizer_study_", "gather_optimizer_study")])
def test_an_edited_study_table_is_refused_naming_the_rule_that_rebuilds_it(tmp_path, prefix, rule):
    import pandas as pd

    assert gathered.GATHER_RULES[prefix] == rule
    frame = pd.DataFrame({"variant": ["a"], "test_accuracy": [0.9]})
    tables.write_gathered({"runs": frame}, tmp_path, prefix=prefix)
    gathered.check_gathered(tmp_path)
    (tmp_path / f"{prefix}runs.csv").write_text("variant,test_accuracy\na,0.99\n")
    with pytest.raises(gathered.TableError, match=rf"{prefix}runs.csv is not the table gather wrote .*snakemake -R "
                                                  rf"{rule}`"):
        gathered.check_gathered(tmp_path)
    gathered.check_gathered(tmp_path, regathered={rule})


@pytest.mark.parametrize("setting, on_cuda, epochs, packed", [
    ("auto", False, 1, True),   # one-epoch runs on CPU: start-up outweighs the epoch
    ("auto", False, 2, True),   # longer runs on CPU: packed as the sweep's (sequential, start-up paid once)
    ("auto", True, 5, True), (True, False, 5, True), (False, False, 1, False), (False, True, 1, False),
])
def test_a_study_of_one_epoch_runs_is_packed_on_cpu_under_auto_and_otherwise_as_pack_seeds_says(setting, on_cuda,
                                                                                              epochs, packed):
    assert packs_study(setting, on_cuda, epochs) is packed
    if epochs > 1:
        assert packs_study(setting, on_cuda, epochs) is packs_seeds(setting, on_cuda)
