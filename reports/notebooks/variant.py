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
title: str = "Variant"
variant: str = "cross_entropy"
runs_csv: str = "results/mnist/tables/runs.csv"
epochs_csv: str = "results/mnist/tables/epochs.csv"
data_pt: str = "resources/data/mnist/data.pt"
classes: list = list("0123456789")  # label i's name

# %%
import pandas as pd
from IPython.display import Markdown, display

from lossbench import data, plots, report, stats, tables, variant_page

runs, epochs = tables.read_gathered(runs_csv), tables.read_gathered(epochs_csv)
runs, epochs = runs[runs["variant"] == variant], epochs[epochs["variant"] == variant]
display(report.heading(title))

# %% [markdown]
# One variant in detail: every seed's curves, and on the test set of the seed with the median
# accuracy the confusion matrix, example images and the confidence of its predictions.

# %%
display(Markdown(variant_page.overview_text(variant_page.overview(runs))))

# %% [markdown]
# ## Every seed

# %%
display(Markdown(variant_page.per_seed_caption(runs, epochs)))
plots.per_seed_curves(epochs);

# %%
note = variant_page.examples_note(runs)
if note is None:
    run = stats.median_run(runs)
    predictions = pd.read_csv(f"{run['path']}/predictions.csv")
    display(Markdown(variant_page.test_set_heading(runs, run)))
    guessing = variant_page.guessing_text(variant_page.guessing(predictions), classes)
    if guessing:
        display(Markdown(guessing))
else:
    display(Markdown(f"## Test set\n\n{note}"))

# %% [markdown]
# ### Confusion matrix (rows: true class, normalised)

# %%
if note is None:
    plots.confusion_matrix(predictions, classes);
else:
    display(Markdown("Not shown: see above."))

# %% [markdown]
# ### Examples: the first eight test images, then the most confidently wrong

# %%
if note is None:
    display(Markdown(variant_page.examples_caption(predictions)))
    plots.example_grid(data.load(data_pt)["test_images"], predictions, classes);
else:
    display(Markdown("Not shown: see above."))

# %% [markdown]
# ### Confidence of the predictions

# %%
if note is None:
    plots.confidence_histogram(predictions);
else:
    display(Markdown("Not shown: see above."))
