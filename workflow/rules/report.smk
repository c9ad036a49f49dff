# The report: one HTML page per entry of the page plan (a jupytext notebook run by papermill),
# and an index linking them. Each page's executed notebook is kept beside its log.

# The page plan, per dataset: one Page record per page, in reading order (the index comes
# first and links them all). A new page is one record here and one notebook in
# reports/notebooks/; the rules, the index, the navigation and the constraints follow.
REPORT_PLAN = {
    dataset: {
        "comparison": Page(
            notebook="comparison.py",
            title="Comparison",
            description="summary, learning curves, tests against the reference",
            inputs=get_tables(dataset),
            parameters={
                "reference": config["reference"],
                "classes": len(DATASETS[dataset].classes),
                "loss_files": LOSS_FILES,
            },
        ),
        "why-mse": Page(
            notebook="why_mse.py",
            title="Why MSE is slow",
            description="derivation, measured gradients, slow or stuck",
            # with horizon: on, also its tables and plateau criterion ("Slow or stuck?"); with
            # lr_study: on, the study's runs (its conclusion cites the tuned comparison)
            inputs={
                **get_tables(dataset),
                **get_horizon_tables(dataset),
                **get_lr_study_tables(dataset, ("runs", "epochs")),
                **get_study_tables(
                    dataset, "optimizer_study_", OPTIMIZER_STUDY, ("runs",)
                ),
                **get_probe_tables(dataset),
            },
            also_reads=get_study_record(dataset, "optimizer_study_", OPTIMIZER_STUDY),
            # every value resolved here (a block that is off: the schema's defaults), so the
            # notebook's own parameter defaults are never what a page shows
            parameters={
                "reference": config["reference"],
                "slow_loss": config["slow_loss"],
                "classes": len(DATASETS[dataset].classes),
                "loss_files": LOSS_FILES,
                "plateau_window": (HORIZON or defaults("horizon"))["plateau_window"],
                "plateau_gain": (HORIZON or defaults("horizon"))["plateau_gain"],
                "lr_study_threshold": (LR_STUDY or defaults("lr_study"))["threshold"],
                "lr_study_reference": LR_STUDY["reference"] if LR_STUDY else "",
                "probe_loss": PROBE["loss"] if PROBE else "",
            },
        ),
        **(
            {
                "learning-rate": Page(
                    notebook="learning_rate.py",
                    title="Learning rate",
                    description="each loss at its selected lr; the gradient-scale prediction across the lr range",
                    inputs=get_lr_study_tables(dataset),
                    parameters={
                        "reference_loss": LR_STUDY["reference"],
                        "slow_loss": config["slow_loss"],
                        "threshold": LR_STUDY["threshold"],
                        "classes": len(DATASETS[dataset].classes),
                        "loss_files": LOSS_FILES,
                    },
                )
            }
            if LR_STUDY is not None
            else {}
        ),
        **(
            {
                "classes": Page(
                    notebook="classes.py",
                    title="Number of classes",
                    description="the threshold-lr ratio against C: where the predicted C^2/2 law holds",
                    inputs=get_study_tables(dataset, "classes_study_", CLASSES_STUDY),
                    also_reads=get_study_record(
                        dataset, "classes_study_", CLASSES_STUDY
                    ),
                    parameters={
                        "reference_loss": CLASSES_STUDY["reference"],
                        "slow_loss": config["slow_loss"],
                        "threshold": CLASSES_STUDY["threshold"],
                        "loss_files": LOSS_FILES,
                    },
                )
            }
            if CLASSES_STUDY is not None
            else {}
        ),
        **{
            f"variant-{variant}": Page(
                notebook="variant.py",
                title=variant,
                description=f"{variant} in detail",
                inputs={
                    "runs_csv": get_tables(dataset)["runs_csv"],
                    "epochs_csv": get_tables(dataset)["epochs_csv"],
                    "data_pt": f"resources/data/{dataset}/data.pt",
                },
                parameters={
                    "variant": variant,
                    "classes": list(DATASETS[dataset].classes),
                },
                also_reads=get_run_dependencies(dataset, "predictions.csv", [variant]),
            )
            for variant in VARIANTS
        },
        "reproducibility": Page(
            notebook="reproducibility.py",
            title="Reproducibility",
            description="config, checksums, versions, how to rerun",
            inputs={
                "runs_csv": get_tables(dataset)["runs_csv"],
                "manifest_json": f"resources/data/{dataset}/manifest.json",
            },
            # the first run's metrics.json: a parameter, and a dependency on it (or packed, on its job)
            also_reads=get_run_dependencies(
                dataset, variants=list(VARIANTS)[:1], seeds=config["seeds"][:1]
            ),
            parameters={
                "metrics_json": get_run_files(dataset)[0],
                "config": {**config, "dataset": dataset},
                "snakemake_version": snakemake.__version__,
                # the invocation, for "How to rerun": --configfile files, --config overrides
                "configfiles": [
                    (
                        os.path.relpath(path)
                        if not os.path.relpath(path).startswith("..")
                        else str(path)
                    )
                    for path in workflow.config_settings.configfiles
                ],
                "overrides": dict(workflow.config_settings.config),
            },
        ),
    }
    for dataset in DATASETS
}


rule render_page:
    input:
        unpack(get_page_inputs),
    output:
        "reports/html/{dataset}/{page}.html",
    log:
        page="logs/{dataset}/report/{page}.log",
        notebook="logs/{dataset}/report/{page}.ipynb",
    wildcard_constraints:
        page="|".join(
            page for page in REPORT_PLAN[DATASET] if page not in VARIANT_PAGES
        ),
    localrule: True
    params:
        parameters=get_page_parameters,
        title=get_page_title,
        nav=get_nav,
    shell:
        "lossbench report --notebook {input.notebook:q} --out {output:q} --title {params.title:q} "
        "--parameters {params.parameters:q} --nav {params.nav:q} "
        "--executed-notebook {log.notebook:q} > {log.page:q} 2>&1"


# Every variant page in one job, one after another in one kernel (VARIANT_PAGES, common.smk).
rule render_variant_pages:
    input:
        unpack(get_variant_pages_inputs),
    output:
        expand("reports/html/{{dataset}}/{page}.html", page=VARIANT_PAGES),
    log:
        pages="logs/{dataset}/report/variant-pages.log",
        notebooks=expand("logs/{{dataset}}/report/{page}.ipynb", page=VARIANT_PAGES),
    localrule: True
    params:
        pages=get_variant_pages,
        nav=get_nav,
    shell:
        "lossbench report --notebook {input.notebook:q} --pages {params.pages:q} --nav {params.nav:q} "
        "> {log.pages:q} 2>&1"


rule render_index:
    input:
        pages=get_other_pages,
        summary="results/{dataset}/tables/summary.csv",
        runs="results/{dataset}/tables/runs.csv",  # the answer's initial gradient ratio and shared settings
        epochs="results/{dataset}/tables/epochs.csv",  # the key figure
        gathered="results/{dataset}/tables/gathered.json",
    output:
        "reports/html/{dataset}/index.html",
    log:
        "logs/{dataset}/report/index.log",
    localrule: True
    params:
        pages=get_index_pages,
        title=get_index_title,
        reference=config["reference"],
        slow_loss=config["slow_loss"],
    shell:
        "lossbench index --out {output:q} --title {params.title:q} --pages {params.pages:q} "
        "--summary {input.summary:q} --reference {params.reference:q} --slow-loss {params.slow_loss:q} > {log:q} 2>&1"


# The pages side by side in one folder, attached to `snakemake --report` as one entry that
# opens at index.html, so the pages' relative links work inside Snakemake's report too.
rule bundle_report:
    input:
        pages=get_other_pages,
        index="reports/html/{dataset}/index.html",
    output:
        report(
            directory("reports/bundle/{dataset}"),
            htmlindex="index.html",
            caption="../report/bundle.rst",
            category="Report",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "logs/{dataset}/report/bundle.log",
    localrule: True
    shell:
        "(mkdir -p {output:q} && cp {input.pages:q} {input.index:q} {output:q}) > {log:q} 2>&1"
