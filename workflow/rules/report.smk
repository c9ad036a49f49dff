# The report: one HTML page per entry of the page plan (a jupytext notebook run by papermill),
# and an index linking them. Each page's executed notebook is kept beside its log.
import json
import os
from dataclasses import dataclass, field

NOTEBOOKS = os.path.join(workflow.basedir, "..", "reports", "notebooks")


@dataclass(frozen=True)
class Page:
    """One report page: its notebook, title, index description, the files it reads (named
    as the notebook's parameters), other files it depends on, and its other parameters."""

    notebook: str
    title: str
    description: str
    inputs: dict
    parameters: dict = field(default_factory=dict)
    also_reads: list = field(default_factory=list)


def get_report_plan(dataset):
    """Every page of a dataset's report but the index, in reading order (name -> Page)."""
    tables = get_tables(dataset)
    plan = {
        "comparison": Page(
            "comparison.py",
            "Comparison",
            "summary, learning curves, tests against the reference",
            tables,
            {"reference": config["reference"]},
        ),
        "why-mse": Page(
            "why_mse.py",
            "Why MSE is slow",
            "derivation and measured gradients",
            tables,
            {"reference": config["reference"], "slow_loss": config["slow_loss"]},
        ),
    }
    for variant in VARIANTS:
        plan[f"variant-{variant}"] = Page(
            "variant.py",
            variant,
            f"{variant} in detail",
            {**tables, "data_pt": f"resources/data/{dataset}/data.pt"},
            {"variant": variant, "classes": list(DATASETS[dataset].classes)},
            get_run_files(dataset, "predictions.csv", [variant]),
        )
    plan["reproducibility"] = Page(
        "reproducibility.py",
        "Reproducibility",
        "config, checksums, versions, how to rerun",
        {
            "runs_csv": tables["runs_csv"],
            "manifest_json": f"resources/data/{dataset}/manifest.json",
            "metrics_json": get_run_files(dataset)[0],
        },
        {
            "config": {**config, "dataset": dataset},
            "snakemake_version": snakemake.__version__,
        },
    )
    return plan


def get_report_title(dataset):
    """config's report_title, else one naming the dataset (each dataset's report is distinct)."""
    return config["report_title"] or (
        f"lossbench: classification losses on {DATASETS[dataset].title}"
    )


def get_page(wildcards):
    return get_report_plan(wildcards.dataset)[wildcards.page]


def get_page_inputs(wildcards):
    page = get_page(wildcards)
    return {
        "notebook": os.path.join(NOTEBOOKS, page.notebook),
        **page.inputs,
        "also_reads": page.also_reads,
    }


def get_page_parameters(wildcards):
    """The notebook's parameters as JSON: the files it reads plus its other values."""
    page = get_page(wildcards)
    return json.dumps({**page.inputs, **page.parameters}, sort_keys=True)


def get_page_title(wildcards):
    title = get_page(wildcards).title
    return f"{get_report_title(wildcards.dataset)} — {title}"


def get_index_title(wildcards):
    return get_report_title(wildcards.dataset)


def get_report_pages(dataset):
    """Every page as {href, title, description}, in reading order, the index first."""
    return [
        {"href": "index.html", "title": "Overview", "description": "headline table"}
    ] + [
        {"href": f"{name}.html", "title": page.title, "description": page.description}
        for name, page in get_report_plan(dataset).items()
    ]


def get_nav(wildcards):
    return json.dumps(
        [
            {"href": p["href"], "title": p["title"]}
            for p in get_report_pages(wildcards.dataset)
        ]
    )


def get_index_pages(wildcards):
    return json.dumps(get_report_pages(wildcards.dataset))


def get_other_pages(wildcards):
    return [
        f"reports/html/{wildcards.dataset}/{name}.html"
        for name in get_report_plan(wildcards.dataset)
    ]


rule render_page:
    input:
        unpack(get_page_inputs),
    output:
        report(
            "reports/html/{dataset}/{page}.html",
            caption="../report/page.rst",
            category="Report pages",
            labels={"page": "{page}"},
        ),
    log:
        page="logs/{dataset}/report/{page}.log",
        notebook="logs/{dataset}/report/{page}.ipynb",
    params:
        parameters=get_page_parameters,
        title=get_page_title,
        nav=get_nav,
    wildcard_constraints:
        page="|".join(get_report_plan(DATASET)),
    shell:
        "lossbench report --notebook {input.notebook} --out {output} --title {params.title:q} "
        "--parameters {params.parameters:q} --nav {params.nav:q} "
        "--executed-notebook {log.notebook} > {log.page} 2>&1"


rule render_index:
    input:
        pages=get_other_pages,
        summary="results/{dataset}/tables/summary.csv",
    output:
        report(
            "reports/html/{dataset}/index.html",
            caption="../report/index.rst",
            category="Report pages",
            labels={"page": "index"},
        ),
    log:
        "logs/{dataset}/report/index.log",
    params:
        pages=get_index_pages,
        title=get_index_title,
    shell:
        "lossbench index --out {output} --title {params.title:q} --pages {params.pages:q} "
        "--summary {input.summary} > {log} 2>&1"
