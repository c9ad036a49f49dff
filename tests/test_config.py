"""Config errors are caught before any job runs and name the key."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import validate

from helpers import ROOT
from lossbench.config import TrainConfig, check, check_duplicate_keys, config_from_flags, resolve_variants, train_args
from lossbench.losses import LOSSES

SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, schema=SCHEMA)
    return config


def test_default_config_is_valid_and_has_six_variants(config):
    variants = check(validated(config), LOSSES)
    assert list(variants) == [
        "softmax_nll", "logsoftmax_nll", "cross_entropy", "mse_softmax", "mse_softmax_lr5", "mse_logits"]
    assert variants["mse_softmax_lr5"]["lr"] == 5.0 and variants["mse_softmax_lr5"]["loss"] == "mse_softmax"
    assert variants["cross_entropy"]["lr"] == 0.1 and variants["mse_logits"]["batch_size"] == 100


def test_schema_fills_defaults():
    config = validated({})
    assert config["seeds"] == [0, 1, 2, 3, 4] and config["hidden"] == [1200, 600, 300] and config["variants"] == {}


def test_train_args_round_trip_through_the_cli(config):
    from lossbench.cli import build_parser

    settings = resolve_variants(validated(config))["mse_softmax_lr5"]
    argv = ["train", *train_args(settings).split(), "--seed", "3", "--data", "d.pt", "--out-dir", "o"]
    cfg = config_from_flags(vars(build_parser().parse_args(argv)))
    assert cfg == TrainConfig(**{**settings, "hidden": tuple(settings["hidden"]), "seed": 3})


def test_config_hash_ignores_seed_and_runtime_but_not_hyperparameters():
    base = TrainConfig(variant="v", loss="cross_entropy", seed=0)
    runtime = TrainConfig(variant="v", loss="cross_entropy", seed=4, threads=8, device="cpu")
    assert base.config_hash() == runtime.config_hash()
    assert base.config_hash() != TrainConfig(variant="v", loss="cross_entropy", seed=0, lr=0.2).config_hash()


def test_the_default_config_has_no_duplicate_keys():
    check_duplicate_keys(str(ROOT / "config" / "config.yaml"))


def test_schema_offers_exactly_the_registered_datasets():
    from lossbench.data import DATASETS

    schema = yaml.safe_load(open(SCHEMA))
    assert schema["properties"]["dataset"]["enum"] == list(DATASETS)
