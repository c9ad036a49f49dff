"""Slow or stuck? The long-horizon block: its config checks, the test interval, and every sentence of
the why page's section, on constructed tables (lossbench.horizon)."""

from __future__ import annotations

import json
import math

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from lossbench import horizon
from lossbench.config import ConfigError, TrainConfig, defaults, horizon_run_settings, resolve
from lossbench.losses import LOSSES

WINDOW, GAIN = 4, 0.01


def tables(curves: dict[str, list[list[float]]], lr: float = 0.1, status: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """horizon_runs / horizon_epochs as gather writes them: ``curves`` maps a variant to one list of
    validation accuracies (epochs 0, 1, ...; NaN where not evaluated) per seed."""
    runs, rows = [], []
    for variant, seeds in curves.items():
        for seed, values in enumerate(seeds):
            state = (status or {}).get(variant, "ok")
            runs.append({"variant": variant, "loss": variant, "lr": lr, "seed": seed, "status": state,
                         "epochs": len(values) - 1,
                         "test_accuracy": values[-1] - 0.005 if state == "ok" else math.nan})
            rows += [{"variant": variant, "seed": seed, "epoch": e, "val_accuracy": v} for e, v in enumerate(values)]
    return pd.DataFrame(runs), pd.DataFrame(rows)


def read(curves, **kwargs) -> pd.DataFrame:
    runs, epochs = tables(curves, **kwargs)
    return horizon.verdicts(runs, epochs, WINDOW, GAIN)


RISING = [0.10, 0.12, 0.15, 0.19, 0.24, 0.30, 0.36, 0.42, 0.48, 0.54, 0.60]  # +0.24 over the last 4 epochs
# up to 0.42 by epoch 5, then within one point of it to epoch 10: levelled off from epoch 5
PLATEAU = [0.10, 0.20, 0.30, 0.38, 0.41, 0.420, 0.425, 0.428, 0.424, 0.426, 0.427]


# --- the criterion ----------------------------------------------------------------------------------

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
    curve = pd.Series([0.1, 0.2, 0.3, 0.40, 0.40, 0.40, 0.40, 0.45, 0.40, 0.40, 0.40])
    v = horizon.verdict(curve, WINDOW, GAIN)
    assert v.kind == "unsettled" and (v.low, v.high) == (0.40, 0.45)


def test_a_curve_that_levels_off_then_falls_is_a_plateau_below_its_peak():
    curve = pd.Series([0.1, 0.3, 0.42, 0.42, 0.40, 0.38, 0.36, 0.34, 0.33])  # mse_softmax past epoch 20
    v = horizon.verdict(curve, WINDOW, GAIN)
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


# --- the sentences ----------------------------------------------------------------------------------

def test_sentence_still_rising():
    table = read({"cross_entropy_lr0p002": [RISING, RISING]}, lr=0.002)
    text = horizon.statement(table, WINDOW, GAIN)
    assert ("- `cross_entropy_lr0p002` (lr 0.002, mean of 2 seeds): **still rising at the budget** — +24.0 points "
            "of validation accuracy over its last 4 epochs (0.3600 at epoch 6, 0.6000 at epoch 10): slow, not "
            "stuck, within 10 epochs.") in text
    assert "Within 10 epochs: **slow** (still rising): `cross_entropy_lr0p002`." in text


def test_sentence_plateau_below_the_best_variant():
    table = read({"cross_entropy": [RISING, RISING], "mse_softmax": [PLATEAU, PLATEAU]})
    text = horizon.statement(table, WINDOW, GAIN)
    assert ("- `mse_softmax` (lr 0.1, mean of 2 seeds): **levelled off from epoch 5** — from there to the budget "
            "(10 epochs) its validation accuracy stays between 0.4200 and 0.4280, 0.4270 at epoch 10; 17.3 points "
            "below `cross_entropy` (0.6000).") in text
    assert ("Within 10 epochs: **slow** (still rising): `cross_entropy`; **levelled off**: `mse_softmax` at "
            "0.4270.") in text


def test_sentence_plateau_of_the_best_variant_names_no_other():
    table = read({"cross_entropy": [PLATEAU]})
    text = horizon.statement(table, WINDOW, GAIN)
    assert ("- `cross_entropy` (lr 0.1, 1 seed): **levelled off from epoch 5** — from there to the budget (10 epochs) "
            "its validation accuracy stays between 0.4200 and 0.4280, 0.4270 at epoch 10.") in text


def test_sentence_plateau_that_fell_from_its_peak():
    table = read({"mse_softmax": [[0.1, 0.3, 0.42, 0.42, 0.40, 0.38, 0.36, 0.34, 0.33]]})
    assert "0.3300 at epoch 8 (9.0 points below its peak at epoch 2)." in horizon.statement(table, WINDOW, GAIN)


def test_sentence_not_settled():
    table = read({"mse_logits": [[0.1, 0.2, 0.3, 0.40, 0.40, 0.40, 0.40, 0.45, 0.40, 0.40, 0.40]]})
    assert ("- `mse_logits` (lr 0.1, 1 seed): **not settled at the budget** — it gained less than 1 point over "
            "its last 4 epochs (0.4000 → 0.4000) but moved between 0.4000 and 0.4500 in them.") in \
        horizon.statement(table, WINDOW, GAIN)


def test_sentence_diverged_and_too_short():
    table = pd.concat([read({"exploding": [RISING]}, status={"exploding": "diverged"}),
                       read({"brief": [[0.1, 0.2, 0.3]]})])
    text = horizon.statement(table, WINDOW, GAIN)
    assert "- ⚠ `exploding` (lr 0.1, 1 seed): runs **diverged** within the 10-epoch budget; no verdict." in text
    assert ("- `brief` (lr 0.1, 1 seed): its budget (2 epochs) is shorter than the plateau window (4 epochs); "
            "no verdict.") in text
    assert "Within" not in text  # nothing judged, no reading


def test_the_criterion_is_stated_with_the_pages_window_and_gain():
    text = horizon.statement(read({"a": [RISING]}), 6, 0.02)
    assert text.startswith("A curve is **still rising** if its mean validation accuracy gained at least 2 points "
                           "over the last 6 epochs of the budget; it has **levelled off** from the first epoch after "
                           "which it never again gets 2 points higher, if that epoch is 6 or more epochs before "
                           "the budget; otherwise it is **not settled**.")
    assert "gained at least 1 point over" in horizon.criterion(4, 0.01)
    assert text.split("\n")[0].endswith("Levelled off holds within the budget only: a flat stretch can be a stall "
                                         "that a longer budget shows ending (`--config 'horizon={epochs: 40}'`; "
                                         "README, \"Slow or stuck?\").")


def test_block_off_says_so():
    runs, epochs = horizon.load("", "")
    table = horizon.verdicts(runs, epochs, WINDOW, GAIN)
    assert horizon.statement(table, WINDOW, GAIN).startswith(
        "No long-horizon runs in this sweep (config `horizon:` is off)")
    assert horizon.caption(runs) == "" and horizon.curves(epochs, table) is None


def test_caption_seeds_budget_interval_and_band():
    runs, _ = tables({"a": [RISING, RISING], "b": [RISING, RISING]})
    assert horizon.caption(runs) == (
        "Validation accuracy of the long-horizon runs, mean over 2 seeds per variant and epoch, to a budget of 10 "
        "epochs. Bold line: the mean; band: its 95% t-interval over seeds, clipped to [0, 1]; thin dashed lines: "
        "each seed. A large marker shows where a curve levelled off by the criterion above. With two seeds the "
        "interval is the mean ± 12.7 × sd/√2 (t with one degree of freedom), wide wherever the seeds differ: read "
        "the seeds' own lines there.")
    three, _ = tables({"a": [RISING] * 3})
    assert horizon.caption(three).endswith("by the criterion above.")
    one, _ = tables({"a": [RISING]})
    assert horizon.caption(one).endswith("mean over 1 seed per variant and epoch, to a budget of 10 epochs. "
                                         "One seed: no band (an interval needs two seeds or more).")


def test_figure_and_display_table():
    runs, epochs = tables({"cross_entropy": [RISING, RISING], "mse_softmax": [PLATEAU, PLATEAU]})
    table = horizon.verdicts(runs, epochs, WINDOW, GAIN)
    fig = horizon.curves(epochs, table)
    assert isinstance(fig, plt.Figure) and fig.axes[0].get_ylim() == (0, 1)
    plt.close(fig)
    # each variant in the colour the page's other figures give it (its place among the sweep's variants)
    from lossbench.plots import _palette

    fig = horizon.curves(epochs, table, ["softmax_nll", "cross_entropy", "mse_softmax"])
    colours = {line.get_label(): matplotlib.colors.to_hex(line.get_color())
               for line in fig.axes[0].get_legend().get_lines()}
    expected = _palette(["softmax_nll", "cross_entropy", "mse_softmax"])
    assert colours == {v: matplotlib.colors.to_hex(expected[v]) for v in ("cross_entropy", "mse_softmax")}
    plt.close(fig)
    html = horizon.display(table).to_html()
    assert "levelled off" in html and "still rising" in html and "+24.0 points" in html
    assert "nan" not in html.lower() and horizon.display(table.iloc[:0]) is None


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


def test_test_every_leaves_nan_between_tests_and_gather_reads_it(tiny_data, tmp_path):
    from lossbench import tables as gather
    from lossbench.train import train

    cfg = TrainConfig(variant="ce", loss="cross_entropy", seed=0, train_size=200, val_size=50, hidden=(32, 16),
                      lr=0.5, batch_size=25, epochs=5, test_every=2)
    train(cfg, tiny_data, out_dir=tmp_path / "run")
    out = gather.write_tables([tmp_path / "run" / "metrics.json"], tmp_path / "tables", prefix="horizon_")
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [
        "horizon_epochs.csv", "horizon_runs.csv", "horizon_summary.csv"]
    assert out["runs"]["test_every"].tolist() == [2]


# --- the twin: mse_softmax at lr η against cross_entropy at η·2/C² ------------------------------------

def twin_tables(slow: list[float], other: list[float], other_lr: float = 0.002):
    runs, epochs = tables({"mse_softmax": [slow], "cross_entropy_lr0p002": [other]})
    runs.loc[runs["variant"] == "cross_entropy_lr0p002", ["loss", "lr"]] = ["cross_entropy", other_lr]
    return runs, epochs


PAIR = ("`mse_softmax` (lr 0.1) and `cross_entropy_lr0p002` (`cross_entropy` at lr 0.1 × 2/C² = 0.002, the same "
        "step while the outputs are uniform)")


def test_twin_tracking_then_ahead_then_behind():
    slow = [0.10, 0.11, 0.13, 0.20, 0.30, 0.40, 0.41, 0.41]
    other = [0.10, 0.11, 0.125, 0.18, 0.29, 0.41, 0.45, 0.50]
    assert horizon.twin(*twin_tables(slow, other), "mse_softmax", GAIN) == (
        f"{PAIR} stay within 1 point of each other (mean validation accuracy) up to epoch 2; then `mse_softmax` is "
        "ahead from epoch 3 (by up to 2.0 points, at epoch 3) and behind from epoch 5 (by up to 9.0 points, at epoch "
        "7); at the budget (7) it is 9.0 points below `cross_entropy_lr0p002`. The early pace is consistent with the "
        "2/C² scale; the later gaps are not explained by it, since `cross_entropy_lr0p002` starts with the same step.")


def test_twin_behind_then_ahead_again_as_mse_softmax_over_40_epochs():
    """The measured 40-epoch shape: a stall and a dip below its twin, then a climb past it."""
    slow = [0.1, 0.1, 0.2, 0.3, 0.25, 0.35, 0.6]
    other = [0.1, 0.1, 0.15, 0.35, 0.40, 0.45, 0.5]
    assert ("then `mse_softmax` is ahead from epoch 2 (by up to 5.0 points, at epoch 2), behind from epoch 3 (by up "
            "to 15.0 points, at epoch 4) and ahead again from epoch 6 (by up to 10.0 points, at epoch 6); at the "
            "budget (6) it is 10.0 points above `cross_entropy_lr0p002`.") in \
        horizon.twin(*twin_tables(slow, other), "mse_softmax", GAIN)


def test_twin_behind_only():
    text = horizon.twin(*twin_tables([0.1, 0.2, 0.3, 0.3], [0.1, 0.2, 0.35, 0.4]), "mse_softmax", GAIN)
    assert ("up to epoch 1; then `mse_softmax` is behind from epoch 2 (by up to 10.0 points, at epoch 3); at the "
            "budget (3) it is 10.0 points below `cross_entropy_lr0p002`.") in text


def test_twin_tracking_at_every_epoch():
    assert horizon.twin(*twin_tables([0.1, 0.2, 0.3], [0.1, 0.205, 0.295]), "mse_softmax", GAIN) == (
        f"{PAIR} stay within 1 point of each other (mean validation accuracy) at every epoch to the budget (2): "
        "over this horizon the 2/C² scale accounts for the whole difference in pace.")


def test_twin_apart_from_the_start_and_no_twin():
    assert horizon.twin(*twin_tables([0.1, 0.2], [0.3, 0.4]), "mse_softmax", GAIN) == (
        f"{PAIR} differ by 1 point or more from epoch 0 on.")
    assert horizon.twin(*twin_tables([0.1, 0.2], [0.1, 0.2], other_lr=0.01), "mse_softmax", GAIN) == ""
    assert horizon.twin(*twin_tables([0.1, 0.2], [0.1, 0.2]), "mse_logits", GAIN) == ""
