from __future__ import annotations

import torch

from lossbench.model import MLP


def test_default_mlp_is_the_notebook_network():
    model = MLP()
    assert [(m.in_features, m.out_features) for m in model.linears] == [(784, 1200), (1200, 600), (600, 300), (300, 10)]
    assert sum(p.numel() for p in model.parameters()) == 784 * 1200 + 1200 + 1200 * 600 + 600 + 600 * 300 + 300 + 3010


def test_forward_flattens_images_and_returns_logits():
    model = MLP(hidden=(32,))
    assert model(torch.rand(5, 28, 28)).shape == (5, 10)
    assert model(torch.rand(5, 784)).shape == (5, 10)
