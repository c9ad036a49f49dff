"""The variant and reproducibility pages' records and words, from hand-made tables."""

from __future__ import annotations

import pandas as pd
import pytest

from lossbench import reproducibility_page, stats, variant_page
from scenarios import SCENARIOS, scenario
from test_comparison import check_page


def test_variant_page_sentences_for_one_seed_and_divergence():
    runs = pd.DataFrame({"loss": "ce", "lr": 0.1, "batch_size": 100, "epochs": 5, "seed": [0],
                         "test_accuracy": [0.9], "status": ["ok"]})
    assert variant_page.per_seed_caption(runs).startswith("One seed only: one line per panel, no spread over seeds")
    o = variant_page.overview(runs)
    assert (o.seeds, o.diverged) == (1, ())
    assert "one seed: test accuracy 0.9000." in variant_page.overview_text(o)
    assert variant_page.overview_text(variant_page.overview(runs.iloc[:0])) == "No runs of this variant in the tables."
    assert variant_page.examples_note(runs) is None
    assert variant_page.test_set_heading(runs, runs.iloc[0]) == "## Test set of seed 0 (median test accuracy 0.9000)"
    boom = runs.assign(status="diverged")
    assert "Every run of this variant diverged" in variant_page.examples_note(boom)
    assert variant_page.overview(boom).diverged == (0,)
    assert "**1 of 1 run(s) diverged** (seeds 0)" in variant_page.overview_text(variant_page.overview(boom))
    mixed = pd.concat([runs, boom.assign(seed=1)], ignore_index=True)
    assert variant_page.examples_note(mixed) is None
    assert variant_page.per_seed_caption(mixed).startswith("2 seeds, one line each.")
    assert "among the runs that did not diverge" in variant_page.test_set_heading(mixed, stats.median_run(mixed))


def test_the_per_seed_caption_says_when_the_loss_lines_lie_on_top_of_each_other():
    flat = pd.DataFrame({"variant": "v", "seed": [0, 0, 1, 1], "epoch": [0, 1, 0, 1], "train_loss": [0.09, 0.0898,
                                                                                                    0.09, 0.0899]})
    assert ("The train loss stays within 0.22% of its epoch-0 value at every epoch of every seed, so those lines lie "
            "on top of each other at 1.") in variant_page.per_seed_caption(pd.DataFrame({"seed": [0, 1]}), flat)
    assert "stays within" not in variant_page.per_seed_caption(pd.DataFrame({"seed": [0, 1]}),
                                                                flat.assign(train_loss=[2.3, 1.0, 2.3, 1.1]))


def test_the_variant_page_says_when_a_network_guesses_one_class():
    guessing = pd.DataFrame({"label": list(range(10)) * 10, "predicted": [8] * 90 + [1] * 10,
                             "confidence": [0.11] * 99 + [0.12]})
    g = variant_page.guessing(guessing)
    assert (g.label, g.share, g.prior, g.top) == (8, 0.9, 0.1, 0.12)
    text = variant_page.guessing_text(g)
    assert text.startswith("**Guessing one class:** this network predicts class 8 for 90% of the test images (that "
                           "class is 10% of them), with a largest probability of 0.12 on any image")
    assert "class-prior guessing" in text
    assert "predicts class c8" in variant_page.guessing_text(g, [f"c{i}" for i in range(10)])
    learned = guessing.assign(predicted=guessing["label"])
    assert variant_page.guessing(learned) is None and variant_page.guessing_text(None) is None
    assert ("None of the 90 wrong predictions is confident (p > 0.9): the most confident wrong one has p = 0.12."
            in variant_page.examples_caption(guessing))
    sure = guessing.assign(confidence=[0.95] * 100)
    assert "90 of the 90 wrong predictions have p > 0.9" in variant_page.examples_caption(sure)
    assert "No test image is wrong" in variant_page.examples_caption(learned)


def test_rerun_instructions_give_the_invocations_config_files_and_overrides():
    plain = reproducibility_page.rerun_markdown({"dataset": "mnist"})
    assert "snakemake --cores 8\n" in plain and "original MNIST" in plain and "make determinism DATASET=mnist" in plain
    assert "no overrides" in plain and "--configfile resolved.yaml" in plain
    fashion = reproducibility_page.rerun_markdown({"dataset": "fashion_mnist"}, ["my config.yaml", "/abs/extra.yaml"],
                                                  {"dataset": "fashion_mnist", "pack_seeds": True, "seeds": [0, 1],
                                                   "report_title": "A & B"})
    assert ("snakemake --cores 8 --configfile 'my config.yaml' --configfile /abs/extra.yaml --config "
            "dataset=fashion_mnist pack_seeds=True 'seeds=[0,1]' 'report_title=A & B'\n") in fashion
    assert "original Fashion-MNIST" in fashion and "make determinism DATASET=fashion_mnist" in fashion


def variant_page_words(s) -> str:
    """The variant page's words (those that do not need a run's predictions) for each variant of the scenario."""
    parts = []
    for variant in dict.fromkeys(s.runs["variant"]):
        runs, epochs = s.runs[s.runs["variant"] == variant], s.epochs[s.epochs["variant"] == variant]
        note = variant_page.examples_note(runs)
        parts += [f"# {variant}", variant_page.overview_text(variant_page.overview(runs)),
                  variant_page.per_seed_caption(runs, epochs),
                  note or variant_page.test_set_heading(runs, stats.median_run(runs))]
    return "\n\n".join(parts)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_variant_pages_read_true_for_each_scenario(name):
    check_page(f"variant/{name}.md", scenario(name), variant_page_words)


def test_a_diverged_runs_loss_lines_stop_and_are_not_called_flat():
    boom = pd.DataFrame({"variant": "v", "seed": [0, 0, 1, 1], "epoch": [0, 1, 0, 1],
                         "train_loss": [2.3, float("nan"), 2.3, float("nan")]})
    text = variant_page.per_seed_caption(pd.DataFrame({"seed": [0, 1]}), boom)
    assert "Lines stop where a run diverged" in text and "stays within" not in text
