"""The network every loss trains: an MLP 784-1200-600-300-10 with ReLU (hidden widths configurable)."""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    """Flattened image in, raw logits out; the loss owns the output head."""

    def __init__(self, in_features: int = 784, hidden: tuple[int, ...] = (1200, 600, 300), classes: int = 10):
        super().__init__()
        widths = (in_features, *hidden)
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], classes))
        self.net = nn.Sequential(*layers)

    @property
    def linears(self) -> list[nn.Linear]:
        """The weight layers, input to output (their gradient norms are logged per epoch)."""
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))
