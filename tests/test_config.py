"""Config errors are caught before any job runs and name the key."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from conftest import ROOT
from lossbench.config import ConfigError, TrainConfig, check, resolve_variants, train_args
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
    assert list(variants) == ["softmax_nll", "logsoftmax_nll", "cross_entropy", "mse_softmax", "mse_softmax_lr5", "mse_logits"]
    assert variants["mse_softmax_lr5"]["lr"] == 5.0 and variants["mse_softmax_lr5"]["loss"] == "mse_softmax"
    assert variants["cross_entropy"]["lr"] == 0.1 and variants["mse_logits"]["batch_size"] == 100


def test_schema_fills_defaults():
    config = validated({})
    assert config["seeds"] == [0, 1, 2, 3, 4] and config["hidden"] == [1200, 600, 300] and config["variants"] == {}


@pytest.mark.parametrize(
    "change, key",
    [
        ({"learning_rate": 0.1}, "learning_rate"),  # unknown key (typo)
        ({"lr": 0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"seeds": []}, "seeds"),
        ({"batch_size": "100"}, "batch_size"),  # wrong type
        ({"variants": {"fast": {"loss": "cross_entropy", "lr": 0}}}, "lr"),
        ({"variants": {"fast": {"loss": "cross_entropy", "momentum": 0.9}}}, "momentum"),
    ],
)
def test_schema_rejects_bad_values_naming_the_key(config, change, key):
    with pytest.raises(WorkflowError) as err:
        validated({**config, **change})
    assert key in str(err.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"losses": ["cross_entropy", "hinge"]}, "losses[1]: unknown loss 'hinge'"),
        ({"variants": {"x": {"loss": "hinge"}}}, "variants.x.loss: unknown loss 'hinge'"),
        ({"variants": {"cross_entropy": {"loss": "cross_entropy", "lr": 1.0}}}, "variants.cross_entropy: duplicate"),
        ({"batch_size": 20000}, "batch_size 20000 is larger than train_size 10000"),
        ({"variants": {"big": {"loss": "cross_entropy", "batch_size": 10001}}}, "variants.big: batch_size 10001"),
        ({"losses": [], "variants": {}}, "nothing to train"),
        ({"reference": "hinge"}, "reference: 'hinge' is not a variant"),
    ],
)
def test_consistency_errors_name_the_key(config, change, message):
    with pytest.raises(ConfigError) as err:
        check(validated({**config, **change}), LOSSES)
    assert message in str(err.value)


def test_train_args_round_trip_through_the_cli(config):
    from lossbench.cli import build_parser
    from lossbench.train import config_from_args

    settings = resolve_variants(validated(config))["mse_softmax_lr5"]
    argv = ["train", *train_args(settings).split(), "--seed", "3", "--data", "d.pt", "--out-dir", "o"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg == TrainConfig(**{**settings, "hidden": tuple(settings["hidden"]), "seed": 3})


def test_config_hash_ignores_seed_and_runtime_but_not_hyperparameters():
    base = TrainConfig(variant="v", loss="cross_entropy", seed=0)
    assert base.config_hash() == TrainConfig(variant="v", loss="cross_entropy", seed=4, threads=8, device="cpu").config_hash()
    assert base.config_hash() != TrainConfig(variant="v", loss="cross_entropy", seed=0, lr=0.2).config_hash()


def test_a_variant_named_twice_in_yaml_is_refused_with_its_line(tmp_path):
    from lossbench.config import check_duplicate_keys

    path = tmp_path / "config.yaml"
    path.write_text("variants:\n  fast: {loss: cross_entropy, lr: 0.5}\n  fast: {loss: mse_softmax}\n")
    with pytest.raises(ConfigError, match=r"config.yaml, line 3: duplicate key 'fast'"):
        check_duplicate_keys(str(path))
    check_duplicate_keys(str(ROOT / "config" / "config.yaml"))  # the default config is clean
