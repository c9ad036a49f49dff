"""The probe in the workflow (workflow/rules/probe.smk): planned only when ``probe:`` is on, one job per seed
with the probe's resolved settings, gathered into tables/probe.csv for the why page; and one tiny real run of
the two rules (a dry run plans; `lossbench probe` and `gather-probe` run as the rules write them)."""

from __future__ import annotations

import re

from helpers import plan, snakemake, tiny_config, write_config
from lossbench import tables

WHY = "reports/html/mnist/why-mse.html"


def test_the_probe_is_planned_only_when_its_block_is_on(tmp_path):
    off = plan(tmp_path, WHY, config=write_config(tmp_path, tiny_config()))
    assert "train_probe" not in off.counts and "gather_probe" not in off.counts
    on = plan(tmp_path, WHY, config=write_config(tmp_path, tiny_config(probe={"seeds": [0, 3]})))
    assert on.counts["train_probe"] == 2 and on.counts["gather_probe"] == 1
    assert on.wildcards("train_probe", "loss", "seed") == [("mse_softmax", "0"), ("mse_softmax", "3")]


def test_the_rules_command_lines_carry_the_resolved_settings(tmp_path):
    config = write_config(tmp_path, tiny_config(probe={"lr": 2.0, "points_per_epoch": 3, "probe_size": 40}))
    out = snakemake(tmp_path, "-n", "-p", WHY, config=config).stdout
    (probe_cmd,) = re.findall(r"lossbench probe .*$", out, re.M)
    for flag in ("--loss mse_softmax", "--lr 2.0", "--epochs 2", "--reference cross_entropy",
                 "--points-per-epoch 3", "--probe-size 40", "--seed 0", "--out results/mnist/probe/mse_softmax/"
                 "seed-0/probe.csv"):
        assert flag in probe_cmd, probe_cmd  # epochs: the tiny config's horizon budget (2)
    assert re.search(r"lossbench gather-probe --probes results/mnist/probe/mse_softmax/seed-0/probe.csv "
                     r"--out-dir results/mnist/tables", out, re.M)


def test_the_probe_and_its_gather_run_as_the_rules_write_them(tmp_path):
    config = write_config(tmp_path, tiny_config(hidden=[16], probe={"points_per_epoch": 2, "probe_size": 20}))
    snakemake(tmp_path, "results/mnist/tables/probe.csv", config=config)
    table = tables.read_gathered(tmp_path / "results/mnist/tables/probe.csv")
    assert list(table["step"]) == list(range(0, 101, 25)) and set(table["loss"]) == {"mse_softmax"}
