"""The loss registry: the one place where losses are defined, and what each one is.

Every loss maps the network's raw logits ``[n, C]`` and integer labels ``[n]`` to a scalar.
The output head (softmax, log-softmax) and the target encoding (one-hot) live inside the
loss, so there is one model and one accuracy (argmax of the logits). Applying softmax
inside the loss gives exactly the gradients of the notebook's model-with-Softmax-layer.

A loss must not synchronise with the host (no ``.item()``, no data-dependent shapes): on
CUDA the training step, loss included, is captured once in a CUDA graph and replayed.
tests/test_losses.py checks that on CPU by running every loss on meta tensors.

What the report needs to know about a loss is declared beside its function, every property
optional (``register_loss``'s keywords, documented on ``Loss``): its output head, which other
registered loss is the same function, the largest softmax probability its minimiser can give
(capped outputs), and, only where there is theory, its initial logit-gradient scale relative to
cross-entropy as a function of the number of classes C. A property a loss does not declare is
measured by the report and said as measured, never filled in from another loss. Reading the
properties needs no torch (the report's kernels never train): torch is imported by the loss
functions when they run.

Add a loss: decorate one function with ``@register_loss("name", ...)``, here or in a file of your
own that ``load_loss_files`` imports (config ``loss_files:``), and put the name under ``losses:`` in
config/config.yaml. tests/test_losses.py covers it automatically.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ConfigError

if TYPE_CHECKING:
    from torch import Tensor

LossFn = Callable[["Tensor", "Tensor"], "Tensor"]
HEADS = ("logits", "softmax", "log_softmax")


@dataclass(frozen=True)
class Loss:
    """A registered loss: its function and what is known about it. Every property is optional.

    - ``head``: what the loss reads from the logits z: ``"logits"`` (z itself), ``"softmax"``
      (p = softmax(z)) or ``"log_softmax"``.
    - ``same_as``: another registered loss that is the same function of (z, y) (up to guards such
      as a 1e-7 inside a log): its runs are the same experiment, never ranked against each other.
    - ``softmax_cap(C)``: the largest softmax probability the loss's minimiser gives with C classes,
      for a loss whose targets cap it (squared error on logits pulls z to the one-hot 0/1:
      e / (e + C - 1)). Such a loss is never "confidently wrong" (p > 0.9) by construction.
    - ``grad_scale(C)``: theory for the mean per-sample logit-gradient norm at the untrained network
      (uniform outputs, z = 0) over cross-entropy's, as a function of C. Absent: no theory; the
      report measures the ratio and says it is measured.
    """

    name: str
    fn: LossFn | None = None
    head: str | None = None
    same_as: str | None = None
    softmax_cap: Callable[[int], float] | None = None
    grad_scale: Callable[[int], float] | None = None

    @property
    def family(self) -> str:
        """The name every registered form of this function shares (``same_as``, else its own)."""
        return self.same_as or self.name

    def predicted_scale(self, classes: int) -> float | None:
        """Declared initial logit-gradient scale over cross-entropy's with ``classes`` classes, or None."""
        return None if self.grad_scale is None else float(self.grad_scale(classes))

    def cap(self, classes: int) -> float | None:
        """Declared largest softmax probability of the loss's minimiser, or None (not capped, or not declared)."""
        return None if self.softmax_cap is None else float(self.softmax_cap(classes))


LOSSES: dict[str, Loss] = {}


class DuplicateLossError(ValueError):
    def __init__(self, name: str, where: str):
        super().__init__(f"loss {name!r} is already registered (in {where})")
        self.name, self.where = name, where


def register_loss(name: str, *, head: str | None = None, same_as: str | None = None,
                  softmax_cap: Callable[[int], float] | None = None,
                  grad_scale: Callable[[int], float] | None = None) -> Callable[[LossFn], LossFn]:
    """Register the decorated function under ``name`` with what is known about it (see ``Loss``)."""
    if head is not None and head not in HEADS:
        raise ValueError(f"loss {name!r}: head must be one of {', '.join(HEADS)}, not {head!r}")
    if same_as is not None and same_as not in LOSSES:
        raise ValueError(f"loss {name!r}: same_as={same_as!r} is not a registered loss (register it first)")

    def decorator(fn: LossFn) -> LossFn:
        if name in LOSSES:
            raise DuplicateLossError(name, _origin(LOSSES[name].fn))
        family = LOSSES[same_as].family if same_as else None
        LOSSES[name] = Loss(name, fn, head, family, softmax_cap, grad_scale)
        return fn

    return decorator


def _origin(fn) -> str:
    """The file a loss function was written in (its module's name for a callable without code)."""
    code = getattr(fn, "__code__", None)
    return code.co_filename if code is not None else getattr(fn, "__module__", repr(fn))


def get_loss(name: str) -> LossFn:
    try:
        return LOSSES[name].fn
    except KeyError:
        raise ConfigError(f"unknown loss {name!r}; registered: {', '.join(sorted(LOSSES))}") from None


def loss_info(name: str) -> Loss:
    """What is known about ``name``: its registered record, or one that declares nothing (a loss in
    the tables whose code is not registered in this process: everything about it is measured)."""
    return LOSSES.get(name, Loss(name))


def same_function(a: str, b: str) -> bool:
    """Whether two losses are declared to be the same function (a loss is the same as itself)."""
    return a == b or loss_info(a).family == loss_info(b).family


class LossFileError(ConfigError):
    """A loss file that cannot join the registry; the message names the file."""


LOADED_FILES: dict[Path, list[str]] = {}  # a user's loss file -> the names it registered (loaded once per process)


def load_loss_files(paths, key: str = "loss_files") -> dict[Path, list[str]]:
    """Import each of a user's loss files, whose ``@register_loss`` functions join the registry.

    A file loaded before in this process is not imported again (Snakemake, the CLI and a page may
    each ask). A file that does not exist, does not import, registers nothing, or registers a name
    already taken gives one ``LossFileError`` naming the file (``key`` names the setting it came
    from), and leaves the registry as it was before that file. Returns file -> names registered.
    """
    out = {}
    for given in paths:
        path = Path(given).expanduser().resolve()
        if path not in LOADED_FILES:
            LOADED_FILES[path] = _load_loss_file(path, given, key)
        out[path] = LOADED_FILES[path]
    return out


def loss_file_of(name: str) -> Path | None:
    """The user's loss file that registered ``name`` in this process, or None (a built-in loss)."""
    return next((path for path, names in LOADED_FILES.items() if name in names), None)


def _load_loss_file(path: Path, given, key: str) -> list[str]:
    where = f"{key}: {os.fspath(given)}" + ("" if os.fspath(given) == str(path) else f" ({path})")
    if not path.is_file():
        found = "a folder" if path.is_dir() else "nothing"
        raise LossFileError(f"{where}: expected a Python file of losses, found {found}")
    before = set(LOSSES)
    name = f"lossbench_user_losses_{len(LOADED_FILES)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        sys.modules[name] = module  # dataclasses and pickling look the module up by name
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - any failure of the user's file is theirs: one line naming it
        for added in set(LOSSES) - before:
            del LOSSES[added]
        sys.modules.pop(name, None)
        if isinstance(error, DuplicateLossError):
            raise LossFileError(f"{where}: registers {error.name!r}, a name already registered (in "
                                f"{error.where}); expected a name of its own") from None
        raise LossFileError(f"{where}: does not import: {type(error).__name__}: {error}") from error
    added = [loss for loss in LOSSES if loss not in before]
    if not added:
        raise LossFileError(f"{where}: registers no loss; expected at least one function decorated with "
                            "@register_loss(\"name\") (from lossbench.losses import register_loss)")
    return added


def one_hot(labels: Tensor, like: Tensor) -> Tensor:
    """One-hot targets shaped and typed like ``like``, by comparison with the class indices:
    not F.one_hot, whose range checks read the labels back to the host (on CPU; on CUDA when
    num_classes is not given, which a captured CUDA graph cannot do), and not an in-place
    scatter, which torch.func.vmap (seed packing) runs as a slow per-seed loop. Exactly 0 and
    1 either way."""
    import torch

    classes = torch.arange(like.shape[1], device=labels.device)
    return (labels[:, None] == classes).to(like.dtype)


def _mse_logits_scale(classes: int) -> float:
    # At z = 0: (2/C)·‖0 - y‖ = 2/C per sample, against cross-entropy's ‖1/C - y‖.
    return (2 / classes) / math.sqrt((1 - 1 / classes) ** 2 + (classes - 1) / classes**2)


@register_loss("cross_entropy", head="logits", grad_scale=lambda classes: 1.0)
def cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    from torch import nn

    return nn.CrossEntropyLoss()(logits, labels)


@register_loss("softmax_nll", head="softmax", same_as="cross_entropy", grad_scale=lambda classes: 1.0)
def softmax_nll(logits: Tensor, labels: Tensor) -> Tensor:
    # The notebook's hand-written NLL on softmax outputs; 1e-7 guards log(0).
    import torch

    p = torch.softmax(logits, dim=1)
    return -torch.log(1e-7 + p[torch.arange(len(labels), device=labels.device), labels]).mean()


@register_loss("logsoftmax_nll", head="log_softmax", same_as="cross_entropy", grad_scale=lambda classes: 1.0)
def logsoftmax_nll(logits: Tensor, labels: Tensor) -> Tensor:
    from torch import nn

    return nn.NLLLoss()(nn.LogSoftmax(dim=1)(logits), labels)


@register_loss("mse_softmax", head="softmax", grad_scale=lambda classes: 2 / classes**2)
def mse_softmax(logits: Tensor, labels: Tensor) -> Tensor:
    # nn.MSELoss averages over n*C entries: dL/dz = (2/C) J (p - y), J = diag(p) - p p^T; at p = 1/C
    # J (p - y) = (p - y)/C, so the gradient is (2/C^2) times cross-entropy's.
    import torch
    from torch import nn

    return nn.MSELoss()(torch.softmax(logits, dim=1), one_hot(labels, logits))


@register_loss("mse_softmax_sum", head="softmax", grad_scale=lambda classes: 2 / classes)
def mse_softmax_sum(logits: Tensor, labels: Tensor) -> Tensor:
    # Squared error on softmax summed over the C classes, mean over samples: nn.MSELoss(reduction="sum") per
    # sample, C times mse_softmax. dL/dz = 2 J (p - y) per sample; at p = 1/C that is (2/C) times
    # cross-entropy's, so its predicted lr factor is C/2 (mse_softmax's C^2/2 over C).
    import torch

    return ((torch.softmax(logits, dim=1) - one_hot(labels, logits)) ** 2).sum(dim=1).mean()


@register_loss("mse_logits", head="logits", grad_scale=_mse_logits_scale,
               softmax_cap=lambda classes: math.e / (math.e + classes - 1))
def mse_logits(logits: Tensor, labels: Tensor) -> Tensor:
    # Square loss on raw logits (Hui & Belkin 2021): no softmax, so no saturation; its minimiser puts
    # the logits at the 0/1 targets, where the softmax's largest entry is e / (e + C - 1).
    from torch import nn

    return nn.MSELoss()(logits, one_hot(labels, logits))
