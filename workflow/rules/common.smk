# Helpers only: config validation, wildcard constraints and get_* functions (no rules).
import os

from snakemake.utils import validate

from lossbench.config import check
from lossbench.losses import LOSSES

validate(config, schema="../schemas/config.schema.yaml")
# name -> settings of every variant; raises ConfigError naming the key before any job runs
VARIANTS = check(config, LOSSES)


wildcard_constraints:
    variant="|".join(VARIANTS),
    seed=r"\d+",
    dataset=r"[a-z_]+",


def get_data(wildcards=None):
    return f"resources/data/{config['dataset']}/data.pt"


# `lossbench data` reads the mirror from $LOSSBENCH_DATA_MIRROR, which overrides config's
# data_mirror. Not a param: the mirror is a source whose files are verified by SHA-256, so
# moving it must not rerun the data rule (and with it every training job).
if config["data_mirror"]:
    os.environ.setdefault("LOSSBENCH_DATA_MIRROR", str(config["data_mirror"]))


def get_train_args(wildcards):
    """One variant's hyperparameters as CLI flags: a changed value reruns only its jobs."""
    from lossbench.config import train_args

    return train_args(VARIANTS[wildcards.variant])


def get_run_metrics():
    return expand(
        "results/runs/{variant}/seed-{seed}/metrics.json",
        variant=VARIANTS,
        seed=config["seeds"],
    )


def get_final_output():
    return ["results/tables/summary.csv"]
