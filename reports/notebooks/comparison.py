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
title: str = "lossbench: loss comparison"
runs_csv: str = "results/mnist/tables/runs.csv"
epochs_csv: str = "results/mnist/tables/epochs.csv"
summary_csv: str = "results/mnist/tables/summary.csv"
reference: str = "cross_entropy"
classes: int = 10  # the number of classes C of the dataset: chance is 1 in C
loss_files: list = []  # your own loss files (config loss_files): what they declare about their losses

# %%
from IPython.display import Markdown, display

from lossbench import captions, comparison, comparison_words, losses, plots, report, stats, tables

losses.load_loss_files(loss_files)

runs, epochs, summary = (tables.read_gathered(path) for path in (runs_csv, epochs_csv, summary_csv))
display(report.heading(title))

# %% [markdown]
# How the loss variants compare: same network, same data, same seeds; only the loss differs, at
# one learning rate shared by every loss and not tuned per loss. Ablations change a setting
# besides the loss (e.g. the learning rate): they are never ranked with the losses, only read
# against their own loss at the shared settings. Seed *s* gives every variant the same split,
# initial weights and batch order, so variants are compared seed by seed.

# %% [markdown]
# ## Conclusion

# %%
found = comparison.analyse(summary, runs, reference, classes, epochs)
display(Markdown(comparison_words.conclusion(found)))

# %% [markdown]
# ## Summary
# Test accuracy after the last epoch: mean ± sd over seeds, 95% t-interval of the mean, median
# train seconds per run, and the median epoch at which validation accuracy first reaches the
# dataset's target (90% on MNIST, 75% on Fashion-MNIST; "never": most runs did not).

# %%
display(Markdown(comparison_words.summary_caption(summary, classes, runs)))
display(comparison_words.summary_display(summary, classes, stats.ablations(runs, reference)))

# %% [markdown]
# ## Learning curves

# %%
display(Markdown(captions.curves_caption(epochs)))
plots.learning_curves(epochs);

# %% [markdown]
# ## Final accuracy per seed

# %%
plots.final_accuracy(runs);

# %% [markdown]
# ## Against the reference
# Each variant against the reference: the difference of mean test accuracy and its 95% CI (of the
# paired differences where seeds pair up), paired t-test over seeds (same seed, same start) with
# its effect size *d*<sub>z</sub> (mean paired difference over its sd), Welch's t-test with
# Cohen's *d* (pooled sd). With several variants tested against one reference, the p-value of the
# test used (paired where seeds pair up) is adjusted with Holm's method across all of them; the
# conclusion above uses the adjusted one. Ablations are marked: their difference from the
# reference mixes the loss with the setting they change.

# %%
tests = stats.compare_to_reference(runs, reference)
if tests.empty:
    display(Markdown(comparison_words.no_comparison(found)))
else:
    display(comparison_words.comparison_display(tests, summary, stats.ablations(runs, reference)))
    display(Markdown(captions.paired_final_caption(runs, reference)))
    plots.paired_final(runs, reference);

# %% [markdown]
# ## Training time

# %%
display(Markdown(comparison_words.timing_caption(runs)))
plots.timing(runs);
