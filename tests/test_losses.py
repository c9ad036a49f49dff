"""Every registered loss, parametrized over the registry: a new loss is covered automatically."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from lossbench.config import ConfigError
from lossbench.losses import (
    LOSSES,
    LossFileError,
    get_loss,
    load_loss_files,
    loss_info,
    register_loss,
    same_function,
)
from lossbench.model import MLP

C = 10


def batch(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g, dtype=torch.float64) * 2, torch.randint(0, C, (n,), generator=g)


# Independent formulations, written from the math rather than from the registry's code.
REFERENCES = {
    "softmax_nll": lambda z, y: F.cross_entropy(z, y),  # equal up to the 1e-7 guard (see TOLERANCE)
    "logsoftmax_nll": lambda z, y: -(z.log_softmax(1).gather(1, y[:, None])).mean(),
    "cross_entropy": lambda z, y: (torch.logsumexp(z, 1) - z.gather(1, y[:, None]).squeeze(1)).mean(),
    "mse_softmax": lambda z, y: ((z.softmax(1) - F.one_hot(y, C)) ** 2).mean(),
    "mse_softmax_sum": lambda z, y: torch.nn.MSELoss(reduction="sum")(z.softmax(1), F.one_hot(y, C).double()) / len(y),
    "mse_logits": lambda z, y: ((z - F.one_hot(y, C)) ** 2).mean(),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_is_a_finite_scalar_and_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = MLP(hidden=(16, 8))
    x, y = torch.rand(12, 784), torch.randint(0, C, (12,))
    loss = get_loss(name)(model(x), y)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


def backward_on_meta(loss_fn, seeds: int | None = None) -> None:
    """Forward and backward of ``loss_fn`` on meta tensors, alone or vmapped over ``seeds`` (packing).

    Meta tensors have shapes but no values, so anything that reads a value back to the host
    (``.item()``, ``.tolist()``, ``if tensor:``, a boolean mask, ``nonzero``) raises here, on
    CPU, just as it would make the CUDA-graph capture of the training step fail on a GPU.
    """
    shape = (12,) if seeds is None else (seeds, 12)
    logits = torch.empty(*shape, C, device="meta", requires_grad=True)
    labels = torch.empty(*shape, dtype=torch.long, device="meta")
    fn = loss_fn if seeds is None else torch.func.vmap(loss_fn)
    fn(logits, labels).sum().backward()
    assert logits.grad.shape == logits.shape


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_never_reads_a_value_back_to_the_host(name):
    backward_on_meta(get_loss(name))
    backward_on_meta(get_loss(name), seeds=3)


@pytest.mark.parametrize("syncing", [
    lambda z, y: F.cross_entropy(z, y) * (y.max().item() + 1),  # .item()
    lambda z, y: F.cross_entropy(z[y >= 0], y[y >= 0]),  # boolean mask: data-dependent shape
    lambda z, y: F.cross_entropy(z, y) if (y >= 0).all() else z.sum(),  # data-dependent branch
], ids=["item", "boolean-mask", "branch"])
def test_the_host_read_check_catches_a_loss_that_reads_back(syncing):
    z, y = batch()
    assert torch.isfinite(syncing(z, y))  # a fine loss on CPU, eagerly ...
    with pytest.raises(RuntimeError):  # ... that the CUDA-graph step could not capture
        backward_on_meta(syncing)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_vmapped_over_seeds_is_each_seeds_own_loss(name):
    """Seed packing vmaps the loss over a leading seed axis: values and gradients per seed must
    be the loss of that seed alone."""
    g = torch.Generator().manual_seed(3)
    z = (torch.randn(3, 16, C, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    y = torch.randint(0, C, (3, 16), generator=g)
    loss = get_loss(name)
    packed = torch.func.vmap(loss)(z, y)
    alone = torch.stack([loss(z[s], y[s]) for s in range(3)])
    torch.testing.assert_close(packed, alone)
    (grad_packed,) = torch.autograd.grad(packed.sum(), z)
    (grad_alone,) = torch.autograd.grad(alone.sum(), z)
    torch.testing.assert_close(grad_packed, grad_alone)


# log(1e-7 + p) differs from log(p) by about 1e-7 / p: up to ~1e-4 for these logits.
TOLERANCE = {"softmax_nll": 1e-4}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_agrees_with_its_reference(name):
    if name not in REFERENCES:
        pytest.skip(f"{name}: no independent reference written yet")
    z, y = batch()
    tol = TOLERANCE.get(name, 1e-9)
    torch.testing.assert_close(get_loss(name)(z, y), REFERENCES[name](z, y), rtol=tol, atol=tol)


def test_ce_family_has_gradient_p_minus_y():
    z, y = batch()
    expected = (z.softmax(1) - F.one_hot(y, C)) / len(y)
    for name in ("softmax_nll", "logsoftmax_nll", "cross_entropy"):
        z_ = z.clone().requires_grad_(True)
        get_loss(name)(z_, y).backward()
        tol = TOLERANCE.get(name, 1e-9)
        torch.testing.assert_close(z_.grad, expected, rtol=tol, atol=tol)


def test_mse_softmax_gradient_is_jacobian_times_p_minus_y():
    """dL/dz = (2/C) J (p - y) per sample, J = diag(p) - p p^T: the report's derivation."""
    z, y = batch()
    z_ = z.clone().requires_grad_(True)
    get_loss("mse_softmax")(z_, y).backward()
    p = z.softmax(1)
    jacobian = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    expected = (2 / C) * (jacobian @ (p - F.one_hot(y, C))[:, :, None]).squeeze(2) / len(y)
    torch.testing.assert_close(z_.grad, expected)


def test_mse_softmax_to_ce_gradient_ratio_at_uniform_output_is_2_over_c_squared():
    z, y = torch.zeros(64, C, dtype=torch.float64), torch.arange(64) % C
    norms = {}
    for name in ("cross_entropy", "mse_softmax"):
        z_ = z.clone().requires_grad_(True)
        get_loss(name)(z_, y).backward()
        norms[name] = z_.grad.norm(dim=1).mean().item()
    assert norms["mse_softmax"] / norms["cross_entropy"] == pytest.approx(2 / C**2, rel=1e-9)


@pytest.mark.parametrize("classes", [2, 3, 5, 10])
def test_mse_softmax_sum_is_c_times_mse_softmax_and_its_lr_factor_is_c_over_2(classes):
    """Summed over the C classes instead of averaged: C times mse_softmax, value and gradient, so its initial
    gradient is (2/C) x cross-entropy's (predicted lr factor C/2, against mse_softmax's C^2/2)."""
    g = torch.Generator().manual_seed(classes)
    z, y = torch.randn(16, classes, generator=g, dtype=torch.float64), torch.randint(0, classes, (16,), generator=g)
    grads = {}
    for name in ("mse_softmax", "mse_softmax_sum"):
        z_ = z.clone().requires_grad_(True)
        value = get_loss(name)(z_, y)
        value.backward()
        grads[name] = (value.detach(), z_.grad)
    torch.testing.assert_close(grads["mse_softmax_sum"][0], classes * grads["mse_softmax"][0])
    torch.testing.assert_close(grads["mse_softmax_sum"][1], classes * grads["mse_softmax"][1])
    info = loss_info("mse_softmax_sum")
    assert info.head == "softmax" and info.family == "mse_softmax_sum" and info.cap(classes) is None
    assert 1 / info.predicted_scale(classes) == pytest.approx(classes / 2)
    assert not same_function("mse_softmax_sum", "mse_softmax")  # C times the loss: another lr scale, another run


def test_registry_refuses_duplicates_and_names_unknown_losses():
    with pytest.raises(ValueError, match="already registered"):
        register_loss("cross_entropy")(lambda z, y: z.sum())
    with pytest.raises(ConfigError, match="unknown loss 'nope'.*cross_entropy"):
        get_loss("nope")


# --- what a loss declares about itself is what it does ------------------------------------------------

DECLARED_SCALE = [n for n in sorted(LOSSES) if LOSSES[n].grad_scale is not None]
DECLARED_CAP = [n for n in sorted(LOSSES) if LOSSES[n].softmax_cap is not None]
DECLARED_SAME = [n for n in sorted(LOSSES) if LOSSES[n].same_as is not None]


def mean_logit_gradient_norm(name: str, z: torch.Tensor, y: torch.Tensor) -> float:
    z = z.clone().requires_grad_(True)
    get_loss(name)(z, y).backward()
    return z.grad.norm(dim=1).mean().item()


@pytest.mark.parametrize("classes", [2, 3, 5, 10])
@pytest.mark.parametrize("name", DECLARED_SCALE)
def test_a_declared_gradient_scale_is_the_measured_one_at_uniform_outputs(name, classes):
    """grad_scale(C): the untrained network's mean logit-gradient norm over cross-entropy's, at z = 0."""
    z, y = torch.zeros(4 * classes, classes, dtype=torch.float64), torch.arange(4 * classes) % classes
    measured = mean_logit_gradient_norm(name, z, y) / mean_logit_gradient_norm("cross_entropy", z, y)
    assert measured == pytest.approx(LOSSES[name].predicted_scale(classes), rel=1e-4)


@pytest.mark.parametrize("classes", [3, 10])
@pytest.mark.parametrize("name", DECLARED_CAP)
def test_a_declared_softmax_cap_is_the_largest_probability_at_the_losses_minimum(name, classes):
    z = torch.zeros(classes, classes, dtype=torch.float64, requires_grad=True)
    y = torch.arange(classes)
    optimiser = torch.optim.LBFGS([z], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        optimiser.zero_grad()
        loss = get_loss(name)(z, y)
        loss.backward()
        return loss

    optimiser.step(closure)
    largest = z.detach().softmax(1).max(1).values
    torch.testing.assert_close(largest, torch.full_like(largest, LOSSES[name].cap(classes)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", DECLARED_SAME)
def test_losses_declared_the_same_function_give_the_same_values_and_gradients(name):
    family = LOSSES[name].family
    tol = max(TOLERANCE.get(name, 1e-9), TOLERANCE.get(family, 1e-9))
    for seed in range(3):
        z, y = batch(seed=seed)
        grads = []
        for loss in (name, family):
            z_ = z.clone().requires_grad_(True)
            value = get_loss(loss)(z_, y)
            value.backward()
            grads.append((value.detach(), z_.grad))
        torch.testing.assert_close(grads[0], grads[1], rtol=tol, atol=tol)


def test_a_loss_declares_only_known_properties_and_an_unregistered_one_declares_nothing():
    with pytest.raises(ValueError, match="head must be one of logits, softmax, log_softmax, not 'probs'"):
        register_loss("x_head", head="probs")
    with pytest.raises(ValueError, match="same_as='nope' is not a registered loss"):
        register_loss("x_same", same_as="nope")
    unknown = loss_info("never_registered")
    assert (unknown.head, unknown.family, unknown.predicted_scale(10), unknown.cap(10)) == \
        (None, "never_registered", None, None)
    assert same_function("softmax_nll", "logsoftmax_nll") and not same_function("cross_entropy", "mse_softmax")
    assert "x_head" not in LOSSES and "x_same" not in LOSSES


def test_reading_what_a_loss_is_needs_no_torch():
    """The report's kernels never train: the registry's properties import without torch."""
    code = ("import sys; import lossbench.losses as l; l.loss_info('mse_softmax').predicted_scale(10); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- a user's losses in a file of their own ------------------------------------------------------------

USER_FILE = '''
import torch.nn.functional as F
from lossbench.losses import register_loss

@register_loss("{name}", head="logits", grad_scale=lambda classes: 10.0)
def ten_times_ce(logits, labels):
    return 10 * F.cross_entropy(logits, labels)
'''


def test_a_loss_file_joins_the_registry_with_its_properties_once(tmp_path, clean_registry):
    path = tmp_path / "my_losses.py"
    path.write_text(USER_FILE.format(name="ten_x"))
    assert load_loss_files([path]) == {path.resolve(): ["ten_x"]}
    assert load_loss_files([str(path)]) == {path.resolve(): ["ten_x"]}  # loaded once: no "already registered"
    assert loss_info("ten_x").predicted_scale(10) == 10.0 and loss_info("ten_x").head == "logits"
    z, y = batch()
    torch.testing.assert_close(get_loss("ten_x")(z, y), 10 * F.cross_entropy(z, y))


@pytest.mark.parametrize("content, expected", [
    (None, "expected a Python file of losses, found nothing"),
    ("import no_such_module_here\n", "does not import: ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("x = 1 / 0\n", "does not import: ZeroDivisionError: division by zero"),
    ("", "registers no loss; expected at least one function "
                                                           "decorated with @register_loss"),
    (USER_FILE.format(name="cross_entropy"), "registers 'cross_entropy', a name already registered (in "),
    (USER_FILE.format(name="twice") + USER_FILE.format(name="twice"), "registers 'twice', a name already registered"),
], ids=["missing", "import-error", "raises", "registers-nothing", "taken-name", "twice-in-one-file"])
def test_a_bad_loss_file_is_one_error_naming_it_and_leaves_the_registry_as_it_was(tmp_path, clean_registry,
                                                                                 content, expected):
    path = tmp_path / "bad_losses.py"
    if content is not None:  # a good loss first: it must not stay registered either
        path.write_text((USER_FILE.format(name="fine_one") if content else "def f(z, y):\n    return z\n") + content)
    before = set(LOSSES)
    with pytest.raises(LossFileError) as error:
        load_loss_files([path], key="loss_files")
    assert str(error.value).startswith(f"loss_files: {path}: ") and expected in str(error.value)
    assert set(LOSSES) == before  # nothing of the bad file stays registered, not even its good losses


def test_a_folder_is_not_a_loss_file(tmp_path, clean_registry):
    with pytest.raises(LossFileError, match="expected a Python file of losses, found a folder"):
        load_loss_files([tmp_path])
