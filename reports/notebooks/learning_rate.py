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
title: str = "Learning rate"
lr_study_runs_csv: str = "results/mnist/tables/lr_study_runs.csv"
lr_study_epochs_csv: str = "results/mnist/tables/lr_study_epochs.csv"
lr_study_summary_csv: str = "results/mnist/tables/lr_study_summary.csv"  # per (loss, lr); the page reads runs
reference_loss: str = "cross_entropy"  # a loss: every other is compared with it at its own selected lr
slow_loss: str = "mse_softmax"  # the loss the conclusion asks about first
threshold: float = 0.5  # validation accuracy after epoch 1 that defines each loss's threshold lr
classes: int = 10  # C: the declared gradient scales and caps are functions of it; chance is 1/C
loss_files: list = []  # your own loss files (config loss_files): what they declare about their losses

# %%
from IPython.display import Markdown, display

from lossbench import losses, lrstudy, report
from lossbench import lrstudy_figures as figures
from lossbench import lrstudy_words as words
from lossbench.classes_figures import show  # a figure with its alt text

losses.load_loss_files(loss_files)

runs, epochs = lrstudy.load(lr_study_runs_csv, lr_study_epochs_csv)
study = lrstudy.analyse(runs, epochs, reference_loss, slow_loss, threshold, classes)
display(report.heading(title))

# %% [markdown]
# Is a slow loss a worse objective, or does it only need a larger step? A comparison at one shared
# learning rate compares learning rates as much as losses; here each loss is compared at its own
# selected learning rate, chosen on validation data. The same runs test the gradient-scale reading of
# the *why* page ([Why MSE on softmax is slow](why-mse.html)) over the whole range. Where a loss's
# per-sample logit gradient is a factor $s$ times cross-entropy's, one SGD step at learning rate
# $\eta / s$ is one step of cross-entropy at $\eta$: exactly so for MSE on softmax while its outputs
# are uniform ($s = 2/C^2$), so early in training it should behave at $\eta C^2/2$ as cross-entropy
# does at $\eta$. For another loss the measured $s$ only sets the scale of its steps (its gradient
# points elsewhere), so the same prediction is a rougher one there.

# %%
display(Markdown(words.method(study)))

# %% [markdown]
# ## What the study says

# %%
display(Markdown(words.conclusion(study)))

# %% [markdown]
# ## Accuracy against the learning rate

# %%
display(Markdown(words.lr_caption(study)))
figures.lr_figure(study);

# %% [markdown]
# ## Against the effective learning rate

# %%
display(Markdown(words.effective_caption(study)))
figures.effective_figure(study);

# %% [markdown]
# ## Selected learning rate per loss, and the threshold learning rate
# Selected lr: highest mean validation accuracy after the final epoch among the points that did not
# diverge (the grid's highest mean, not a tested ranking of the lrs); validation and test accuracy
# there as mean ± sd over seeds and the 95% t-interval of the mean. Threshold lr: where the mean
# validation accuracy after epoch 1 first reaches the threshold, interpolated in log lr between grid
# points. Its ratio to the reference's is set beside the ratio the measured initial gradient scale
# predicts (reference's norm ÷ the loss's) and the theory's (the quotient of the two losses'
# declared gradient scales; none where either declares none).

# %%
words.table_display(study)

# %% [markdown]
# ### Each loss at its selected learning rate against the reference at its own

# %%
display(Markdown(words.comparison_caption(study)))
words.comparison_display(study)

# %% [markdown]
# ## The threshold-lr ratio over thresholds and seeds
# The threshold lr depends on the threshold chosen and on the seed, and a grid locates it only to
# within one interval: here each loss's ratio to the reference at several thresholds, per seed and
# for the means over seeds. A crossing outside a grid is a bound (≤, ≥), never a point estimate.

# %%
for loss in (x for x in study.losses if study.of(x, "sweeps") is not None):
    display(Markdown(words.sweep_text(study, loss)), words.sweep_display(study, loss))
    show(figures.sweep_figure(study, loss), words.sweep_alt(study, loss))

# %% [markdown]
# ## Saturation at large learning rates

# %%
display(Markdown(words.saturation_caption(study)))
figures.saturation_figure(study);

# %% [markdown]
# ## Every point of the grid
# Mean ± sd over seeds. ⚠ diverged: a seed had diverged by then, so the point's accuracy is not a
# real one and is not shown. Confidently wrong: share of validation images wrong with p > 0.9 after
# the final epoch, mean over seeds (the seeds' range where they differ).

# %%
words.points_display(study)
