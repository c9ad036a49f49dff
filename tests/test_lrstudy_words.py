"""The Learning rate page's words (lossbench.lrstudy_words), as golden markdown per scenario.

Each golden file under tests/golden/learning_rate/ is the page's whole text for one scenario: the
method, the conclusion, the captions, the three tables and the *why* page's line on the study. The
scenarios are the report's (tests/scenarios.py: small real trainings) and, under constructed/, the
constructed tables of tests/test_lrstudy.py that pin one behaviour each (an edge of the grid, a
verdict, a collapse, saturation in one seed, ...). After a deliberate wording change:
``pytest --update-golden tests/test_lrstudy_words.py``, then read ``git diff tests/golden``.
"""

from __future__ import annotations

import re

import pytest

import test_lrstudy as t
from golden import assert_golden
from lossbench import lrstudy
from lossbench import lrstudy_words as words
from scenarios import SCENARIOS, scenario, user_losses
from test_lrstudy import declared_user_losses  # noqa: F401 (a fixture)


def page(study: lrstudy.Study) -> str:
    """The page's text in the notebook's order, tables as markdown."""
    def table(frame):
        return "(no table)" if frame is None else frame.to_markdown(disable_numparse=True)  # the cells as shown

    sections = [("Method", words.method(study)), ("What the study says", words.conclusion(study)),
                ("Accuracy against the learning rate", words.lr_caption(study)),
                ("Against the effective learning rate", words.effective_caption(study)),
                ("Selected learning rate per loss", table(words.table_display(study))),
                ("Each loss at its selected learning rate against the reference", words.comparison_caption(study)
                 + "\n\n" + table(words.comparison_display(study))),
                ("The threshold-lr ratio over thresholds and seeds",
                 "\n\n".join(words.sweep_text(study, x) + "\n\n" + table(words.sweep_display(study, x))
                             + "\n\nAlt text: " + words.sweep_alt(study, x)
                             for x in study.losses if study.of(x, "sweeps") is not None) or "(none)"),
                ("Saturation at large learning rates", words.saturation_caption(study)),
                ("Every point of the grid", table(words.points_display(study))),
                ("The why page's line", words.why_text(study) if not study.empty else "(the study is off)")]
    return "\n\n".join(f"## {title}\n\n{text}" for title, text in sections)


def check(study: lrstudy.Study, text: str) -> None:
    """What every page obeys, whatever the scenario: no nan or inf, and with fewer than 3 seeds per
    point no "beats", "detected" or "best"."""
    assert not re.search(r"\b(nan|inf)\b", text, re.I), text
    if not study.can_rank:
        assert not re.search(r"\b(beats|detected|best)\b", text, re.I), text


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_page_of_each_scenario(name):
    s = scenario(name)
    with user_losses():  # a user's declared properties, as the page's kernel reads them from their file
        study = lrstudy.analyse(s.lr_study_runs, s.lr_study_epochs, s.lr_study_reference, s.slow_loss,
                                s.lr_study_threshold, s.classes)
        text = page(study)
    check(study, text)
    assert_golden(f"learning_rate/{name}.md", text)


MS_ONLY = {("mse_softmax", lr): {"val": v} for lr, v in t.MS.items()}
CONSTRUCTED = {
    # name: (spec, study keywords): each pins one behaviour of the old substring tests
    "realistic": (t.realistic(), {}),
    "selected_on_validation": ({("cross_entropy", 0.1): {"val": [0.90, 0.91], "test": [0.95, 0.96]},
                                ("cross_entropy", 0.3): {"val": [0.93, 0.94], "test": [0.90, 0.90]},
                                ("cross_entropy", 1.0): {"val": [0.80, 0.81], "test": [0.80, 0.81]}}, {}),
    "diverged_point_above": ({("cross_entropy", 0.1): {"val": [0.80, 0.81]},
                              ("cross_entropy", 0.3): {"val": [0.90, 0.91]},
                              ("cross_entropy", 1.0): {"val": [0.99, 0.99], "status": ["ok", "diverged"]},
                              ("cross_entropy", 3.0): {"val": [0.70, 0.71]}}, {}),
    "edge_low": ({("cross_entropy", lr): {"val": [v, v + 0.01]} for lr, v in zip((0.01, 0.1, 1.0), (0.9, 0.8, 0.7))},
                 {}),
    "edge_high": ({("cross_entropy", lr): {"val": [v, v + 0.01]} for lr, v in zip((1.0, 0.1, 0.01), (0.9, 0.8, 0.7))},
                  {}),
    "loss_all_diverged": ({("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.92, 0.93]},
                           ("mse_softmax", 1.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2},
                           ("mse_softmax", 3.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2}}, {}),
    "threshold_not_reached": (t.NOT_REACHED, {}),
    # the means cross 0.5 inside the grids, seed 2 of the reference already at its smallest lr: no point estimate
    "seed_below_the_grid": (t.seed_below_the_grid(), {}),
    "collapse": (t.COLLAPSE, {"norms": t.COLLAPSE_NORMS}),
    "no_rising_side": ({("cross_entropy", 0.1): {"val": [0.9, 0.9]}, ("cross_entropy", 1.0): {"val": [0.8, 0.8]},
                        ("mse_softmax", 10.0): {"val": [0.5, 0.5]}, ("mse_softmax", 30.0): {"val": [0.6, 0.6]}}, {}),
    "verdict_higher": (t.pair([0.95, 0.96, 0.97], [0.94, 0.94, 0.955]), {}),
    "verdict_lower": (t.pair([0.93, 0.93, 0.94], [0.95, 0.952, 0.958]), {}),
    "verdict_negligible": (t.pair([0.950, 0.951, 0.952], [0.949, 0.951, 0.951]), {}),
    "verdict_unclear": (t.pair([0.95, 0.90, 0.97], [0.94, 0.95, 0.93]), {}),
    "verdict_too_few_seeds": (t.pair([0.95, 0.96], [0.94, 0.942]), {}),
    "verdict_identical": (t.pair([0.95, 0.96], [0.95, 0.96]), {}),
    "verdict_untested": (t.pair([0.95], [0.94]), {}),
    "holm_interval_excludes_0": (t.HOLM, {}),
    "same_function": ({("softmax_nll" if loss == "mse_softmax" else loss, lr): v
                       for (loss, lr), v in t.pair([0.95, 0.96, 0.97], [0.94, 0.94, 0.955]).items()}, {}),
    "reference_absent": (MS_ONLY, {}),
    "two_points_one_loss": ({("cross_entropy", 0.1): {"val": [0.3, 0.32]},
                             ("cross_entropy", 1.0): {"val": [0.5, 0.52]}}, {"epochs": 1}),
    "two_points_one_seed": ({("cross_entropy", 0.1): {"val": [0.3]}, ("cross_entropy", 1.0): {"val": [0.5]},
                             ("mse_softmax", 0.1): {"val": [0.1]}, ("mse_softmax", 1.0): {"val": [0.12]}},
                            {"epochs": 1}),
    "one_seed_saturated": (t.ONE_SEED_SATURATED, {}),
    "top_saturated": (t.TOP_SATURATED, {}),
    "left_out_loss_diverged": ({("cross_entropy", 0.3): {"val": [0.95, 0.95]},
                                ("cross_entropy", 1.0): {"val": [0.94, 0.94]},
                                ("mse_logits", 0.3): {"val": [0.9, 0.9]},
                                ("mse_logits", 30.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2}}, {}),
    "one_lr_per_loss": ({("cross_entropy", 0.1): {"val": [0.9, 0.91], "val1": [0.6, 0.6]},
                         ("mse_softmax", 1.0): {"val": [0.5, 0.52], "val1": [0.6, 0.6]}}, {}),
    "one_lr_tunes_nothing": ({("cross_entropy", 0.1): {"val": [0.9, 0.91]},
                              ("mse_softmax", 0.1): {"val": [0.15, 0.16]}}, {"epochs": 1}),
    "near_chance": ({("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.94, 0.95]},
                     ("cross_entropy", 1.0): {"val": [0.92, 0.93]},
                     ("mse_softmax", 0.01): {"val": [0.10, 0.11]}, ("mse_softmax", 0.03): {"val": [0.11, 0.12]},
                     ("mse_softmax", 0.1): {"val": [0.15, 0.14]}}, {}),
    # a user's losses (test_lrstudy.declared_user_losses): what they declare, and what they do not, measured
    "user_larger_gradient_declared": (
        {**{("cross_entropy", lr): {"val": [v, v + 0.002], "val1": [v1, v1 + 0.02]}
            for lr, v, v1 in ((0.03, 0.8, 0.3), (0.1, 0.9, 0.6), (0.3, 0.95, 0.85), (1.0, 0.9, 0.8))},
         **{("ten_x", lr): {"val": [v, v + 0.002], "val1": [v1, v1 + 0.02]}
            for lr, v, v1 in ((0.003, 0.8, 0.3), (0.01, 0.9, 0.6), (0.03, 0.95, 0.85), (0.1, 0.9, 0.8))}},
        {"slow_loss": "ten_x", "norms": {"cross_entropy": 0.9985, "ten_x": 9.9985}}),
    "user_slow_undeclared": (
        {**{("cross_entropy", lr): {"val": [v, v + 0.002], "val1": [v1, v1 + 0.02]}
            for lr, v, v1 in ((0.03, 0.8, 0.3), (0.1, 0.9, 0.6), (0.3, 0.95, 0.85), (1.0, 0.9, 0.8))},
         **{("focal", lr): {"val": [v, v + 0.002], "val1": [v1, v1 + 0.02]}
            for lr, v, v1 in ((0.1, 0.8, 0.3), (0.3, 0.9, 0.6), (1.0, 0.95, 0.85), (3.0, 0.9, 0.8))},
         ("focal", 30.0): {"val": [0.1, 0.12], "val1": [0.1, 0.1], "cw": [0.9, 0.92], "grad": [0.001, 0.002]}},
        {"slow_loss": "focal", "norms": {"cross_entropy": 0.9985, "focal": 0.4985}}),
    "user_capped_and_plain": (
        {("cross_entropy", 0.3): {"val": [0.95, 0.95]}, ("cross_entropy", 1.0): {"val": [0.94, 0.94]},
         **{(loss, lr): {"val": [0.9, 0.9], "cw": [0.0, 0.0]} for loss in ("my_sq_capped", "my_sq")
            for lr in (0.3, 3.0)}},
        {"slow_loss": "my_sq_capped", "norms": {"my_sq_capped": 0.2, "my_sq": 0.2}}),
}


@pytest.mark.parametrize("name", CONSTRUCTED)
def test_the_page_of_each_constructed_table(name, declared_user_losses):  # noqa: F811 (the fixture)
    spec, keywords = CONSTRUCTED[name]
    study = t.study(spec, **keywords)
    text = page(study)
    check(study, text)
    assert_golden(f"learning_rate/constructed/{name}.md", text)


def test_an_empty_study_says_so_and_the_why_note_is_none():
    empty = lrstudy.analyse(*lrstudy.load("", ""), "cross_entropy", "mse_softmax", 0.5, t.CLASSES)
    assert words.conclusion(empty) == words.method(empty) == words.lr_caption(empty) == words.empty_text()
    assert words.table_display(empty) is None and words.points_display(empty) is None
    assert words.comparison_display(empty) is None
    assert words.why_note(None) is None
    assert "learning-rate.html" in words.why_note(t.study(t.realistic())).data
