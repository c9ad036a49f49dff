# Helpers only: config validation, wildcard constraints and get_* functions (no rules).
from snakemake.utils import validate

from lossbench.config import check, check_duplicate_keys, train_args
from lossbench.data import DATASETS
from lossbench.losses import LOSSES


for configfile_path in workflow.configfiles:
    check_duplicate_keys(configfile_path)
validate(config, schema="../schemas/config.schema.yaml")
# name -> settings of every variant; raises ConfigError naming the key before any job runs
VARIANTS = check(config, LOSSES)
# Every output of a sweep lives under its dataset's folders (results/<dataset>/,
# reports/html/<dataset>/, logs/<dataset>/), so sweeps on two datasets never mix.
DATASET = config["dataset"]


wildcard_constraints:
    variant="|".join(VARIANTS),
    seed=r"\d+",
    dataset="|".join(DATASETS),


def get_data(wildcards):
    return f"resources/data/{wildcards.dataset}/data.pt"


def get_train_args(wildcards):
    """One variant's hyperparameters as CLI flags: a changed value reruns only its jobs."""
    return train_args({**VARIANTS[wildcards.variant], "dataset": wildcards.dataset})


def get_run_files(dataset, name="metrics.json", variants=None):
    """One file of every run (variant x seed) of a dataset's sweep."""
    return expand(
        "results/{dataset}/runs/{variant}/seed-{seed}/{name}",
        dataset=dataset,
        variant=variants or VARIANTS,
        seed=config["seeds"],
        name=name,
    )


def get_run_metrics(wildcards):
    return get_run_files(wildcards.dataset)


def get_tables(dataset):
    """The gathered tables of a dataset's sweep, by notebook parameter name."""
    return {
        f"{name}_csv": f"results/{dataset}/tables/{name}.csv"
        for name in ("runs", "epochs", "summary")
    }


def get_final_output():
    return [
        get_tables(DATASET)["summary_csv"],
        *(f"reports/html/{DATASET}/{page}.html" for page in get_report_plan(DATASET)),
        f"reports/html/{DATASET}/index.html",
    ]
