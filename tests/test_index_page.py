"""The index's answer first (lossbench.index_page / index_words): golden words per scenario, and the page."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from golden import assert_golden
from lossbench import index_page, index_words, report
from scenarios import SCENARIOS, gathered, scenario, user_losses


def answer_text(s) -> str:
    with user_losses():
        return index_words.answer(index_page.answer(s.summary, s.runs, s.reference, s.slow_loss))


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_index_answer_reads_true_for_each_scenario(name):
    text = answer_text(scenario(name))
    assert_golden(f"index/{name}.md", text)
    assert not re.search(r"\b(nan|inf)\b", text.lower())


def test_the_answer_from_constructed_tables():
    summary = pd.DataFrame({"variant": ["ce", "mse", "mse_up"], "loss": ["cross_entropy", "mse_softmax", "mse_softmax"],
                            "lr": [0.1, 0.1, 5.0], "n": [2, 2, 2], "n_diverged": [0, 0, 0],
                            "test_accuracy_mean": [0.91, 0.16, 0.94], "target_val_accuracy": [0.9, 0.9, 0.9],
                            "epochs_to_target": [4.0, float("nan"), 2.0]})
    runs = pd.DataFrame([{"variant": v, "loss": loss, "seed": s, "lr": lr, "epochs": 5, "batch_size": 100,
                          "hidden": "1200-600-300", "initial_logit_grad_norm": norm}
                         for v, loss, lr, norm in (("ce", "cross_entropy", 0.1, 0.95),
                                                   ("mse", "mse_softmax", 0.1, 0.019),
                                                   ("mse_up", "mse_softmax", 5.0, 0.019)) for s in (0, 1)])
    a = index_page.answer(summary, runs, "ce", "mse_softmax")
    assert [r.variant for r in a.shared] == ["ce", "mse"] and [r.variant for r in a.tuned] == ["mse_up"]
    assert a.ratio == pytest.approx(0.02) and not a.can_rank and a.epochs == 5
    text = index_words.answer(a)
    assert "`ce` first reaches 90% validation accuracy at epoch 4; `mse` does not reach 90%" in text
    assert "50× smaller than `ce`'s" in text and "At lr 5 (50× its lr), `mse_up` reaches 0.9400" in text
    assert "With 2 seeds per variant these are means, not a ranking" in text
    assert index_page.answer(summary, runs, "absent", "mse_softmax") is None and index_words.answer(None) == ""


def test_the_index_opens_with_the_answer_and_the_key_figure(tmp_path):
    s = scenario("default")
    paths = gathered(s, tmp_path)
    with user_losses():
        report.write_index(tmp_path / "index.html", "T", [], paths["summary_csv"], s.reference, s.slow_loss)
    page = (tmp_path / "index.html").read_text()
    body = page[page.index("<body>"):]
    assert body.index("<strong>The answer.</strong>") < body.index('<img class="key"') < body.index("<table>")
    alt = re.search(r'<img class="key" src="data:image/png;base64,[^"]+" alt="([^"]+)"', page)[1]
    assert alt.startswith("Learning curves of ") and "Validation accuracy at epoch" in alt
    # without a reference (an old call): no answer, the rest as before
    report.write_index(tmp_path / "plain.html", "T", [], paths["summary_csv"])
    assert "The answer." not in (tmp_path / "plain.html").read_text()
