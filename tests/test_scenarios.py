"""The scenarios the golden pages are written for train what they say they train."""

from __future__ import annotations

import pytest

from scenarios import SCENARIOS, gathered, scenario, user_losses


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_gathers_its_three_table_sets(name):
    s = scenario(name)
    for table in (s.runs, s.epochs, s.summary, s.horizon_runs, s.horizon_epochs, s.lr_study_runs, s.lr_study_epochs):
        assert len(table)
    assert s.reference in set(s.runs["variant"]) and s.slow_loss in set(s.runs["loss"])
    assert set(s.runs["train_seconds"]) == {1.5}  # the fields that vary between test runs are fixed


def test_the_scenarios_show_what_they_are_named_for():
    assert set(scenario("all_diverged").runs["status"]) == {"diverged"}
    nan = scenario("nan_loss").runs
    assert set(nan.loc[nan["loss"] == "nan_from_start", "diverged_epoch"]) == {1}
    assert set(scenario("one_seed").runs["seed"]) == {0}
    fast = scenario("fast_user_loss").runs.groupby("loss")["initial_logit_grad_norm"].mean()
    assert fast["ten_x_ce"] == pytest.approx(10 * fast["cross_entropy"], rel=1e-5)


def test_user_losses_are_registered_only_inside_the_block():
    from lossbench.losses import LOSSES, loss_info

    with user_losses():
        assert loss_info("sq_logits_sum").cap(10) == pytest.approx(0.2320, abs=1e-4)
        assert loss_info("sq_logits_plain").cap(10) is None and "focal" in LOSSES
    assert "focal" not in LOSSES


def test_a_scenarios_run_folders_gather_into_the_tables_a_page_reads(tmp_path):
    import pandas as pd

    paths = gathered(scenario("one_seed"), tmp_path)
    assert set(paths) == {f"{p}{t}_csv" for p in ("", "horizon_", "lr_study_") for t in ("runs", "epochs", "summary")}
    runs = pd.read_csv(paths["runs_csv"])
    assert list(runs["variant"]) == list(scenario("one_seed").runs["variant"])
