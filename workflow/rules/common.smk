# Helpers only: config validation, wildcard constraints and get_* functions (no rules).
import json
import os
import sys

from snakemake.utils import validate

from lossbench.config import check, check_duplicate_keys, train_args
from lossbench.data import DATASETS
from lossbench.losses import LOSSES


# Rules call the `lossbench` command installed beside this Snakemake (e.g. .venv/bin), so
# `.venv/bin/snakemake` works without activating the environment, here and in cluster jobs.
envvars:
    "PATH",


os.environ["PATH"] = os.pathsep.join(
    [os.path.dirname(sys.executable), os.environ.get("PATH", "")]
)

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
    page="comparison|why-mse|reproducibility",


def get_data(wildcards):
    return f"resources/data/{wildcards.dataset}/data.pt"


# `lossbench data` reads the mirror from $LOSSBENCH_DATA_MIRROR, which overrides config's
# data_mirror. Not a param: the mirror is a source whose files are verified by SHA-256, so
# moving it must not rerun the data rule (and with it every training job).
if config["data_mirror"]:
    os.environ.setdefault("LOSSBENCH_DATA_MIRROR", str(config["data_mirror"]))


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


def get_final_output():
    return [f"results/{DATASET}/tables/summary.csv", *get_report_html(DATASET)]


def get_report_title(dataset):
    """config's report_title, else one naming the dataset (each dataset's report is distinct)."""
    return config["report_title"] or (
        f"lossbench: classification losses on {DATASETS[dataset].title}"
    )


NOTEBOOKS = os.path.join(workflow.basedir, "..", "reports", "notebooks")
PAGES = {
    # page -> (notebook, title, description); variant pages are added per variant
    "comparison": (
        "comparison.py",
        "Comparison",
        "summary, learning curves, tests against the reference",
    ),
    "why-mse": ("why_mse.py", "Why MSE is slow", "derivation and measured gradients"),
    "reproducibility": (
        "reproducibility.py",
        "Reproducibility",
        "config, checksums, versions, how to rerun",
    ),
}
TABLES = {
    "runs_csv": "results/{dataset}/tables/runs.csv",
    "epochs_csv": "results/{dataset}/tables/epochs.csv",
    "summary_csv": "results/{dataset}/tables/summary.csv",
}


def get_tables(wildcards):
    return {
        name: path.format(dataset=wildcards.dataset) for name, path in TABLES.items()
    }


def get_report_pages():
    """Every page of the report as {href, title, description}, in reading order."""
    pages = [
        {"href": "index.html", "title": "Overview", "description": "headline table"}
    ]
    pages += [
        {"href": f"{page}.html", "title": title, "description": text}
        for page, (_, title, text) in PAGES.items()
        if page != "reproducibility"
    ]
    pages += [
        {"href": f"variant-{v}.html", "title": v, "description": f"{v} in detail"}
        for v in VARIANTS
    ]
    _, title, text = PAGES["reproducibility"]
    pages.append({"href": "reproducibility.html", "title": title, "description": text})
    return pages


def get_page_title(wildcards):
    page = wildcards.get("page") or wildcards.get("variant")
    title = PAGES[page][1] if page in PAGES else f"Variant {page}"
    return f"{get_report_title(wildcards.dataset)} — {title}"


def get_index_title(wildcards):
    return get_report_title(wildcards.dataset)


def get_nav():
    return json.dumps(
        [{"href": p["href"], "title": p["title"]} for p in get_report_pages()]
    )


def get_page_inputs(wildcards):
    notebook = os.path.join(NOTEBOOKS, PAGES[wildcards.page][0])
    inputs = {"notebook": notebook, **get_tables(wildcards)}
    if wildcards.page == "reproducibility":
        inputs["manifest_json"] = f"resources/data/{wildcards.dataset}/manifest.json"
        inputs["metrics_json"] = get_run_metrics(wildcards)[0]
    return inputs


def get_page_parameters(wildcards, input):
    """Notebook parameters as JSON: paths from the inputs plus page-specific values."""
    parameters = {k: v for k, v in input.items() if k != "notebook"}
    if wildcards.page in ("comparison", "why-mse"):
        parameters["reference"] = config["reference"]
    if wildcards.page == "reproducibility":
        parameters["config"] = {**config, "dataset": wildcards.dataset}
        parameters["snakemake_version"] = snakemake.__version__
    return json.dumps(parameters)


def get_variant_page_inputs(wildcards):
    return {
        "notebook": os.path.join(NOTEBOOKS, "variant.py"),
        "data_pt": get_data(wildcards),
        "predictions": get_run_files(
            wildcards.dataset, "predictions.csv", [wildcards.variant]
        ),
        **get_tables(wildcards),
    }


def get_variant_page_parameters(wildcards, input):
    parameters = {k: input[k] for k in ("data_pt", *TABLES)}
    parameters["classes"] = list(DATASETS[wildcards.dataset].classes)
    return json.dumps({**parameters, "variant": wildcards.variant})


def get_report_html(dataset, include_index=True):
    return [
        f"reports/html/{dataset}/{p['href']}"
        for p in get_report_pages()
        if include_index or p["href"] != "index.html"
    ]


def get_other_pages(wildcards):
    return get_report_html(wildcards.dataset, include_index=False)
