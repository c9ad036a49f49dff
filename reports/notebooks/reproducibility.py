# %% tags=["parameters"]
title = "Reproducibility"
runs_csv = "results/tables/runs.csv"
metrics_json = "results/runs/cross_entropy/seed-0/metrics.json"
manifest_json = "resources/data/mnist/manifest.json"
config = {}
snakemake_version = ""

# %%
import pandas as pd
from IPython.display import Markdown, display

from lossbench import report, stats

display(report.heading(title))

# %% [markdown]
# Everything needed to reproduce these results, read from the run records themselves.

# %%
display(Markdown(stats.provenance_markdown(pd.read_csv(runs_csv), metrics_json, manifest_json, snakemake_version)))

# %% [markdown]
# ## Configuration (as resolved by the workflow)

# %%
display(report.preformatted(stats.config_yaml(config)))

# %% [markdown]
# ## How to rerun
# From a clone of the repository at the commit above:
#
# ```bash
# make run                       # or: snakemake --cores 8 (environment from environment.yml)
# ```
#
# Set `LOSSBENCH_DATA_MIRROR` to a folder with the original MNIST `.gz` files to skip the
# download; every file is verified against the SHA-256 values listed above either way. On CPU
# the same config, seed and thread count reproduce every metric bit for bit. On GPU some
# cuBLAS kernels are not deterministic, so metrics can differ in the last digits.
