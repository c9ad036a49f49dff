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
title: str = "Number of classes"
classes_study_runs_csv: str = "results/mnist/tables/classes_study_runs.csv"
classes_study_epochs_csv: str = "results/mnist/tables/classes_study_epochs.csv"
reference_loss: str = "cross_entropy"  # a loss: every other's threshold lr is divided by its own, per C and seed
slow_loss: str = "mse_softmax"  # the loss the answer opens with
threshold: float = 0.5  # a fraction of the way from chance (1/C) to 1: the threshold lr's accuracy after epoch 1
loss_files: list = []  # your own loss files (config loss_files): what they declare about their losses

# %%
from IPython.display import Markdown, display

from lossbench import classes, losses, report
from lossbench import classes_figures as figures
from lossbench import classes_words as words

losses.load_loss_files(loss_files)

study = classes.record(classes_study_runs_csv, classes_study_epochs_csv, reference_loss, slow_loss, threshold)
display(report.heading(title))

# %% [markdown]
# Does the predicted learning-rate factor follow the number of classes? At uniform outputs a loss whose
# per-sample logit gradient is $s(C)$ times cross-entropy's takes, at learning rate $\eta / s(C)$, the
# step cross-entropy takes at $\eta$: for MSE on softmax as `nn.MSELoss` averages it $s = 2/C^2$, so its
# lr should be $C^2/2$ times larger; summed over the classes, $C/2$ ([Why MSE on softmax is
# slow](why-mse.html)). Here each loss trains on the dataset's first C classes for several C, and the
# lr at which it first gets a fixed way above chance is set against the reference's.

# %%
display(Markdown(words.answer(study)))

# %% [markdown]
# ## The ratio against the number of classes

# %%
display(Markdown(words.ratio_caption(study)))
figures.show(figures.ratio_figure(study), words.ratio_alt(study))

# %% [markdown]
# ## The curves the thresholds are read from

# %%
display(Markdown(words.curves_caption(study)))
figures.show(figures.curves_figure(study), words.curves_alt(study))

# %% [markdown]
# ## How it is measured

# %%
display(Markdown(words.method(study)))
display(Markdown(words.outside_text(study)))

# %% [markdown]
# ## Per number of classes
# Per loss and C: the initial logit-gradient ratio to the reference per seed and its declared value;
# the loss's lr grid; each seed's threshold lr (or where it lies outside the grid); the threshold-lr
# ratio per seed (a bound where a threshold lies outside its grid) against the predicted ratio, and
# whether every seed lies within the tolerance.

# %%
display(Markdown(words.per_c(study)))
