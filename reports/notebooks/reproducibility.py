# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,language_info,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   language_info:
#     name: python
# ---

# %% tags=["parameters"]
title: str = "Reproducibility"
runs_csv: str = "results/mnist/tables/runs.csv"
metrics_json: str = "results/mnist/runs/cross_entropy/seed-0/metrics.json"
manifest_json: str = "resources/data/mnist/manifest.json"
config: dict = {}
snakemake_version: str = ""
configfiles: list = []  # the config files given to snakemake (--configfile)
overrides: dict = {}  # the settings given on its command line (--config)

# %%
from IPython.display import Markdown, display

from lossbench import report, reproducibility_page, tables

display(report.heading(title))

# %% [markdown]
# Everything needed to reproduce these results, read from the run records themselves.

# %%
runs = tables.read_gathered(runs_csv)
display(Markdown(reproducibility_page.provenance_markdown(runs, metrics_json, manifest_json, snakemake_version)))

# %% [markdown]
# ## Configuration (as resolved by the workflow)

# %%
display(report.preformatted(reproducibility_page.config_yaml(config)))

# %% [markdown]
# ## How to rerun

# %%
display(Markdown(reproducibility_page.rerun_markdown(config, configfiles, overrides)))
