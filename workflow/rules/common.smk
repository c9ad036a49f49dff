# Helpers only: config validation, wildcard constraints and get_* functions (no rules).
import json
import os
import sys

from snakemake.utils import validate

from lossbench.config import check, check_duplicate_keys, train_args
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


wildcard_constraints:
    variant="|".join(VARIANTS),
    seed=r"\d+",
    dataset=r"[a-z_]+",
    page="comparison|why-mse|reproducibility",


def get_data(wildcards=None):
    return f"resources/data/{config['dataset']}/data.pt"


# `lossbench data` reads the mirror from $LOSSBENCH_DATA_MIRROR, which overrides config's
# data_mirror. Not a param: the mirror is a source whose files are verified by SHA-256, so
# moving it must not rerun the data rule (and with it every training job).
if config["data_mirror"]:
    os.environ.setdefault("LOSSBENCH_DATA_MIRROR", str(config["data_mirror"]))


def get_train_args(wildcards):
    """One variant's hyperparameters as CLI flags: a changed value reruns only its jobs."""
    return train_args(VARIANTS[wildcards.variant])


def get_run_metrics():
    return expand(
        "results/runs/{variant}/seed-{seed}/metrics.json",
        variant=VARIANTS,
        seed=config["seeds"],
    )


def get_final_output():
    return ["results/tables/summary.csv", *get_report_html()]


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
    "runs_csv": "results/tables/runs.csv",
    "epochs_csv": "results/tables/epochs.csv",
    "summary_csv": "results/tables/summary.csv",
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
    return f"{config['report_title']} — {title}"


def get_nav():
    return json.dumps(
        [{"href": p["href"], "title": p["title"]} for p in get_report_pages()]
    )


def get_page_inputs(wildcards):
    inputs = {"notebook": os.path.join(NOTEBOOKS, PAGES[wildcards.page][0]), **TABLES}
    if wildcards.page == "reproducibility":
        inputs["manifest_json"] = f"resources/data/{config['dataset']}/manifest.json"
        inputs["metrics_json"] = get_run_metrics()[0]
    return inputs


def get_page_parameters(wildcards, input):
    """Notebook parameters as JSON: paths from the inputs plus page-specific values."""
    parameters = {k: v for k, v in input.items() if k != "notebook"}
    if wildcards.page in ("comparison", "why-mse"):
        parameters["reference"] = config["reference"]
    if wildcards.page == "reproducibility":
        parameters["config"] = {k: v for k, v in config.items()}
        parameters["snakemake_version"] = snakemake.__version__
    return json.dumps(parameters)


def get_variant_page_inputs(wildcards):
    return {
        "notebook": os.path.join(NOTEBOOKS, "variant.py"),
        "data_pt": get_data(),
        "predictions": expand(
            "results/runs/{variant}/seed-{seed}/predictions.csv",
            variant=wildcards.variant,
            seed=config["seeds"],
        ),
        **TABLES,
    }


def get_variant_page_parameters(wildcards, input):
    parameters = {k: input[k] for k in ("data_pt", *TABLES)}
    return json.dumps({**parameters, "variant": wildcards.variant})


def get_report_html(include_index=True):
    return [
        f"reports/html/{p['href']}"
        for p in get_report_pages()
        if include_index or p["href"] != "index.html"
    ]
