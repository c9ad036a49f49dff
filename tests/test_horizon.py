"""Slow or stuck? The long-horizon block: its config checks, the test interval, the analysis records
(lossbench.horizon) on constructed tables, and the why page's section words (lossbench.horizon_words)
as golden markdown, on constructed tables and on every scenario (tests/scenarios.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from golden import assert_golden
from lossbench import horizon, horizon_figures, horizon_words
from lossbench.config import ConfigError, TrainConfig, defaults, horizon_run_settings, resolve
from lossbench.decisions import TRACK
from lossbench.losses import LOSSES, register_loss

WINDOW, GAIN = 4, 0.01


def settled_loss(values: list[float]) -> list[float]:
    """A train loss that has settled long before the budget: 2.3·0.3^e."""
    return [2.3 * 0.3**e for e in range(len(values))]


def tables(curves: dict[str, list[list[float]]], lr: float = 0.1, status: dict | None = None,
           losses: dict[str, list[list[float]]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """horizon_runs / horizon_epochs as gather writes them: ``curves`` maps a variant to one list of
    validation accuracies (epochs 0, 1, ...; NaN where not evaluated) per seed; ``losses`` the same
    for the train loss (default: one that has settled, ``settled_loss``)."""
    runs, rows = [], []
    for variant, seeds in curves.items():
        for seed, values in enumerate(seeds):
            state = (status or {}).get(variant, "ok")
            loss = (losses or {}).get(variant, [settled_loss(v) for v in seeds])[seed]
            runs.append({"variant": variant, "loss": variant, "lr": lr, "seed": seed, "status": state,
                         "epochs": len(values) - 1,
                         "test_accuracy": values[-1] - 0.005 if state == "ok" else math.nan})
            rows += [{"variant": variant, "seed": seed, "epoch": e, "val_accuracy": v, "train_loss": x}
                     for e, (v, x) in enumerate(zip(values, loss))]
    return pd.DataFrame(runs), pd.DataFrame(rows)


def read(curves, **kwargs) -> list[horizon.Reading]:
    runs, epochs = tables(curves, **kwargs)
    return horizon.readings(runs, epochs, WINDOW, GAIN)


def one(curves, **kwargs) -> horizon.Reading:
    [reading] = read(curves, **kwargs)
    return reading


RISING = [0.10, 0.12, 0.15, 0.19, 0.24, 0.30, 0.36, 0.42, 0.48, 0.54, 0.60]  # +0.24 over the last 4 epochs
# up to 0.42 by epoch 5, then within one point of it to epoch 10: levelled off from epoch 5
PLATEAU = [0.10, 0.20, 0.30, 0.38, 0.41, 0.420, 0.425, 0.428, 0.424, 0.426, 0.427]
FELL = [0.1, 0.3, 0.42, 0.42, 0.40, 0.38, 0.36, 0.34, 0.33]  # levels off at epoch 2, then falls (a plateau)
LATE = [0.1, 0.2, 0.3, 0.40, 0.40, 0.40, 0.40, 0.45, 0.40, 0.40, 0.40]  # a late peak that falls back
LINEAR_LOSS = [2.3 - 0.1 * e for e in range(11)]  # still falling at its full pace to the budget

# The default run's mse_softmax and its twin (MNIST, 20 epochs, seeds 0 and 1, measured 2026-12-05):
# both seeds' train loss falls faster at the end; seed 0's accuracy still creeps up, seed 1's falls.
DEFAULT_VAL = {
    "mse_softmax": [
        [0.1135, 0.1205, 0.1225, 0.1235, 0.135, 0.1525, 0.1815, 0.2085, 0.242, 0.275, 0.3115, 0.3385, 0.3575, 0.376,
         0.395, 0.4075, 0.413, 0.419, 0.421, 0.4215, 0.4205],
        [0.0885, 0.089, 0.089, 0.089, 0.0935, 0.1275, 0.1725, 0.198, 0.2185, 0.27, 0.333, 0.3865, 0.4335, 0.4705,
         0.491, 0.5025, 0.4955, 0.488, 0.472, 0.4555, 0.4365]],
    "cross_entropy_lr0p002": [
        [0.1135, 0.121, 0.1225, 0.1235, 0.1325, 0.1495, 0.1765, 0.2065, 0.242, 0.271, 0.3075, 0.334, 0.36, 0.375,
         0.3945, 0.41, 0.417, 0.427, 0.437, 0.4445, 0.4545],
        [0.0885, 0.089, 0.089, 0.089, 0.09, 0.1025, 0.1435, 0.1815, 0.2045, 0.2375, 0.2955, 0.348, 0.403, 0.462,
         0.4975, 0.5325, 0.5575, 0.569, 0.58, 0.585, 0.583]]}
DEFAULT_LOSS = {
    "mse_softmax": [
        [0.090002, 0.089977, 0.089925, 0.089872, 0.089819, 0.089763, 0.089705, 0.089644, 0.08958, 0.089511, 0.089437,
         0.089357, 0.08927, 0.089174, 0.089069, 0.088952, 0.088821, 0.088672, 0.088501, 0.088304, 0.088071],
        [0.089999, 0.089977, 0.08993, 0.089882, 0.089833, 0.089781, 0.089726, 0.089669, 0.089607, 0.089541, 0.089469,
         0.089392, 0.089307, 0.089213, 0.08911, 0.088994, 0.088864, 0.088717, 0.088549, 0.088354, 0.088126]],
    "cross_entropy_lr0p002": [
        [2.3027, 2.3014, 2.2989, 2.2963, 2.2937, 2.291, 2.2883, 2.2854, 2.2824, 2.2792, 2.2758, 2.2722, 2.2683, 2.2642,
         2.2597, 2.2549, 2.2496, 2.2438, 2.2375, 2.2305, 2.2227],
        [2.3025, 2.3014, 2.299, 2.2967, 2.2942, 2.2917, 2.289, 2.2863, 2.2833, 2.2802, 2.2769, 2.2733, 2.2695, 2.2654,
         2.2609, 2.256, 2.2506, 2.2447, 2.2383, 2.2311, 2.2232]]}


def default_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    runs, epochs = tables(DEFAULT_VAL, losses=DEFAULT_LOSS)
    twin = runs["variant"] == "cross_entropy_lr0p002"
    runs.loc[twin, ["loss", "lr"]] = ["cross_entropy", 0.002]
    return runs, epochs


# --- the criterion on one curve ---------------------------------------------------------------------

def test_a_curve_still_rising_at_the_budget():
    v = horizon.verdict(pd.Series(RISING), WINDOW, GAIN)
    assert (v.kind, v.start, v.budget) == ("rising", 6, 10)
    assert v.gain == pytest.approx(0.24)


def test_a_plateau_and_where_it_starts():
    v = horizon.verdict(pd.Series(PLATEAU), WINDOW, GAIN)
    assert (v.kind, v.plateau_epoch) == ("plateau", 5)
    assert (v.low, v.high) == (0.42, 0.428)


def test_a_gain_of_exactly_the_threshold_counts_as_rising():
    """0.43 - 0.42 is 0.00999999... in floats: the criterion's 'at least' must still hold."""
    curve = pd.Series([0.1, 0.3, 0.42, 0.42, 0.42, 0.42, 0.43])
    assert horizon.verdict(curve, WINDOW, GAIN).kind == "rising"


def test_a_late_peak_that_falls_back_is_not_settled():
    v = horizon.verdict(pd.Series(LATE), WINDOW, GAIN)
    assert v.kind == "unsettled" and (v.low, v.high) == (0.40, 0.45)


def test_a_curve_that_levels_off_then_falls_is_a_plateau_below_its_peak():
    v = horizon.verdict(pd.Series(FELL), WINDOW, GAIN)  # mse_softmax past epoch 20
    assert (v.kind, v.plateau_epoch, v.peak_epoch) == ("plateau", 2, 2)


def test_epochs_without_a_validation_accuracy_are_left_out():
    every_2 = [x if e % 2 == 0 or e == 10 else math.nan for e, x in enumerate(PLATEAU)]
    v = horizon.verdict(pd.Series(every_2), WINDOW, GAIN)
    assert (v.kind, v.plateau_epoch, v.start) == ("plateau", 6, 6)  # epoch 5 has no value


def test_a_budget_shorter_than_the_window_gets_no_verdict():
    assert horizon.verdict(pd.Series([0.1, 0.2, 0.3]), WINDOW, GAIN).kind == "short"


def test_the_curve_is_the_mean_over_seeds_at_epochs_every_seed_evaluated():
    runs, epochs = tables({"a": [[0.1, 0.2, 0.3], [0.3, math.nan, 0.5]]})
    curve = horizon.curve_of(epochs, "a")
    assert list(curve.index) == [0, 2] and list(curve.values) == pytest.approx([0.2, 0.4])


# --- a variant's reading: the mean curve, each seed's own window, the train loss --------------------

def test_readings_of_rising_plateau_late_move_diverged_and_short():
    assert one({"a": [RISING, RISING]}).kind == "rising"
    plateau = one({"a": [PLATEAU, PLATEAU]})
    assert (plateau.kind, plateau.curve.plateau_epoch, plateau.reasons) == ("plateau", 5, ())
    assert all(s.loss_settled and s.direction == "level" for s in plateau.seeds_read)
    late = one({"a": [LATE]})
    assert (late.kind, late.reasons) == ("unsettled", ("late move",))
    diverged = one({"a": [RISING]}, status={"a": "diverged"})
    assert (diverged.kind, diverged.curve, diverged.judged) == ("diverged", None, False)
    assert one({"a": [[0.1, 0.2, 0.3]]}).kind == "short"


def test_validation_flat_while_the_train_loss_still_falls_is_not_levelled_off():
    r = one({"a": [PLATEAU, PLATEAU]}, losses={"a": [LINEAR_LOSS, LINEAR_LOSS]})
    assert (r.kind, r.reasons) == ("unsettled", ("train loss moving",))
    assert r.curve.kind == "plateau"  # the validation curve alone would say levelled off
    s = r.seeds_read[0]
    assert (s.start, s.loss_start, s.loss_end) == (6, pytest.approx(1.7), pytest.approx(1.3))
    assert s.loss_pace == pytest.approx(1.0) and not s.loss_settled  # its full mean pace since epoch 0


def test_the_train_loss_has_settled_below_the_threshold_share_of_its_mean_pace():
    from lossbench.decisions import TRAIN_LOSS_SETTLED

    # falls 2.0 by epoch 6, then a last window at just under / just over TRAIN_LOSS_SETTLED of the mean pace
    def loss(share):
        end = 0.3 - share * 4 * 0.2  # the window's fall per epoch = share x the mean fall per epoch (about 0.2)
        return [2.3 - 2.0 * min(e, 6) / 6 for e in range(7)] + [0.3 - (0.3 - end) * k / 4 for k in (1, 2, 3, 4)]

    for share, settled in ((TRAIN_LOSS_SETTLED * 0.8, True), (TRAIN_LOSS_SETTLED * 1.5, False)):
        r = one({"a": [PLATEAU]}, losses={"a": [loss(share)]})
        assert r.seeds_read[0].loss_settled is settled and r.kind == ("plateau" if settled else "unsettled")


def test_a_train_loss_that_rises_over_the_window_has_not_settled_either():
    rising_loss = settled_loss(PLATEAU)[:7] + [0.2, 0.4, 0.6, 0.8]
    r = one({"a": [PLATEAU]}, losses={"a": [rising_loss]})
    assert r.kind == "unsettled" and r.seeds_read[0].loss_change > 0


def test_seeds_that_disagree_are_not_settled():
    # seed 0 still rising, seed 1 falling back: the mean has levelled off, the seeds have not
    up = [0.1, 0.2, 0.3, 0.35, 0.37, 0.38, 0.38, 0.39, 0.40, 0.41, 0.42]
    down = [0.1, 0.2, 0.3, 0.45, 0.47, 0.48, 0.48, 0.47, 0.46, 0.45, 0.44]
    r = one({"a": [up, down]})
    assert r.curve.kind == "plateau" and (r.kind, r.reasons) == ("unsettled", ("seeds disagree",))
    assert [(s.seed, s.direction) for s in r.seeds_read] == [(0, "rising"), (1, "falling")]
    assert [s.gain for s in r.seeds_read] == pytest.approx([0.04, -0.04])
    # one rising, one level: not settled either, even where the mean still rises
    level = [0.1, 0.2, 0.3, 0.45, 0.47, 0.48, 0.48, 0.48, 0.48, 0.48, 0.48]
    r = one({"a": [RISING, level]})
    assert r.curve.kind == "rising" and (r.kind, r.reasons) == ("unsettled", ("seeds disagree",))
    # seeds that agree: the mean decides
    assert one({"a": [RISING, RISING, RISING]}).kind == "rising"


def test_the_default_runs_mse_softmax_is_not_settled_for_both_reasons():
    runs, epochs = default_tables()
    slow, twin = horizon.readings(runs, epochs, WINDOW, GAIN)
    assert slow.curve.kind == "plateau" and slow.curve.plateau_epoch == 15  # what the page said before
    assert (slow.kind, slow.reasons) == ("unsettled", ("seeds disagree", "train loss moving"))
    assert [s.direction for s in slow.seeds_read] == ["level", "falling"]
    assert [s.loss_pace for s in slow.seeds_read] == pytest.approx([1.94, 1.97], abs=0.01)  # faster at the end
    assert (twin.kind, [s.direction for s in twin.seeds_read]) == ("rising", ["rising", "rising"])


# --- the section's words, golden (constructed tables) -----------------------------------------------

def section(runs, epochs, window=WINDOW, gain=GAIN, slow_loss="mse_softmax", reference_loss="cross_entropy",
            track=TRACK) -> str:
    """The section's markdown as the page shows it: the statement, the twin, the figure's caption."""
    readings = horizon.readings(runs, epochs, window, gain)
    pair = horizon.twin(runs, epochs, slow_loss, reference_loss, 10, track)
    parts = [horizon_words.statement(readings, window, gain), horizon_words.twin(pair),
             horizon_words.caption(readings)]
    return "\n\n".join(p for p in parts if p)


CASES = {
    "rising": lambda: tables({"cross_entropy_lr0p002": [RISING, RISING]}, lr=0.002),
    "plateau-below-the-best": lambda: tables({"cross_entropy": [RISING, RISING], "mse_softmax": [PLATEAU, PLATEAU]}),
    "plateau-of-the-best": lambda: tables({"cross_entropy": [PLATEAU]}),
    "plateau-below-its-peak": lambda: tables({"mse_softmax": [FELL]}),
    "late-move": lambda: tables({"mse_logits": [LATE]}),
    "diverged-and-short": lambda: tuple(pd.concat(pair) for pair in zip(
        tables({"exploding": [RISING]}, status={"exploding": "diverged"}), tables({"brief": [[0.1, 0.2, 0.3]]}))),
    "train-loss-still-falling": lambda: tables({"a": [PLATEAU, PLATEAU]}, losses={"a": [LINEAR_LOSS, LINEAR_LOSS]}),
    "seeds-disagree-three-seeds": lambda: tables({"a": [RISING, RISING, [0.1, 0.2, 0.3, 0.45, 0.47, 0.48, 0.48, 0.48,
                                                                          0.48, 0.48, 0.48]]}),
    "default-run": default_tables,
}


@pytest.mark.parametrize("case", CASES)
def test_section_words(case):
    assert_golden(f"horizon/{case}.md", section(*CASES[case]()))


def test_the_criterion_is_stated_with_the_pages_window_and_gain():
    runs, epochs = tables({"a": [RISING]})
    text = horizon_words.statement(horizon.readings(runs, epochs, 6, 0.02), 6, 0.02)
    assert_golden("horizon/criterion-window-6-gain-2-points.md", text)
    assert "gained at least 1 point over" in horizon_words.criterion(4, 0.01)


def test_block_off_says_so():
    runs, epochs = horizon.load("", "")
    readings = horizon.readings(runs, epochs, WINDOW, GAIN)
    assert readings == []
    assert_golden("horizon/block-off.md", horizon_words.statement(readings, WINDOW, GAIN))
    assert horizon_words.caption(readings) == "" and horizon_figures.curves(epochs, readings) is None
    assert horizon_words.display(readings) is None
    assert horizon.twin(runs, epochs, "mse_softmax", "cross_entropy", 10) is None


def test_figure_and_display_table():
    runs, epochs = tables({"cross_entropy": [RISING, RISING], "mse_softmax": [PLATEAU, PLATEAU]})
    readings = horizon.readings(runs, epochs, WINDOW, GAIN)
    fig = horizon_figures.curves(epochs, readings)
    acc, loss = fig.axes
    assert acc.get_ylim() == (0, 1) and loss.get_ylabel() == "train loss / its epoch-0 value (log scale)"
    assert loss.get_yscale() == "log" and len(loss.get_lines()) >= 6  # each seed and each mean of both variants
    plt.close(fig)
    # each variant in the colour the page's other figures give it (its place among the sweep's variants)
    from lossbench.plots import _palette

    fig = horizon_figures.curves(epochs, readings, ["softmax_nll", "cross_entropy", "mse_softmax"])
    colours = {line.get_label(): matplotlib.colors.to_hex(line.get_color())
               for line in fig.axes[1].get_legend().get_lines()}
    expected = _palette(["softmax_nll", "cross_entropy", "mse_softmax"])
    assert colours == {v: matplotlib.colors.to_hex(expected[v]) for v in ("cross_entropy", "mse_softmax")}
    plt.close(fig)
    html = horizon_words.display(readings).to_html()
    assert "levelled off" in html and "still rising" in html and "+24.0 points" in html
    assert "nan" not in html.lower() and "inf" not in html.lower()


def test_no_built_in_loss_name_is_written_into_the_horizon_modules():
    import lossbench

    built_in = [name for name in LOSSES if not name.startswith("test_")]
    for module in ("horizon", "horizon_words", "horizon_figures"):
        source = (Path(lossbench.__file__).parent / f"{module}.py").read_text()
        quoted = [name for name in built_in if f'"{name}"' in source or f"'{name}'" in source]
        assert not quoted, f"{module}.py names {quoted}"
        assert "2/C²" not in source and "theoretical_ratio" not in source


# --- the config block -------------------------------------------------------------------------------

CONFIG = {"dataset": "mnist", "train_size": 1000, "val_size": 200, "hidden": [32], "lr": 0.1, "batch_size": 20,
          "epochs": 1, "seeds": [0], "losses": ["cross_entropy", "mse_softmax"], "reference": "cross_entropy",
          "variants": {"cross_entropy_lr0p002": {"loss": "cross_entropy", "lr": 0.002}}}


def horizon_of(**block):
    return resolve({**CONFIG, "horizon": block}, LOSSES).horizon


def test_the_block_is_filled_with_its_defaults_and_off_when_null():
    settings = horizon_of(variants=["mse_softmax", "cross_entropy_lr0p002"])
    assert settings == {"variants": ["mse_softmax", "cross_entropy_lr0p002"], **defaults("horizon")}
    assert resolve({**CONFIG, "horizon": None}, LOSSES).horizon is None and resolve(CONFIG, LOSSES).horizon is None


@pytest.mark.parametrize("block, words", [  # each one line naming the key, what was expected and what was found
    ({"variants": ["mse_softmax", "hinge_lr3"]}, "horizon.variants[1]: expected variants of this sweep (cross_entropy, "
                                                  "mse_softmax, cross_entropy_lr0p002), found hinge_lr3; drop it from "
                                                  "horizon.variants, or set horizon: null (off)"),
    ({"variants": []}, "horizon.variants: expected a non-empty list of distinct items, each a string, found [] (list)"),
    ({"epochs": 20}, "horizon.variants: missing; expected a non-empty list of distinct items, each a string"),
    ({"variants": ["mse_softmax", "mse_softmax"]}, "horizon.variants[1]: 'mse_softmax' is listed twice"),
    ({"variants": ["mse_softmax"], "epochs": 20.0}, "horizon.epochs: expected an integer >= 1, found 20.0 (float)"),
    ({"variants": ["mse_softmax"], "seeds": [0, 0]}, "horizon.seeds[1]: 0 is listed twice (also horizon.seeds[0])"),
    ({"variants": ["mse_softmax"], "seeds": [-1]}, "horizon.seeds[0]: expected an integer from 0 to "),
    ({"variants": ["mse_softmax"], "test_every": 0}, "horizon.test_every: expected an integer >= 1, found 0"),
    ({"variants": ["mse_softmax"], "plateau_window": 21}, "horizon.plateau_window: expected at most horizon.epochs "
                                                          "(20: the window must fit in the budget), found 21"),
    ({"variants": ["mse_softmax"], "plateau_gain": 1.5}, "horizon.plateau_gain: expected a finite number between 0 "
                                                         "and 1 (exclusive), found 1.5 (float)"),
    ({"variants": ["mse_softmax"], "lr": 0.5}, "horizon.lr: unknown key"),
])
def test_a_bad_block_is_refused_naming_the_key(block, words):
    with pytest.raises(ConfigError) as err:
        horizon_of(**block)
    assert words in str(err.value)


def test_a_horizon_run_is_its_variant_with_the_budget_and_interval():
    variants = resolve(dict(CONFIG), LOSSES).variants
    settings = horizon_run_settings(variants["cross_entropy_lr0p002"], horizon_of(variants=["mse_softmax"]))
    assert (settings["lr"], settings["epochs"], settings["test_every"]) == (0.002, 20, 20)
    cfg = TrainConfig(**{**settings, "hidden": tuple(settings["hidden"]), "seed": 0})
    # how often a run is measured is not what it trains: the config hash is the same
    assert cfg.config_hash() == TrainConfig(**{**settings, "hidden": tuple(settings["hidden"]), "seed": 0,
                                               "test_every": 1}).config_hash()


# --- the test interval in training ------------------------------------------------------------------

def test_test_every_tests_every_kth_epoch_and_the_last_and_trains_the_same(tiny_data, tmp_path):
    from lossbench.train import train

    cfg = TrainConfig(variant="ce", loss="cross_entropy", seed=0, train_size=200, val_size=50, hidden=(32, 16),
                      lr=0.5, batch_size=25, epochs=5)
    train(cfg, tiny_data, out_dir=tmp_path / "every")
    every = pd.read_csv(tmp_path / "every" / "history.csv")
    sparse = train(TrainConfig(**{**cfg.__dict__, "test_every": 2}), tiny_data, out_dir=tmp_path / "sparse")
    history = pd.read_csv(tmp_path / "sparse" / "history.csv")
    assert list(history.loc[history["test_accuracy"].notna(), "epoch"]) == [2, 4, 5]
    same = [c for c in history.columns if c not in ("test_accuracy", "epoch_seconds", "epoch_cpu_seconds")]
    pd.testing.assert_frame_equal(history[same], every[same])  # validation every epoch, the same training
    tested = history["test_accuracy"].notna()
    assert (history.loc[tested, "test_accuracy"] == every.loc[tested, "test_accuracy"]).all()
    assert sparse["config_hash"] == json.loads((tmp_path / "every" / "metrics.json").read_text())["config_hash"]
    assert sparse["config"]["test_every"] == 2


def test_the_untrained_network_is_tested_only_in_a_test_curve_of_several_epochs(tiny_data, tmp_path):
    """test_every 1 over several epochs: a test curve, from epoch 0. A one-epoch run (the classes study's) is
    tested at its epoch 1 only: its 'every epoch' and 'the last' are the same, and the test set of the
    untrained network costs a pass over 5x the validation set for a number nobody reads."""
    from lossbench.train import train

    base = dict(variant="ce", loss="cross_entropy", seed=0, train_size=200, val_size=50, hidden=(32, 16), lr=0.5,
                batch_size=25, test_every=1)
    for epochs, tested in ((3, [0, 1, 2, 3]), (1, [1])):
        train(TrainConfig(**base, epochs=epochs), tiny_data, out_dir=tmp_path / str(epochs))
        history = pd.read_csv(tmp_path / str(epochs) / "history.csv")
        assert list(history.loc[history["test_accuracy"].notna(), "epoch"]) == tested


def test_test_every_leaves_nan_between_tests_and_gather_reads_it(tiny_data, tmp_path):
    from lossbench import tables as gather
    from lossbench.train import train

    cfg = TrainConfig(variant="ce", loss="cross_entropy", seed=0, train_size=200, val_size=50, hidden=(32, 16),
                      lr=0.5, batch_size=25, epochs=5, test_every=2)
    train(cfg, tiny_data, out_dir=tmp_path / "run")
    out = gather.write_tables([tmp_path / "run" / "metrics.json"], tmp_path / "tables", prefix="horizon_")
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [
        "horizon_epochs.csv", f"horizon_{gather.MANIFEST}", "horizon_runs.csv", "horizon_summary.csv"]
    assert out["runs"]["test_every"].tolist() == [2]


# --- the twin: the slow loss at lr η against the reference's family at η × its declared scale -------

def twin_tables(slow: list[float], other: list[float], other_lr: float = 0.002, other_loss: str = "cross_entropy",
                slow_loss: str = "mse_softmax", other_name: str = "cross_entropy_lr0p002"):
    runs, epochs = tables({slow_loss: [slow], other_name: [other]})
    runs.loc[runs["variant"] == other_name, ["loss", "lr"]] = [other_loss, other_lr]
    return runs, epochs


def twin_of(slow, other, track=GAIN, **kwargs) -> horizon.Twin:
    return horizon.twin(*twin_tables(slow, other, **kwargs), "mse_softmax", "cross_entropy", 10, track)


# the pre-registry rows, read at a 1-point tracking tolerance as they were written (the page uses TRACK)
TWINS = {
    "tracking-then-ahead-then-behind": ([0.10, 0.11, 0.13, 0.20, 0.30, 0.40, 0.41, 0.41],
                                        [0.10, 0.11, 0.125, 0.18, 0.29, 0.41, 0.45, 0.50]),
    "behind-then-ahead-again": ([0.1, 0.1, 0.2, 0.3, 0.25, 0.35, 0.6], [0.1, 0.1, 0.15, 0.35, 0.40, 0.45, 0.5]),
    "behind-only": ([0.1, 0.2, 0.3, 0.3], [0.1, 0.2, 0.35, 0.4]),
    "tracking-at-every-epoch": ([0.1, 0.2, 0.3], [0.1, 0.205, 0.295]),
    "apart-from-the-start": ([0.1, 0.2], [0.3, 0.4]),
}


def test_twin_records():
    t = twin_of(*TWINS["tracking-then-ahead-then-behind"])
    assert (t.kind, t.slow, t.other, t.scale, t.tracked_to, t.budget) == (
        "parts", "mse_softmax", "cross_entropy_lr0p002", pytest.approx(0.02), 2, 7)
    assert [(p.sign, p.since, p.at) for p in t.phases] == [(1, 3, 3), (-1, 5, 7)]
    assert [p.gap for p in t.phases] == pytest.approx([0.02, 0.09]) and t.end_gap == pytest.approx(-0.09)
    t = twin_of(*TWINS["behind-then-ahead-again"])
    assert [(p.sign, p.since, p.at) for p in t.phases] == [(1, 2, 2), (-1, 3, 4), (1, 6, 6)]
    assert twin_of(*TWINS["tracking-at-every-epoch"]).kind == "tracks"
    assert twin_of(*TWINS["apart-from-the-start"]).kind == "apart"
    # the page's tolerance is decisions.TRACK (2 points): a 1-point gap (epoch 5) is no longer a phase
    t = twin_of(*TWINS["tracking-then-ahead-then-behind"], track=TRACK)
    assert (t.track, t.tracked_to, [(p.sign, p.since, p.at) for p in t.phases]) == (TRACK, 2, [(1, 3, 3), (-1, 6, 7)])


@pytest.mark.parametrize("case", TWINS)
def test_twin_words(case):
    assert_golden(f"horizon/twin-{case}.md", horizon_words.twin(twin_of(*TWINS[case])))


def test_no_twin_at_another_lr_and_none_for_another_slow_loss():
    t = twin_of([0.1, 0.2], [0.1, 0.2], other_lr=0.01)
    assert (t.kind, t.target_lr, t.other) == ("no twin", pytest.approx(0.002), None)
    assert_golden("horizon/twin-not-in-the-horizon.md", horizon_words.twin(t))
    # the page's slow loss is mse_logits: the horizon trains none, so there is nothing to follow
    runs, epochs = twin_tables([0.1, 0.2], [0.1, 0.2])
    assert horizon.twin(runs, epochs, "mse_logits", "cross_entropy", 10) is None
    assert horizon_words.twin(None) == ""


def test_the_twin_follows_the_registry_not_the_names():
    # the page's reference is softmax_nll: its family's cross_entropy run is the twin
    runs, epochs = twin_tables([0.1, 0.2, 0.3], [0.1, 0.205, 0.295])
    t = horizon.twin(runs, epochs, "mse_softmax", "softmax_nll", 10)
    assert (t.kind, t.reference_loss, t.other_loss) == ("tracks", "softmax_nll", "cross_entropy")
    # C is the claim's own variable: at C = 5 the matched lr is 0.1 × 2/25 = 0.008, not 0.002
    t = horizon.twin(runs, epochs, "mse_softmax", "cross_entropy", 5)
    assert (t.kind, t.target_lr) == ("no twin", pytest.approx(0.008))
    # a slow loss that is the reference's own function has no twin
    assert horizon.twin(*twin_tables([0.1], [0.1], slow_loss="logsoftmax_nll"), "logsoftmax_nll",
                        "cross_entropy", 10) is None


@pytest.fixture
def user_loss():
    """A user's loss that declares a scale (0.1 × cross-entropy's), and one that declares nothing."""
    added = ("test_tenth_declared", "test_focal_undeclared")
    register_loss(added[0], head="logits", grad_scale=lambda classes: 0.1)(lambda z, y: z.sum())
    register_loss(added[1])(lambda z, y: z.sum())
    yield added
    for name in added:
        LOSSES.pop(name)


def test_a_user_loss_with_a_declared_scale_gets_its_own_twin(user_loss):
    declared, _ = user_loss
    runs, epochs = twin_tables([0.1, 0.2, 0.3, 0.3], [0.1, 0.2, 0.35, 0.4], other_lr=0.01, slow_loss=declared,
                               other_name="cross_entropy_lr0p01")
    t = horizon.twin(runs, epochs, declared, "cross_entropy", 10)
    assert (t.kind, t.scale, t.other_lr) == ("parts", pytest.approx(0.1), 0.01)
    assert_golden("horizon/twin-user-loss-with-a-declared-scale.md", horizon_words.twin(t))


def test_a_slow_loss_without_a_declared_scale_gets_no_twin_and_no_borrowed_theory(user_loss):
    _, undeclared = user_loss
    runs, epochs = twin_tables([0.1, 0.2, 0.3], [0.1, 0.205, 0.295], slow_loss=undeclared)
    t = horizon.twin(runs, epochs, undeclared, "cross_entropy", 10)
    assert (t.kind, t.scale, t.undeclared, t.other) == ("no scale", None, (undeclared,), None)
    text = horizon_words.twin(t)
    assert_golden("horizon/twin-slow-loss-without-a-declared-scale.md", text)
    assert "0.02" not in text and "same step" not in text


def test_the_page_reads_only_the_tables_gather_wrote(tmp_path):
    from lossbench.tables import TableError
    from scenarios import gathered, scenario

    paths = gathered(scenario("one_seed"), tmp_path)
    runs, epochs = horizon.load(paths["horizon_runs_csv"], paths["horizon_epochs_csv"])
    assert [r.variant for r in horizon.readings(runs, epochs, 2, GAIN)] == ["mse_softmax", "cross_entropy_lr0p002"]
    table = Path(paths["horizon_epochs_csv"])
    table.write_text("".join(table.read_text().splitlines(True)[:-1]))  # a row deleted by hand
    with pytest.raises(TableError, match="horizon_epochs.csv"):
        horizon.load(paths["horizon_runs_csv"], paths["horizon_epochs_csv"])


# --- every scenario's section (tests/scenarios.py: small real trainings) -----------------------------

@pytest.mark.parametrize("name", ["default", "fast_user_loss", "slow_user_loss", "capped_user_loss", "nan_loss",
                                  "one_seed", "all_diverged"])
def test_scenario_section(name):
    from scenarios import scenario, user_losses

    s = scenario(name)
    with user_losses():
        text = section(s.horizon_runs, s.horizon_epochs, s.plateau_window, s.plateau_gain, s.slow_loss,
                       horizon.loss_of(s.runs, s.reference))
    assert_golden(f"horizon/scenario-{name}.md", text)
    assert not re.search(r"\b(nan|inf)\b", text.lower())
