"""The loss registry: the one place where losses are defined.

Every loss maps the network's raw logits ``[n, C]`` and integer labels ``[n]`` to a scalar.
The output head (softmax, log-softmax) and the target encoding (one-hot) live inside the
loss, so there is one model and one accuracy (argmax of the logits). Applying softmax
inside the loss gives exactly the gradients of the notebook's model-with-Softmax-layer.

A loss must not synchronise with the host (no ``.item()``, no data-dependent shapes): on
CUDA the training step, loss included, is captured once in a CUDA graph and replayed.
tests/test_losses.py checks that on CPU by running every loss on meta tensors.

Add a loss: decorate one function here with ``@register_loss("name")`` and put the name
under ``losses:`` in config/config.yaml. tests/test_losses.py covers it automatically.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .config import ConfigError

LossFn = Callable[[Tensor, Tensor], Tensor]
LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def decorator(fn: LossFn) -> LossFn:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is already registered")
        LOSSES[name] = fn
        return fn

    return decorator


def get_loss(name: str) -> LossFn:
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss {name!r}; registered: {', '.join(sorted(LOSSES))}") from None


def one_hot(labels: Tensor, like: Tensor) -> Tensor:
    """One-hot targets shaped and typed like ``like``, by comparison with the class indices:
    not F.one_hot, whose range checks read the labels back to the host (on CPU; on CUDA when
    num_classes is not given, which a captured CUDA graph cannot do), and not an in-place
    scatter, which torch.func.vmap (seed packing) runs as a slow per-seed loop. Exactly 0 and
    1 either way."""
    classes = torch.arange(like.shape[1], device=labels.device)
    return (labels[:, None] == classes).to(like.dtype)


@register_loss("softmax_nll")
def softmax_nll(logits: Tensor, labels: Tensor) -> Tensor:
    # The notebook's hand-written NLL on softmax outputs; 1e-7 guards log(0).
    p = torch.softmax(logits, dim=1)
    return -torch.log(1e-7 + p[torch.arange(len(labels), device=labels.device), labels]).mean()


@register_loss("logsoftmax_nll")
def logsoftmax_nll(logits: Tensor, labels: Tensor) -> Tensor:
    return nn.NLLLoss()(nn.LogSoftmax(dim=1)(logits), labels)


@register_loss("cross_entropy")
def cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    return nn.CrossEntropyLoss()(logits, labels)


@register_loss("mse_softmax")
def mse_softmax(logits: Tensor, labels: Tensor) -> Tensor:
    # nn.MSELoss averages over n*C entries: dL/dz = (2/C) J (p - y), J = diag(p) - p p^T.
    return nn.MSELoss()(torch.softmax(logits, dim=1), one_hot(labels, logits))


@register_loss("mse_logits")
def mse_logits(logits: Tensor, labels: Tensor) -> Tensor:
    # Square loss on raw logits (Hui & Belkin 2021): no softmax, so no saturation.
    return nn.MSELoss()(logits, one_hot(labels, logits))
