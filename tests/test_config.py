"""Config errors are caught before any job runs and name the key."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import validate

from helpers import ROOT
from lossbench.config import (
    BOOLEANS,
    HORIZON_DEFAULTS,
    INTEGER_LISTS,
    INTEGERS,
    NUMBERS,
    ConfigError,
    TrainConfig,
    check,
    check_duplicate_keys,
    check_horizon,
    config_from_flags,
    normalize,
    resolve_variants,
    train_args,
)
from lossbench.losses import LOSSES

SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, schema=SCHEMA)
    return config


def test_default_config_is_valid_and_has_eight_variants(config):
    variants = check(validated(config), LOSSES)
    assert list(variants) == [
        "softmax_nll", "logsoftmax_nll", "cross_entropy", "mse_softmax", "mse_softmax_lr5", "mse_logits",
        "cross_entropy_lr0p002", "mse_logits_lr0p5"]
    assert variants["mse_softmax_lr5"]["lr"] == 5.0 and variants["mse_softmax_lr5"]["loss"] == "mse_softmax"
    assert variants["cross_entropy"]["lr"] == 0.1 and variants["mse_logits"]["batch_size"] == 100


def test_default_horizon_block_names_key_variants_and_the_schema_gives_its_defaults(config):
    settings = check_horizon(validated(config), check(validated(config), LOSSES))
    assert settings["variants"] == ["mse_softmax", "cross_entropy_lr0p002"]  # the slow loss and its twin
    assert settings["epochs"] > config["epochs"] and len(settings["seeds"]) >= 2  # a horizon, with a band
    block = yaml.safe_load(open(SCHEMA))["properties"]["horizon"]
    assert block["default"] is None  # off unless a config turns it on
    assert {k: v["default"] for k, v in block["then"]["properties"].items() if "default" in v} == HORIZON_DEFAULTS
    assert validated({"horizon": {"variants": ["cross_entropy"]}})["horizon"] == {
        "variants": ["cross_entropy"], **HORIZON_DEFAULTS}


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


# --- values as users write them, and values no run could use -----------------------------------------

def checked(**settings) -> dict:
    """check() on the default config with ``settings`` replaced, after normalize and the schema."""
    config = {**yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), **settings}
    normalize(config)
    return check(validated(config), LOSSES)


@pytest.mark.parametrize("settings, words", [
    ({"epochs": 1.0}, "epochs: expected an integer, found 1.0 (float); write 1"),
    ({"train_size": 1000.0}, "train_size: expected an integer, found 1000.0"),
    ({"val_size": 200.0}, "val_size: expected an integer"),
    ({"batch_size": 10.0}, "batch_size: expected an integer"),
    ({"seeds": [0, 2.0]}, "seeds[1]: expected an integer, found 2.0"),
    ({"hidden": [32, 16.0]}, "hidden[1]: expected an integer, found 16.0"),
    ({"variants": {"v": {"loss": "cross_entropy", "epochs": 2.0}}}, "variants.v.epochs: expected an integer"),
    ({"variants": {"v": {"loss": "cross_entropy", "hidden": [8.0]}}}, "variants.v.hidden[0]: expected an integer"),
    ({"lr": float("nan")}, "lr: expected a finite number > 0, found nan"),
    ({"lr": float("inf")}, "lr: expected a finite number > 0, found inf"),
    ({"lr": "nan"}, "lr: expected a finite number > 0, found nan"),
    ({"variants": {"v": {"loss": "cross_entropy", "lr": float("nan")}}}, "variants.v.lr: expected a finite number"),
    ({"train_size": 50_000, "val_size": 10_001}, "50000 + 10001 = 60001 images, but MNIST's training set has 60,000"),
    ({"dataset": "fashion_mnist", "train_size": 60_000}, "Fashion-MNIST's training set has 60,000"),
    ({"losses": ["cross_entropy\n"]}, "losses[0]: a loss name must be lower-case snake_case"),
    ({"variants": {"v\n": {"loss": "cross_entropy"}}}, "variants['v\\n']: a variant name must be"),
    ({"device": "cuda\n"}, "device: expected auto, cpu, cuda or cuda:N, found 'cuda\\n'"),
    ({"device": "cpu\n"}, "device: expected auto, cpu, cuda or cuda:N"),
])
def test_check_refuses_what_no_run_could_use(settings, words):
    with pytest.raises(ConfigError) as err:
        checked(**settings)
    assert words in str(err.value)


def test_the_schema_refuses_names_too_long_and_seeds_torch_cannot_take():
    from snakemake.exceptions import WorkflowError

    for settings in ({"variants": {"v" * 65: {"loss": "cross_entropy"}}}, {"seeds": [2**64]}, {"seeds": [-1]},
                     {"losses": ["l" * 65]}):
        with pytest.raises(WorkflowError):
            validated(settings)
    assert checked(seeds=[0, 2**64 - 1], variants={"v" * 64: {"loss": "cross_entropy"}}, train_size=58_000)


def test_every_integer_of_the_schema_is_checked_as_one():
    """JSON schema's 'integer' accepts 1.0, so check() must see every integer setting."""
    schema = yaml.safe_load(open(SCHEMA))["properties"]
    variant = schema["variants"]["additionalProperties"]["properties"]
    integers = {k for k, v in schema.items() if v.get("type") in ("integer", ["integer", "null"])}
    lists = {k for k, v in schema.items() if v.get("type") == "array" and v["items"].get("type") == "integer"}
    assert integers == set(INTEGERS) and lists == set(INTEGER_LISTS)
    assert {k for k, v in variant.items() if v.get("type") in ("integer", "array")} <= set(INTEGERS) | {"hidden"}
    assert {k for k, v in schema.items() if v.get("type") == "number"} == set(NUMBERS)
    assert {k for k, v in schema.items() if v.get("type") == "boolean"} == set(BOOLEANS)


@pytest.mark.parametrize("text, value", [("1e-3", 0.001), ("5E+0", 5.0), ("1.5e2", 150.0), (" 0.1 ", 0.1), (".5", 0.5)])
def test_lr_written_as_yaml_1_1_leaves_it_is_read_as_the_number(text, value):
    config = {"lr": text, "variants": {"v": {"loss": "cross_entropy", "lr": text}}}
    normalize(config)
    assert config["lr"] == value and config["variants"]["v"]["lr"] == value
    assert yaml.safe_load(f"lr: {text}")["lr"] in (text, text.strip(), value)  # what PyYAML gives


def test_text_that_is_no_number_is_left_for_the_schema():
    config = {"lr": "fast", "epochs": "2", "seeds": ["0"]}
    normalize(config)  # from a config file: only lr is read as a number, and only a number literal
    assert config == {"lr": "fast", "epochs": "2", "seeds": ["0"]}


def test_command_line_values_are_read_by_their_key_type():
    """snakemake --config passes the items of a list or mapping as text (YAML's BaseLoader)."""
    from snakemake.cli import parse_config

    given = parse_config(["seeds=[0,1]", "hidden=[64, 32]", "pack_seeds=true", "deterministic=False",
                          "variants={v: {loss: cross_entropy, lr: 1e-2, epochs: 2, hidden: [8]}}", "epochs=3"])
    assert given["seeds"] == ["0", "1"]  # what Snakemake hands over
    config = copy.deepcopy(given)
    normalize(config, given)
    assert config == {"seeds": [0, 1], "hidden": [64, 32], "pack_seeds": True, "deterministic": False,
                      "variants": {"v": {"loss": "cross_entropy", "lr": 0.01, "epochs": 2, "hidden": [8]}},
                      "epochs": 3}
    one = {"seeds": 3}
    normalize(one, one)
    assert one == {"seeds": [3]}
    refused = {"seeds": ["0", "x"]}
    normalize(refused, refused)
    assert refused == {"seeds": [0, "x"]}  # the schema then names seeds[1]


def test_a_yaml_merge_key_is_no_duplicate_but_a_key_twice_beside_it_is(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("variants:\n  fast: &fast {loss: cross_entropy, lr: 0.5}\n  faster:\n    <<: *fast\n    lr: 2.0\n")
    check_duplicate_keys(str(path))
    path.write_text("base: &b {loss: cross_entropy}\nvariants:\n  x:\n    <<: [*b]\n    lr: 2.0\n    lr: 3.0\n")
    with pytest.raises(ConfigError, match="line 6: duplicate key 'lr'"):
        check_duplicate_keys(str(path))
    path.write_text("? [a, b]\n: 1\n? [a, b]\n: 2\n")  # keys that are lists: compared as written, no crash
    with pytest.raises(ConfigError, match="duplicate key"):
        check_duplicate_keys(str(path))


def test_device_cuda_without_a_visible_gpu_names_the_host_and_cuda_visible_devices(monkeypatch):
    import socket

    import torch

    from lossbench.devices import check_visible, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    for name in ("cuda", "cuda:0", "cuda:1"):
        with pytest.raises(ConfigError) as err:
            resolve_device(name)
        message = str(err.value)
        assert f"device: {name} asked for, but no CUDA GPU is visible" in message
        assert f"host {socket.gethostname()}" in message and "CUDA_VISIBLE_DEVICES=''" in message
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(ConfigError, match="CUDA_VISIBLE_DEVICES unset"):
        check_visible("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_visible("cuda:1")
    with pytest.raises(ConfigError, match=r"only 2 CUDA GPU\(s\) are visible \(cuda:0 .. cuda:1\)"):
        check_visible("cuda:2")
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type == "cuda"
