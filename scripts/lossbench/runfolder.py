"""A run's folder: what one (variant, seed) run writes, and how its weights are read back.

    metrics.json     final metrics, status, timings, config + hash, provenance (written last)
    history.csv      one row per epoch (epoch 0: the untrained network)
    model.pt         the weights as a state dict
    predictions.csv  per test image: label, predicted label, its probability, the true class's

Every file is written atomically, metrics.json last: a folder with metrics.json is complete.
The predictions come from the weights as saved and reloaded, and their accuracy must equal
the trained network's test accuracy (the reload check), so model.pt provably holds the
network the metrics describe. Imports only torch.
"""

from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from .atomic import atomic_path

RUN_FILES = ("metrics.json", "history.csv", "model.pt", "predictions.csv")


def write_run(out_dir: str | os.PathLike, model: nn.Module, metrics: dict, history: list[dict],
              x_test: Tensor, y_test: Tensor) -> None:
    """Write the four files of a run into ``out_dir``; raise if the reloaded weights disagree."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "history.csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    reloaded = copy.deepcopy(model)  # same architecture, weights replaced by the saved ones
    reloaded.load_state_dict(load_state_dict(out_dir / "model.pt"))
    predictions = predict(reloaded, x_test, y_test)
    accuracy = sum(int(label == predicted) for label, predicted, _, _ in predictions) / len(predictions)
    if metrics["status"] == "ok" and accuracy != metrics["test_accuracy"]:
        raise RuntimeError(f"{out_dir / 'model.pt'}: reloaded weights give test accuracy {accuracy}, "
                           f"the trained network {metrics['test_accuracy']}")
    write_predictions(out_dir / "predictions.csv", predictions)
    with atomic_path(out_dir / "metrics.json") as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n")


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, y: Tensor) -> list[tuple[int, int, float, float]]:
    """Per image: (label, predicted label, its softmax probability, the true class's probability)."""
    p = torch.softmax(model(x), dim=1)
    confidence, predicted = p.max(dim=1)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    rows = torch.stack([y.double(), predicted.double(), confidence.double(), p_true.double()], 1).cpu().tolist()
    return [(int(label), int(pred), conf, true) for label, pred, conf, true in rows]


def write_predictions(path: Path, predictions: list[tuple[int, int, float, float]]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["index", "label", "predicted", "confidence", "p_true"])
            writer.writerows([i, label, pred, f"{conf:.6g}", f"{true:.6g}"]
                             for i, (label, pred, conf, true) in enumerate(predictions))


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load saved weights without unpickling code (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)
