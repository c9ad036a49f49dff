"""Config errors are caught before any job runs, in one line naming the key; values are read as the
user meant them. Every row runs ``lossbench.config.resolve`` in-process, as the workflow calls it
(common.smk): the config file's YAML, then Snakemake's own parsing of ``--config`` entries merged
into it. tests/test_faults_input.py runs a few rows end to end through a real ``snakemake``."""

from __future__ import annotations

import pytest
import yaml

from helpers import ROOT, refused, resolved
from lossbench.config import (
    ConfigError,
    TrainConfig,
    check_duplicate_keys,
    check_empty_mappings,
    config_from_flags,
    defaults,
    normalize,
    packs_seeds,
    resolve,
    resolve_variants,
    train_args,
)
from lossbench.losses import LOSSES

DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_has_eight_variants():
    sweep = resolved()
    assert list(sweep.variants) == [
        "softmax_nll", "logsoftmax_nll", "cross_entropy", "mse_softmax", "mse_softmax_lr5", "mse_logits",
        "cross_entropy_lr0p002", "mse_logits_lr0p5"]
    assert sweep.variants["mse_softmax_lr5"]["lr"] == 5.0 and sweep.variants["mse_softmax_lr5"]["loss"] == "mse_softmax"
    assert sweep.variants["cross_entropy"]["lr"] == 0.1 and sweep.variants["mse_logits"]["batch_size"] == 100
    assert sweep.horizon["variants"] == ["mse_softmax", "cross_entropy_lr0p002"]  # the slow loss and its twin
    assert sweep.horizon["epochs"] > DEFAULT["epochs"] and len(sweep.horizon["seeds"]) >= 2  # a horizon, with a band
    assert sweep.lr_study["epochs"] == DEFAULT["epochs"]  # null: the sweep's


def test_the_schema_fills_every_default_and_a_blocks_only_when_it_is_on():
    sweep = resolve({}, LOSSES)
    assert sweep.config == {**defaults(), "dataset": "mnist"} and sweep.config["seeds"] == [0, 1, 2, 3, 4]
    assert sweep.horizon is None and sweep.lr_study is None  # off unless a config turns them on
    on = resolve({"losses": ["cross_entropy"], "horizon": {"variants": ["cross_entropy"]}, "lr_study": {}}, LOSSES)
    assert on.horizon == {"variants": ["cross_entropy"], **defaults("horizon")}
    assert on.lr_study == {**defaults("lr_study"), "epochs": on.config["epochs"]}
    assert resolve({"epochs": 3, "lr_study": {"epochs": 7}}, LOSSES).lr_study["epochs"] == 7


def test_resolve_variants_fills_what_a_config_lacks_with_the_schemas_defaults():
    settings = resolve_variants({"losses": ["cross_entropy"], "epochs": 2})["cross_entropy"]
    assert settings["hidden"] == defaults()["hidden"] and settings["test_every"] == 2  # null: the last epoch


def test_train_args_round_trip_through_the_cli():
    from lossbench.cli import build_parser

    settings = resolved().variants["mse_softmax_lr5"]
    argv = ["train", *train_args(settings).split(), "--seed", "3", "--data", "d.pt", "--out-dir", "o"]
    cfg = config_from_flags(vars(build_parser().parse_args(argv)))
    assert cfg == TrainConfig(**{**settings, "hidden": tuple(settings["hidden"]), "seed": 3})


def test_config_hash_ignores_seed_and_runtime_but_not_hyperparameters():
    base = TrainConfig(variant="v", loss="cross_entropy", seed=0)
    runtime = TrainConfig(variant="v", loss="cross_entropy", seed=4, threads=8, device="cpu")
    assert base.config_hash() == runtime.config_hash()
    assert base.config_hash() != TrainConfig(variant="v", loss="cross_entropy", seed=0, lr=0.2).config_hash()


def test_the_default_config_has_no_duplicate_keys():
    assert check_duplicate_keys(str(ROOT / "config" / "config.yaml"))["dataset"] == "mnist"  # its values, read


@pytest.mark.parametrize("given, words", [
    ({"lr_study": {"lrs": {}}}, "lr_study.lrs: an empty mapping ({}) in --config cannot empty it: Snakemake merges "
                                "a mapping key by key into the config file's, so the value stays [0.1, 1]; write "
                                "the value you mean (null turns a block off)"),
    ({"variants": {}}, 'variants: an empty mapping ({}) in --config cannot empty it: Snakemake merges a mapping key '
                       'by key into the config file\'s, so the value stays {"fast": {"lr": 1}}'),
    ({"variants": {"fast": {}}}, "variants.fast: an empty mapping ({}) in --config"),
])
def test_an_empty_mapping_on_the_command_line_is_refused_where_the_merge_would_keep_a_value(given, words):
    merged = {"lr_study": {"lrs": [0.1, 1]}, "variants": {"fast": {"lr": 1}}, "horizon": {}}
    with pytest.raises(ConfigError) as err:
        check_empty_mappings(merged, [("other.yaml", {"seeds": [0]}), ("--config", given)])
    assert str(err.value).startswith(words)


def test_an_empty_mapping_that_empties_nothing_passes():
    merged = {"lr_study": {"lrs": [0.1, 1]}, "horizon": {}, "variants": None}
    check_empty_mappings(merged, [("--config", {"horizon": {}, "variants": {}, "lr_study": {"lrs": [3]}}),
                                  ("x.yaml", None), ("y.yaml", {"new_key": {}})])


# --- values no run could use: one line naming the key, what was expected and what was found ---------

LONG = "a" * 65


@pytest.mark.parametrize("text, overrides, words", [
    # integers are ints (JSON schema's "integer" takes 1.0), wherever they are
    ("epochs: 1.0", (), "epochs: expected an integer >= 1, found 1.0 (float); write 1"),
    ("", ("epochs=2.0",), "epochs: expected an integer >= 1, found 2.0 (float); write 2"),
    ("train_size: 1000.0", (), "train_size: expected an integer >= 1, found 1000.0"),
    ("val_size: 200.0", (), "val_size: expected an integer >= 1"),
    ("batch_size: 10.0", (), "batch_size: expected an integer >= 1"),
    ("test_every: 0", (), "test_every: expected an integer >= 1 or null, found 0 (int)"),
    ("seeds: [0, 2.0]", (), "seeds[1]: expected an integer from 0 to 18446744073709551615, found 2.0 (float); write 2"),
    ("hidden: [32, 16.0]", (), "hidden[1]: expected an integer >= 1, found 16.0"),
    ("variants: {v: {loss: cross_entropy, epochs: 2.0}}", (), "variants.v.epochs: expected an integer >= 1"),
    ("variants: {v: {loss: cross_entropy, batch_size: 50.0}}", (),
     "variants.v.batch_size: expected an integer >= 1, found 50.0 (float); write 50"),
    ("variants: {v: {loss: cross_entropy, hidden: [8.0]}}", (), "variants.v.hidden[0]: expected an integer >= 1"),
    ("horizon: {variants: [mse_softmax], epochs: 20.0}", (), "horizon.epochs: expected an integer >= 1, found 20.0"),
    ("lr_study: {epochs: 2.0}", (), "lr_study.epochs: expected an integer >= 1 or null, found 2.0 (float); write 2"),
    # seeds torch.manual_seed takes
    ("seeds: [18446744073709551616]", (), "seeds[0]: expected an integer from 0 to 18446744073709551615, found "
                                          "18446744073709551616 (int)"),
    ("seeds: [-1]", (), "seeds[0]: expected an integer from 0 to 18446744073709551615, found -1"),
    ("", ("seeds=[0,x]",), "seeds[1]: expected an integer from 0 to 18446744073709551615, found 'x' (str)"),
    ("seeds: [0, 0]", (), "seeds[1]: 0 is listed twice (also seeds[0]); expected each item once"),
    # numbers are finite
    ("lr: .nan", (), "lr: expected a finite number > 0, found nan (float)"),
    ("lr: .inf", (), "lr: expected a finite number > 0, found inf (float)"),
    ("lr: nan", (), "lr: expected a finite number > 0, found nan (float)"),
    ("variants: {fast: {loss: cross_entropy, lr: .inf}}", (), "variants.fast.lr: expected a finite number > 0, found "
                                                              "inf"),
    # names become folder names: whole snake_case text, at most 64 characters
    ('losses: ["cross_entropy\\n"]', (), "losses[0]: expected a string matching ^[a-z][a-z0-9_]*$ of at most 64 "
                                        "characters, found 'cross_entropy\\n'"),
    (f"losses: [{LONG}]", (), "losses[0]: expected a string matching ^[a-z][a-z0-9_]*$ of at most 64 characters"),
    ('variants: {"fast\\n": {loss: cross_entropy}}', (), "variants['fast\\n']: expected a name matching "
                                                        "^[a-z][a-z0-9_]*$ of at most 64 characters (it becomes a "
                                                        "folder name), found 'fast\\n'"),
    (f"variants: {{{LONG}: {{loss: cross_entropy}}}}", (), f"variants['{LONG}']: expected a name matching"),
    ('device: "cuda\\n"', (), "device: expected a string matching ^(auto|cpu|cuda(:[0-9]+)?)$, found 'cuda\\n'"),
    ('device: "cpu\\n"', (), "device: expected a string matching"),
    ("device: gpu", (), "device: expected a string matching ^(auto|cpu|cuda(:[0-9]+)?)$, found 'gpu' (str)"),
    # keys and types
    ("epoch: 3", (), "epoch: unknown key; expected one of dataset, data_mirror, loss_files, train_size"),
    ("variants: {v: {loss: cross_entropy, momentum: 0.9}}", (), "variants.v.momentum: unknown key; expected one of "
                                                               "loss, lr, batch_size, epochs, hidden"),
    ("variants: {v: {lr: 1.0}}", (), "variants.v.loss: missing; expected a string (a registered loss)"),
    ("pack_seeds: maybe", (), "pack_seeds: expected one of auto, true, false, found 'maybe' (str)"),
    ("losses: []\nvariants: {}", (), "losses: expected at least one loss (or a variant under variants), found none"),
    # what the schema cannot see
    ("losses: [cross_entropy, hinge]", (), "losses[1]: expected a registered loss (cross_entropy, logsoftmax_nll, "
                                           "mse_logits, mse_softmax, mse_softmax_sum, softmax_nll), found 'hinge'"),
    ("variants: {v: {loss: hinge}}", (), "variants.v.loss: expected a registered loss"),
    ("variants: {mse_softmax: {loss: mse_softmax, lr: 1.0}}", (), "variants.mse_softmax: expected a name not listed "
                                                                  "under losses, found 'mse_softmax' in both"),
    ("batch_size: 20000", (), "batch_size: expected at most train_size (10000), found 20000"),
    ("variants: {big: {loss: cross_entropy, batch_size: 20000}}", (), "variants.big.batch_size: expected at most "
                                                                      "train_size (10000), found 20000"),
    ("train_size: 50000\nval_size: 10001", (), "train_size + val_size: expected at most MNIST's 60,000 training "
                                               "images (both are drawn from them, disjoint), found 50000 + 10001 = "
                                               "60001 images"),
    ("dataset: fashion_mnist\ntrain_size: 60000", (), "Fashion-MNIST's 60,000 training images"),
    ("dataset: kmnist", (), "dataset: expected one of mnist, fashion_mnist, found 'kmnist'"),
    ("reference: hinge", (), "reference: expected a variant of this sweep (softmax_nll, logsoftmax_nll, "
                             "cross_entropy, mse_softmax, mse_softmax_lr5, mse_logits, cross_entropy_lr0p002, "
                             "mse_logits_lr0p5), found 'hinge'; set reference to one of them"),
    ("slow_loss: hinge", (), "slow_loss: expected a registered loss"),
])
def test_a_value_no_run_could_use_is_one_line_naming_the_key(text, overrides, words):
    assert words in refused(text, *overrides)


def test_the_largest_seed_and_the_longest_name_are_taken():
    assert resolved(f"seeds: [0, 18446744073709551615]\nvariants: {{{'v' * 64}: {{loss: cross_entropy}}}}\n"
                    "train_size: 58000\nhorizon: null")


# --- a sweep narrowed under losses: a study block says how to mend it ----------------------------------

def test_a_horizon_naming_a_variant_the_sweep_no_longer_defines_says_how_to_mend_it():
    # a user who trains cross_entropy and their own loss only: the default horizon names mse_softmax
    message = refused("losses: [cross_entropy]\nvariants: {cross_entropy_lr0p002: {loss: cross_entropy, lr: 0.002}}")
    assert message == ("horizon.variants[0]: expected variants of this sweep (cross_entropy, cross_entropy_lr0p002), "
                       "found mse_softmax; drop it from horizon.variants, or set horizon: null (off)")
    message = refused("losses: [cross_entropy]\nvariants: {}")
    assert message == ("horizon.variants: expected variants of this sweep (cross_entropy), found mse_softmax, "
                       "cross_entropy_lr0p002; name one of cross_entropy in horizon.variants instead, or set "
                       "horizon: null (off)")
    two = refused("losses: [cross_entropy, mse_logits]\nvariants: {}\n"
                  "horizon: {variants: [cross_entropy, mse_softmax, mse_softmax_lr5]}")
    assert two.startswith("horizon.variants: expected") and "found mse_softmax, mse_softmax_lr5; drop them from " \
                                                             "horizon.variants, or set horizon: null (off)" in two
    # mended either way, it runs
    assert resolved("losses: [cross_entropy]\nvariants: {}\nhorizon: null").horizon is None
    assert resolved("losses: [cross_entropy]\nvariants: {}", "horizon={variants: [cross_entropy]}").horizon


def test_a_study_naming_a_loss_that_is_not_registered_says_how_to_mend_it():
    assert refused("lr_study: {losses: [cross_entropy, hinge]}") == (
        "lr_study.losses[1]: expected registered losses (cross_entropy, logsoftmax_nll, mse_logits, mse_softmax, "
        "mse_softmax_sum, softmax_nll), found hinge; drop it from lr_study.losses, or set lr_study: null (off)")
    assert refused("lr_study: {losses: [mse_softmax]}") == (
        "lr_study.reference: expected one of lr_study.losses (mse_softmax), found 'cross_entropy'; set "
        "lr_study.reference to one of them, or set lr_study: null (off)")


# --- values as users write them --------------------------------------------------------------------

@pytest.mark.parametrize("text, overrides, key, value", [
    # --config reads null, yes/no, true/false as the YAML file does
    ("", ("test_every=null",), "test_every", None),
    ("", ("test_every=~",), "test_every", None),
    ("", ("pack_seeds=yes",), "pack_seeds", True),
    ("pack_seeds: yes", (), "pack_seeds", True),
    ("", ("pack_seeds=true",), "pack_seeds", True),
    ("", ("deterministic=False",), "deterministic", False),
    ("", ("deterministic=no",), "deterministic", False),
    ("", ("cuda_graph=off",), "cuda_graph", False),
    ("", ("data_mirror=null",), "data_mirror", None),
    ("", ("report_title=null",), "report_title", None),
    ("", ("epochs=3",), "epochs", 3),
    ("", ("seeds=[0,1]",), "seeds", [0, 1]),
    ("", ("seeds=3",), "seeds", [3]),  # one seed: a list of one
    ("seeds: 3", (), "seeds", [3]),
    ("", ("hidden=[64, 32]",), "hidden", [64, 32]),
    ("", ("losses=cross_entropy", "horizon=null"), "losses", ["cross_entropy"]),
    # a number literal YAML 1.1 leaves as text is the number, where the schema expects a number
    ("lr: 1e-3", (), "lr", 0.001),
    ("lr: 5E+0", (), "lr", 5.0),
    ("lr: 1.5e2", (), "lr", 150.0),
    ('lr: " 0.1 "', (), "lr", 0.1),
    ("lr: .5", (), "lr", 0.5),
    ("", ("lr=1e-3",), "lr", 0.001),
    ("", ("variants={v: {loss: cross_entropy, lr: 1e-2, epochs: 2, hidden: [8]}}",), "variants",
     {**DEFAULT["variants"], "v": {"loss": "cross_entropy", "lr": 0.01, "epochs": 2, "hidden": [8]}}),
    ("", ("horizon=null", "lr_study=null"), "horizon", None),
    ("", ("horizon={epochs: 40, seeds: [0, 3], plateau_gain: 2e-2}",), "horizon",
     {**DEFAULT["horizon"], "epochs": 40, "seeds": [0, 3], "plateau_gain": 0.02}),
    ("lr_study: {lrs: [1e-3, 0.1, 3], threshold: 5e-1}", (), "lr_study",
     {**DEFAULT["lr_study"], "lrs": [0.001, 0.1, 3], "threshold": 0.5}),
    ("", ("lr_study={lrs: [0.1, 1], seeds: [0, 3], epochs: 4}",), "lr_study",
     {**DEFAULT["lr_study"], "lrs": [0.1, 1], "seeds": [0, 3], "epochs": 4}),
    ("", ("lr_study={lrs: 0.3}",), "lr_study", {**DEFAULT["lr_study"], "lrs": [0.3]}),
])
def test_values_are_read_as_the_user_meant_them(text, overrides, key, value):
    assert resolved(text, *overrides).config[key] == value


def test_the_config_file_and_the_command_line_read_the_same_text_the_same_way():
    for text in ("null", "~", "yes", "no", "true", "False", "3", "0.5", "1e-3", "[0, 1]", "x"):
        from_file = {"k": yaml.safe_load(f"k: {text}")["k"]}
        from lossbench.config import _yaml_value  # the reading the command line's text gets

        assert _yaml_value(text if not text.startswith("[") else ["0", "1"]) == from_file["k"], text


def test_text_that_is_no_number_is_left_for_the_schema():
    config = {"lr": "fast", "epochs": "2", "seeds": ["0"]}
    normalize(config)  # from a config file: only where the schema expects a number, and only a number literal
    assert config == {"lr": "fast", "epochs": "2", "seeds": ["0"]}
    assert refused('epochs: "2"') == "epochs: expected an integer >= 1, found '2' (str)"


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


# --- pack_seeds: auto packs everywhere (stacked on CUDA, sequential on CPU: tests/test_sequential.py) ------

def test_pack_seeds_is_auto_by_default_and_auto_from_the_command_line():
    assert resolved().config["pack_seeds"] == "auto"  # config/config.yaml
    assert resolved(base={}).config["pack_seeds"] == "auto"  # the schema's default
    assert resolved("", "pack_seeds=auto").config["pack_seeds"] == "auto"
    assert resolved("pack_seeds: false").config["pack_seeds"] is False


@pytest.mark.parametrize("setting, on_cuda, packed", [
    ("auto", True, True), ("auto", False, True),  # CUDA: stacked; CPU: one run after another, start-up paid once
    (True, False, True), (True, True, True), (False, True, False), (False, False, False),
])
def test_pack_seeds_auto_packs_everywhere_and_true_or_false_as_given(setting, on_cuda, packed):
    assert packs_seeds(setting, on_cuda) is packed


# --- the optimiser as a setting, the number of classes as a run's (issue #22) -----------------------------


def test_the_optimizer_is_a_top_level_setting_and_a_variant_override_like_lr():
    sweep = resolved("optimizer: nsgd\nvariants: {ce_adam: {loss: cross_entropy, optimizer: adam, lr: 0.001}}\n"
                     "horizon: null")
    assert sweep.variants["cross_entropy"]["optimizer"] == "nsgd"
    assert (sweep.variants["ce_adam"]["optimizer"], sweep.variants["ce_adam"]["lr"]) == ("adam", 0.001)
    assert resolved().variants["cross_entropy"]["optimizer"] == "sgd"  # the schema's default
    assert "classes" not in resolved().variants["cross_entropy"]  # the sweep trains every class; studies set it
    assert refused("optimizer: lbfgs") == "optimizer: expected one of sgd, adam, nsgd, found 'lbfgs' (str)"
    assert refused("variants: {v: {loss: cross_entropy, optimizer: Adam}}") == \
        "variants.v.optimizer: expected one of sgd, adam, nsgd, found 'Adam' (str)"
    assert refused("classes: 3").startswith("classes: unknown key")


def test_train_args_leave_settings_at_their_defaults_out_so_old_jobs_keep_their_command_line():
    """optimizer sgd and classes 10 are the command's defaults: a job at them has the command line it had
    before the settings existed (Snakemake retrains nothing), and any other value is passed on and read back."""
    from lossbench.cli import build_parser

    settings = resolved().variants["cross_entropy"]
    assert "--optimizer" not in train_args(settings) and "--classes" not in train_args({**settings, "classes": 10})
    for changed in ({"optimizer": "adam"}, {"optimizer": "nsgd", "classes": 3}):
        args = train_args({**settings, **changed})
        argv = ["train", *args.split(), "--seed", "0", "--data", "d.pt", "--out-dir", "o"]
        cfg = config_from_flags(vars(build_parser().parse_args(argv)))
        assert cfg == TrainConfig(**{**settings, **changed, "hidden": tuple(settings["hidden"]), "seed": 0})


def test_a_study_point_is_a_sweep_run_only_at_the_same_optimizer_and_classes():
    from lossbench.config import same_run, sweep_twin

    variants = resolved().variants
    point = {**variants["cross_entropy"], "variant": "cross_entropy_lr0.1"}
    assert sweep_twin(point, variants) == "cross_entropy"
    assert sweep_twin({**point, "classes": 10}, variants) == "cross_entropy"  # the default, written out
    assert sweep_twin({**point, "optimizer": "adam"}, variants) is None
    assert sweep_twin({**point, "classes": 3}, variants) is None
    no_keys = {k: v for k, v in point.items() if k not in ("optimizer", "classes")}  # settings from before them
    assert same_run(no_keys, point) and not same_run(no_keys, {**point, "optimizer": "nsgd"})
