"""Every registered loss, parametrized over the registry: a new loss is covered automatically."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lossbench.config import ConfigError
from lossbench.losses import LOSSES, get_loss, register_loss
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


def test_registry_refuses_duplicates_and_names_unknown_losses():
    with pytest.raises(ValueError, match="already registered"):
        register_loss("cross_entropy")(lambda z, y: z.sum())
    with pytest.raises(ConfigError, match="unknown loss 'nope'.*cross_entropy"):
        get_loss("nope")
