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
title: str = "Why MSE on softmax converges more slowly"
runs_csv: str = "results/mnist/tables/runs.csv"
epochs_csv: str = "results/mnist/tables/epochs.csv"
summary_csv: str = "results/mnist/tables/summary.csv"
reference: str = "cross_entropy"  # a variant: accuracies are compared with it
slow_loss: str = "mse_softmax"  # a loss: its initial gradient is measured against cross_entropy's

# %%
import pandas as pd
from IPython.display import Markdown, display

from lossbench import plots, prose, report, stats

runs, epochs, summary = pd.read_csv(runs_csv), pd.read_csv(epochs_csv), pd.read_csv(summary_csv)
display(report.heading(title))

# %% [markdown]
# ## The derivation
#
# Write $z$ for the logits, $p = \mathrm{softmax}(z)$, $y$ for the one-hot target and $C = 10$ classes.
#
# **Cross-entropy** $L = -\sum_k y_k \log p_k$ has the gradient
#
# $$\frac{\partial L}{\partial z} = p - y .$$
#
# **MSE on softmax outputs** as `nn.MSELoss` computes it (mean over the $C$ outputs),
# $L = \frac{1}{C}\sum_k (p_k - y_k)^2$, goes through the softmax Jacobian
# $J = \frac{\partial p}{\partial z} = \mathrm{diag}(p) - p p^\top$:
#
# $$\frac{\partial L}{\partial z} = \frac{2}{C}\, J\,(p - y).$$
#
# At initialisation the output is nearly uniform, $p \approx \frac{1}{C}$, so
# $J \approx \frac{1}{C}\left(I - \frac{1}{C}\mathbf{1}\mathbf{1}^\top\right)$, and since the entries of
# $p - y$ sum to zero,
#
# $$\frac{\partial L}{\partial z} \approx \frac{2}{C^2}\,(p - y),$$
#
# a gradient $C^2/2 = 50$ times smaller than cross-entropy's: at the same learning rate 0.1,
# MSE on softmax moves as if its learning rate were 0.002. Later, where the network is
# confidently wrong ($p_y \approx 0$, $p_j \approx 1$ for a wrong $j$), $J \approx 0$ and the
# gradient vanishes again: the softmax **saturates**, while cross-entropy's $p - y$ is largest
# exactly there.

# %% [markdown]
# ## What the measurements say

# %%
ratios = stats.initial_gradient_ratio(runs, slow_loss, "cross_entropy")
display(Markdown(prose.why_conclusion(summary, ratios, reference, slow_loss, stats.saturation_table(epochs))))

# %% [markdown]
# ## Measured: the gradient at initialisation
# Per-sample logit-gradient norm $\lVert \partial \ell_i / \partial z_i \rVert$ of the untrained network,
# averaged over the training split, for the same network (same seed) under both losses.

# %%
if len(ratios):
    display(prose.ratio_display(ratios))
else:
    display(Markdown(prose.ratio_missing(summary, slow_loss)))

# %% [markdown]
# ## Measured: the gradient during training
# Mean per-sample logit-gradient norm per epoch (log scale where it spans more than a factor
# of 10; epoch 0 = initialisation).

# %%
display(Markdown(prose.curves_caption(epochs)))
plots.gradient_norms(epochs);

# %% [markdown]
# ## Saturation
# Mean max-softmax probability on the validation set, and the share of validation images the
# network gets wrong with more than 0.9 probability. Bands, where there are two seeds or more:
# 95% t-interval of the mean over seeds, clipped to [0, 1].

# %%
plots.saturation(epochs);

# %% [markdown]
# ## Ablations: learning rate and output head

# %%
display(Markdown(prose.ablation_caption(summary, slow_loss)))
plots.learning_curves(epochs);

# %% [markdown]
# ## References
# - P. Golik, P. Doetsch, H. Ney. *Cross-entropy vs. squared error training: a theoretical and
#   experimental comparison.* Interspeech 2013.
# - L. Hui, M. Belkin. *Evaluation of neural architectures trained with square loss vs
#   cross-entropy in classification tasks.* ICLR 2021, arXiv:2006.07322.
# - M. Nielsen. *Neural Networks and Deep Learning*, chapter 3 (the cross-entropy cost function).
# - K. Janocha, W. M. Czarnecki. *On loss functions for deep neural networks in
#   classification.* arXiv:1702.05659, 2017.
