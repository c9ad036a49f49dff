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
slow_loss: str = "mse_softmax"  # a loss: the one the page explains
reference_loss: str = ""  # a loss: slow_loss's gradient is measured against it ("": the reference variant's loss)
classes: int = 10  # the dataset's number of classes C
loss_files: list = []  # your own loss files (config loss_files): what they declare about their losses
horizon_runs_csv: str = ""  # long-horizon tables (config horizon:); "" when the block is off
horizon_epochs_csv: str = ""
lr_study_runs_csv: str = ""  # learning-rate study tables (config lr_study:); "" when the block is off
lr_study_epochs_csv: str = ""
lr_study_threshold: float = 0.5  # the study's threshold (validation accuracy after epoch 1), as on its page
lr_study_reference: str = ""  # the study's reference loss (config lr_study.reference); "" when the block is off
probe_csv: str = ""  # the same-network gradient probe's table (config probe:); "" when the block is off
probe_loss: str = ""  # the probed loss (config probe.loss, resolved); "": slow_loss
plateau_window: int = 4  # the plateau criterion: window in epochs and gain in validation accuracy
plateau_gain: float = 0.01
optimizer_study_runs_csv: str = ""  # the optimiser control's runs (config optimizer_study:); "" when the block is off

# %%
from IPython.display import Markdown, display

from lossbench import captions, losses, plots, report, stats, tables, why, why_words

losses.load_loss_files(loss_files)

runs, epochs, summary = (tables.read_gathered(path) for path in (runs_csv, epochs_csv, summary_csv))
display(report.heading(title))

# %%
found = why.analyse(summary, runs, epochs, reference, reference_loss, slow_loss, classes)
display(Markdown(why_words.verdicts(found, runs)))

# %% [markdown]
# ## What the measurements say

# %%
display(Markdown(why_words.conclusion(found)))

# %%
from lossbench import lrstudy, lrstudy_words

lrstudy_words.why_note(lrstudy.why_record(lr_study_runs_csv, lr_study_epochs_csv, lr_study_reference, slow_loss,
                                          lr_study_threshold, classes))

# %% [markdown]
# ## The derivation
#
# Write $z$ for one sample's logits, $p = \mathrm{softmax}(z)$, $y$ for its one-hot target,
# $C = 10$ classes and $\ell$ for its loss (every loss here is the mean of $\ell$ over a batch).
#
# **Cross-entropy** $\ell = -\sum_k y_k \log p_k$ has the gradient
#
# $$\frac{\partial \ell}{\partial z} = p - y .$$
#
# **MSE on softmax outputs** as `nn.MSELoss` computes it averages over all $n \cdot C$ entries, so per
# sample $\ell = \frac{1}{C}\sum_k (p_k - y_k)^2$; it goes through the softmax Jacobian
# $J = \frac{\partial p}{\partial z} = \mathrm{diag}(p) - p p^\top$ (symmetric):
#
# $$\frac{\partial \ell}{\partial z} = \frac{2}{C}\, J\,(p - y).$$
#
# At initialisation the output is nearly uniform, $p \approx \frac{1}{C}$, so
# $J \approx \frac{1}{C}\left(I - \frac{1}{C}\mathbf{1}\mathbf{1}^\top\right)$, and since the entries of
# $p - y$ sum to zero,
#
# $$\frac{\partial \ell}{\partial z} \approx \frac{2}{C^2}\,(p - y),$$
#
# a gradient $C^2/2 = 50$ times smaller than cross-entropy's. Of that factor 50, $C = 10$ comes from
# `nn.MSELoss` averaging over the $C$ outputs: with a sum over the classes, $\ell = \sum_k (p_k - y_k)^2$,
# the gradient is $2J(p - y) \approx \frac{2}{C}(p - y)$, only $C/2 = 5$ times smaller. The other $C/2 = 5$
# is the Jacobian at uniform $p$ (its $\frac{1}{C}$ against the square's 2).
#
# **One factor on $\partial \ell / \partial z$ scales every weight's gradient alike.** For any parameter
# $\theta$ (any layer's weights), the chain rule gives
#
# $$\frac{\partial L}{\partial \theta} = \frac{1}{n}\sum_i
# \left(\frac{\partial z_i}{\partial \theta}\right)^{\top} \frac{\partial \ell_i}{\partial z_i} :$$
#
# the loss enters only through the per-sample logit gradient, and $\partial z_i/\partial\theta$ is the
# network's alone. While every sample's output is near uniform, each $\partial \ell_i/\partial z_i$ is
# $\frac{2}{C^2}$ times cross-entropy's, the same factor for every sample, so every layer's gradient is
# $\frac{2}{C^2}$ times cross-entropy's: one SGD step of MSE on softmax at learning rate $\eta$ is one of
# cross-entropy at $\frac{2}{C^2}\eta$ (0.002 for $\eta = 0.1$). This "effective learning rate" is exact
# only while $p$ is uniform; once outputs differ between samples, so does the factor.
#
# **Away from uniform $p$** the factor grows, but it is bounded. For a unit vector $v$,
# $v^\top J v = \sum_k p_k v_k^2 - \left(\sum_k p_k v_k\right)^2$ is the variance of $v$'s entries under $p$,
# at most $\frac{1}{2}$, so $\lambda_{\max}(J) \le \frac{1}{2}$ and
#
# $$\left\lVert \frac{2}{C} J (p - y) \right\rVert \le \frac{2}{C}\,\lambda_{\max}(J)\,\lVert p - y \rVert
# \le \frac{1}{C}\,\lVert p - y \rVert .$$
#
# On one network, the ratio of the two logit gradients starts at $2/C^2 = 0.02$ and can rise to $1/C = 0.1$:
# a learning rate scaled by $C^2/2 = 50$ matches cross-entropy's first steps and can take up to $5\times$
# larger ones later. (The bound holds for both losses evaluated on the same network; the per-epoch ratio
# measured below compares, after epoch 0, two networks each trained with its own loss, which it does not
# bound.) Where the network is confidently wrong ($p_y \approx 0$, $p_j \approx 1$ for a wrong $j$),
# $J \approx 0$ and the gradient of MSE on softmax goes to zero: the softmax **saturates**, while
# cross-entropy's $p - y$ is largest exactly there.
#
# **MSE on logits**, $\ell = \frac{1}{C}\sum_k (z_k - y_k)^2$, has
# $\frac{\partial \ell}{\partial z} = \frac{2}{C}(z - y)$: no Jacobian, so no saturation. At initialisation
# $z \approx 0$, so its logit gradient is about
# $\frac{2}{C}\lVert y \rVert = 0.2$ against cross-entropy's $\lVert p - y \rVert \approx 0.95$: about 0.21 times
# as large. Its targets are logits of 0 and 1, where the softmax is at most $e/(e + C - 1) \approx 0.23$.

# %% [markdown]
# ## Measured: the gradient at initialisation
# Per-sample logit-gradient norm $\lVert \partial \ell_i / \partial z_i \rVert$ of the untrained network,
# averaged over the training split, for the same network (same seed) under both losses.

# %%
if found.ratio.measured:
    display(why_words.ratio_display(found.ratio))
else:
    display(Markdown(why_words.ratio_missing(found.ratio)))

# %% [markdown]
# ## Measured: the gradient during training
# Left: the mean per-sample logit-gradient norm; right: the step it makes, learning rate × norm. Below:
# each layer's step, learning rate × mean per-batch weight-gradient norm. Log scales where values span
# more than a factor of 10.

# %%
steps, order = stats.with_lr(epochs, runs), list(summary["variant"])
display(Markdown(captions.curves_caption(steps, gradients=True, metrics=("logit_grad_norm", "step_logit",
                                                                      *stats.layer_columns(steps, "step_layer")))))
plots.gradient_steps(steps, order);
plots.layer_steps(steps, order);

# %% [markdown]
# ### The ratio of the two losses' logit gradients, per epoch

# %%
by_epoch = why.by_epoch(epochs, runs, found)
display(Markdown(why_words.ratio_caption(by_epoch, found)))
if by_epoch is not None and len(by_epoch.table):
    plots.gradient_ratio(by_epoch.table, f"{by_epoch.numerator} / {by_epoch.denominator}", by_epoch.predicted);

# %% [markdown]
# ## The direct test: the reference loss at the same effective step

# %%
caption, shown = why_words.overlay_caption(epochs, runs, found)
display(Markdown(caption))
if shown:
    plots.learning_curves(steps[steps["variant"].isin(shown)], metrics=("val_accuracy", "step_logit"),
                          log_y=("step_logit",), variants=order);
if shown and found.direct.twin:
    display(Markdown(why_words.paired_caption(found)))
    plots.paired_difference(epochs, [(found.direct.twin, found.direct.slow_variant)]);

# %% [markdown]
# ## The residual factor
# The learning-rate study measures how much larger an lr the slow loss needs to reach a threshold
# after epoch 1; the gradient scale predicts part of it. What is left, measured ÷ predicted, has three
# first candidates, each read by the probe (config `probe:`) on one network, the same weights for both
# losses, every few steps of the slow loss's run: the norm ratio of the two logit gradients drifting
# from the declared scale, their directions parting (cosine), and the second-order term the scale
# argument leaves out. At exactly uniform outputs the per-sample logit Hessian of MSE on softmax is
# $\frac{4}{C^3}P - \frac{2}{C^2}P e_y e_y^\top P$ ($P = I - \frac{1}{C}\mathbf{1}\mathbf{1}^\top$),
# against $\frac{2}{C^3}P$ for $\frac{2}{C^2}\times$ cross-entropy: only their average over the classes agrees.

# %%
from lossbench import classes_figures, residual, residual_figures, residual_words

probe_table = residual.load(probe_csv)
left = residual.section(probe_table, lrstudy.why_record(lr_study_runs_csv, lr_study_epochs_csv, lr_study_reference,
                                                         probe_loss or slow_loss, lr_study_threshold, classes),
                        probe_loss or slow_loss, lr_study_reference, classes)
display(Markdown(residual_words.statement(left)))

# %%
display(Markdown(residual_words.caption(left)))
classes_figures.show(residual_figures.figure(probe_table, left), residual_words.alt(left))
residual_words.display(left)

# %% [markdown]
# ## Saturation
# Mean max-softmax probability on the validation set, and the share of validation images the
# network gets wrong with more than 0.9 probability.

# %%
display(Markdown(why_words.saturation_caption(epochs, classes)))
plots.saturation(epochs, order, why.capped(epochs, classes));

# %% [markdown]
# ## Ablations: learning rate and output head

# %%
caption, shown = why_words.ablation_caption(runs, found, epochs)
display(Markdown(caption))
if shown:
    plots.learning_curves(epochs[epochs["variant"].isin(shown)], variants=order);

# %% [markdown]
# ## Slow or stuck?
# Five epochs cannot tell a loss that learns slowly from one that has stopped learning. The
# long-horizon runs (config `horizon:`) train key variants to a longer epoch budget; seed $s$
# starts from the same network and sees the same batches as seed $s$ of the sweep. The
# criterion, and each variant's verdict by it, are computed from their validation curves and
# their train losses, seed by seed.

# %%
from lossbench import horizon, horizon_figures, horizon_words

horizon_runs, horizon_epochs = horizon.load(horizon_runs_csv, horizon_epochs_csv)
readings = horizon.readings(horizon_runs, horizon_epochs, plateau_window, plateau_gain)
display(Markdown(horizon_words.statement(readings, plateau_window, plateau_gain)))

# %%
pair = horizon.twin(horizon_runs, horizon_epochs, slow_loss, horizon.loss_of(runs, reference), classes)
display(Markdown(horizon_words.twin(pair)))

# %%
display(Markdown(horizon_words.caption(readings)))
horizon_figures.curves(horizon_epochs, readings, list(summary["variant"]));

# %%
horizon_words.display(readings)

# %%
from lossbench import optimizer_control, optimizer_control_words  # the control: a scale-free optimiser, each lr tuned

control = optimizer_control.record(optimizer_study_runs_csv, runs, reference, slow_loss, classes)
optimizer_control_words.why_note(control)

# %% [markdown]
# ## References
# - P. Golik, P. Doetsch, H. Ney. *Cross-entropy vs. squared error training: a theoretical and
#   experimental comparison.* Interspeech 2013.
# - L. Hui, M. Belkin. *Evaluation of neural architectures trained with square loss vs
#   cross-entropy in classification tasks.* ICLR 2021, arXiv:2006.07322.
# - M. Nielsen. *Neural Networks and Deep Learning*, chapter 3 (the cross-entropy cost function).
# - K. Janocha, W. M. Czarnecki. *On loss functions for deep neural networks in
#   classification.* arXiv:1702.05659, 2017.
