"""Benchmark training against the teaching notebook's loop: ``lossbench bench``.

In one process on the current device, over ``--repeats`` runs each, it times
  notebook   the notebook's loop: TensorDataset + random_split + DataLoader(shuffle=True),
             batches copied to the device one by one;
  project    lossbench's own training path (train(); its train_seconds: steps and per-step
             statistics, evaluation excluded), eager;
  graph      the same with the CUDA-graph step (CUDA only);
  floor      the bare step (forward, backward, SGD) of a full batch captured in one CUDA graph
             and replayed, nothing else (CUDA only): what the hardware allows.
Each runs the same data (5 epochs of 10,000 images by default). It prints medians and
ratios to the notebook loop; ``--json PATH`` writes them with device and versions.
``--startup`` also times process start-up, like for like on the bench's device: a bare process that
imports torch and, on CUDA, starts the device (context, allocator, cuBLAS: what a first step needs)
against ``lossbench train`` from process start to its first step. ``--packed N`` also trains seeds
0..N-1 together (``lossbench train-seeds``; CUDA graph on CUDA) once and reports its
training seconds, its wall time (evaluation and set-up included) and the per-seed share
against the project path's median; with ``--packed-lrs LR ...`` it packs the grid LRS x seeds
0..N-1 instead (the learning-rate study of one loss in one job, each run with its own lr), and
reports how many runs diverged and the mean test accuracy per lr.

``--floor RESULTS`` times nothing: from a finished pipeline's results folder (results/mnist) it
reads the gathered tables, Snakemake's benchmarks/ and its newest log, and says where the time
went against the training-step floor (every run's epochs at one thread's epoch time, over the cores).
"""

from __future__ import annotations

import json
import logging
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

from . import provenance
from .config import ConfigError, TrainConfig
from .devices import device_name, job_cores, resolve_device, sync
from .errors import LossbenchError
from .losses import get_loss
from .model import MLP
from .train import SGD, capture_cuda_graph, evaluate, make_split, train

log = logging.getLogger(__name__)


def notebook_loop(data: dict, cfg: TrainConfig, device: torch.device) -> tuple[float, float]:
    """The notebook's way: (train seconds, test accuracy)."""
    torch.manual_seed(cfg.seed)
    n = cfg.train_size + cfg.val_size
    x = data["train_images"][:n].reshape(n, -1).float() / 256
    dataset = TensorDataset(x, data["train_labels"][:n])
    train_set, _ = random_split(dataset, [cfg.train_size, cfg.val_size])
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True)
    model = MLP(x.shape[1], cfg.hidden).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    loss_fn = get_loss(cfg.loss)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(cfg.epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    sync(device)
    seconds = time.perf_counter() - t0
    x_test = (data["test_images"].reshape(len(data["test_images"]), -1).float() / 256).to(device)
    return seconds, evaluate(model, x_test, data["test_labels"].to(device))["accuracy"]


def graph_floor(data: dict, cfg: TrainConfig, device: torch.device) -> tuple[float, float]:
    """Bare SGD steps replayed from one CUDA graph: (train seconds, test accuracy)."""
    torch.manual_seed(cfg.seed)
    split = make_split(data, cfg, torch.Generator().manual_seed(cfg.seed), device)
    model = MLP(split.x_train.shape[1], cfg.hidden).to(device)
    optimizer = SGD(model.parameters(), lr=cfg.lr)
    loss_fn = get_loss(cfg.loss)
    idx = torch.zeros(cfg.batch_size, dtype=torch.long, device=device)

    def step():
        loss_fn(model(split.x_train[idx]), split.y_train[idx]).backward()
        optimizer.step()

    graph = capture_cuda_graph(step, model, optimizer)
    n = cfg.train_size - cfg.train_size % cfg.batch_size
    generator = torch.Generator().manual_seed(cfg.seed)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(cfg.epochs):
        order = torch.randperm(cfg.train_size, generator=generator).to(device)
        for start in range(0, n, cfg.batch_size):
            idx.copy_(order[start : start + cfg.batch_size])
            graph.replay()
    sync(device)
    return time.perf_counter() - t0, evaluate(model, split.x_test, split.y_test)["accuracy"]


# What a bare process does before it could train: import torch and, on CUDA, start the device (its context
# and cuBLAS, as a first step does), so that it compares like for like with lossbench train's start-up.
BARE_START = """
import sys, time, torch
if sys.argv[1].startswith("cuda"):
    device = torch.device(sys.argv[1])
    a = torch.ones(64, 64, device=device)
    (a @ a).sum().item()  # the context, the allocator and cuBLAS's handle, as a first training step needs
"""


def bare_startup_command(device: str) -> list[str]:
    """The bare process ``time_startup`` times against ``lossbench train``'s start-up on ``device``."""
    return [sys.executable, "-c", BARE_START, device]


def time_startup(repeats: int, data_path: str, device: str = "cpu") -> dict:
    """Seconds from process start to ready, like for like on ``device``: a bare process that imports torch
    and (on CUDA) starts the device, against ``lossbench train --device device`` up to its first step."""
    bare, train_startup = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(bare_startup_command(device), check=True)
        bare.append(time.perf_counter() - t0)
    for seed in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:  # `python -m`: works without the console script too
            subprocess.run([sys.executable, "-m", "lossbench.cli", "train", "--variant", "startup",
                            "--loss", "cross_entropy", "--seed", str(seed), "--device", device,
                            "--epochs", "1", "--train-size", "200", "--val-size", "100", "--data", data_path,
                            "--out-dir", tmp], check=True, capture_output=True)
            train_startup.append(json.loads((Path(tmp) / "metrics.json").read_text())["startup_seconds"])
    return {
        "device": device,
        "bare": "import torch" + (" and start CUDA (context, allocator, cuBLAS)" if device.startswith("cuda") else ""),
        "import_torch_seconds": statistics.median(bare),
        "train_startup_seconds": statistics.median(train_startup),
        "startup_ratio": statistics.median(train_startup) / statistics.median(bare),
    }


def run(data_path: str, loss: str = "cross_entropy", repeats: int = 3, epochs: int = 5, device: str = "auto",
        threads: int | None = None, startup: bool = False, packed: int = 0,
        packed_lrs: list[float] | None = None, sizes: dict | None = None) -> dict:
    """The benchmark's figures. ``sizes``: TrainConfig fields (train_size, val_size, hidden, batch_size)
    in place of the defaults (tests/gpu/check.py's --cpu mode trains tiny networks)."""
    from .data import load

    for name, value, low in (("repeats", repeats, 1), ("epochs", epochs, 1), ("packed", packed, 0)):
        if not isinstance(value, int) or value < low:
            raise ConfigError(f"--{name}: expected an integer >= {low}, found {value!r}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads: expected an integer >= 1, found {threads!r}")
    data = load(data_path)
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(variant="bench", loss=loss, seed=0, epochs=epochs, device=str(dev),
                      threads=torch.get_num_threads(), **(sizes or {}))
    methods = {
        "notebook": lambda c: notebook_loop(data, c, dev),
        "project": lambda c: _project(data, replace(c, cuda_graph=False)),
    }
    if dev.type == "cuda":
        methods["graph"] = lambda c: _project(data, replace(c, cuda_graph=True))
        methods["floor"] = lambda c: graph_floor(data, c, dev)
    timings: dict[str, list[float]] = {name: [] for name in methods}
    accuracy: dict[str, list[float]] = {name: [] for name in methods}
    for seed in range(repeats + 1):  # round 0 warms up (allocator, kernels) and is not counted
        for name, method in methods.items():
            seconds, acc = method(replace(cfg, seed=seed))
            if seed > 0:
                timings[name].append(seconds)
                accuracy[name].append(acc)
                log.info("%-8s seed %d: %.3f s, test accuracy %.4f", name, seed, seconds, acc)
    medians = {name: statistics.median(v) for name, v in timings.items()}
    best = "graph" if "graph" in medians else "project"
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": device_name(dev), "loss": loss, "epochs": epochs, "repeats": repeats,
        "train_size": cfg.train_size, "batch_size": cfg.batch_size, "threads": torch.get_num_threads(),
        "seconds": timings, "median_seconds": medians,
        "test_accuracy_mean": {name: statistics.fmean(v) for name, v in accuracy.items()},
        "ratio_to_notebook": medians[best] / medians["notebook"],
        "ratios_to_notebook": {name: m / medians["notebook"] for name, m in medians.items()},
        "project_method": best,
        "versions": {k: v for k, v in provenance.collect(device_name(dev)).items() if k != "argv"},
    }
    if "floor" in medians:
        result["ratio_to_floor"] = medians[best] / medians["floor"]
    if packed:
        result["packed"] = time_packed(data, replace(cfg, cuda_graph=dev.type == "cuda"), packed, medians[best],
                                       packed_lrs)
    if startup:
        result["startup"] = time_startup(repeats, data_path, str(dev))
    return result


def time_packed(data: dict, cfg: TrainConfig, n_seeds: int, single_seconds: float,
                lrs: list[float] | None = None) -> dict:
    """One packed run of seeds 0..n-1, or of the grid ``lrs`` x seeds 0..n-1 (after the other methods
    warmed the device up)."""
    from .packed import grid_configs, train_seeds

    seeds = list(range(n_seeds))
    configs = [replace(cfg, seed=s) for s in seeds] if lrs is None else grid_configs(cfg, lrs, seeds)
    t0 = time.perf_counter()
    runs = train_seeds(configs, data)
    wall = time.perf_counter() - t0
    train_seconds = sum(m["train_seconds"] for m in runs)  # each run's share of the packed epochs
    finite = [m for m in runs if m["status"] == "ok"]
    accuracies = [m["test_accuracy"] for m in finite]
    result = {
        "seeds": n_seeds, "runs": len(runs), "diverged": len(runs) - len(finite),
        "train_seconds": train_seconds, "wall_seconds": wall,
        "per_seed_train_seconds": train_seconds / len(runs),
        "per_seed_ratio_to_project": train_seconds / len(runs) / single_seconds,
        "test_accuracy_mean": statistics.fmean(accuracies) if accuracies else float("nan"),
        "test_accuracy_sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
    }
    if lrs is not None:
        result["lrs"] = list(lrs)
        by_lr = {str(lr): [m["test_accuracy"] for m in finite if m["config"]["lr"] == lr] for lr in lrs}
        result["test_accuracy_by_lr"] = {lr: statistics.fmean(acc) if acc else None for lr, acc in by_lr.items()}
    return result


def _project(data: dict, cfg: TrainConfig) -> tuple[float, float]:
    metrics = train(cfg, data)
    return metrics["train_seconds"], metrics["test_accuracy"]


def format_table(result: dict) -> str:
    lines = [f"device: {result['device']}, loss {result['loss']}, {result['epochs']} epochs x "
             f"{result['train_size']} images, batch {result['batch_size']}, {result['repeats']} repeats",
             f"{'method':<10}{'median s':>10}{'x notebook':>12}{'test acc':>10}"]
    for name, median in result["median_seconds"].items():
        lines.append(f"{name:<10}{median:>10.3f}{result['ratios_to_notebook'][name]:>12.2f}"
                     f"{result['test_accuracy_mean'][name]:>10.4f}")
    lines.append(f"ratio_to_notebook ({result['project_method']}): {result['ratio_to_notebook']:.3f}")
    if "ratio_to_floor" in result:
        lines.append(f"ratio_to_floor: {result['ratio_to_floor']:.3f}")
    if "packed" in result:
        p = result["packed"]
        what = f"{len(p['lrs'])} lrs x {p['seeds']} seeds = {p['runs']} runs" if "lrs" in p else f"{p['seeds']} seeds"
        lines.append(f"packed {what}: training {p['train_seconds']:.2f} s, wall {p['wall_seconds']:.2f} s "
                     f"(evaluation included); per run {p['per_seed_train_seconds']:.3f} s = "
                     f"{p['per_seed_ratio_to_project']:.2f} x {result['project_method']}; test accuracy "
                     f"{p['test_accuracy_mean']:.4f} +- {p['test_accuracy_sd']:.4f}"
                     + (f" over the {p['runs'] - p['diverged']} runs that did not diverge" if "lrs" in p else ""))
        if "lrs" in p:
            lines.append("  mean test accuracy by lr (diverged runs left out): " + ", ".join(
                f"{lr}: {'diverged' if acc is None else f'{acc:.4f}'}" for lr, acc in p["test_accuracy_by_lr"].items()))
    if "startup" in result:
        s = result["startup"]
        lines.append(f"start-up on {s['device']}: {s['bare']} {s['import_torch_seconds']:.2f} s, "
                     f"lossbench train to first step {s['train_startup_seconds']:.2f} s, "
                     f"ratio {s['startup_ratio']:.2f}")
    return "\n".join(lines)


def main(args) -> None:
    if getattr(args, "floor", None):
        result = step_floor(args.floor)
        print(format_floor(result))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return
    result = run(args.data, args.loss, args.repeats, args.epochs, args.device, args.threads, args.startup,
                 args.packed, args.packed_lrs)
    print(format_table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


# --- lossbench bench --floor: where a finished pipeline's time went against its training-step floor ------------

# The gathered run tables of a dataset's results, by prefix: the sweep, long-horizon runs and the studies. The
# probe's run has no run table: its epochs are read from tables/probe.csv (PROBE_TABLE).
RUN_TABLES = ("", "horizon_", "lr_study_", "classes_study_", "optimizer_study_")
PROBE_TABLE = "probe.csv"
# A Snakemake log's job timestamp: [Sat Dec  5 22:04:10 2026]
LOG_TIME = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)


class FloorError(LossbenchError):
    """A results folder the floor cannot be computed from (no gathered tables)."""


def pipeline_seconds(log_text: str) -> float | None:
    """Seconds from a Snakemake log's first job timestamp to its last (None with fewer than two)."""
    times = [datetime.strptime(" ".join(t.split()), "%a %b %d %H:%M:%S %Y") for t in LOG_TIME.findall(log_text)]
    return (max(times) - min(times)).total_seconds() if len(times) > 1 else None


def step_floor(results: str | Path, log: str | Path | None = None) -> dict:
    """Where a finished pipeline's time went, against its training-step floor, from what it wrote.

    ``results`` is a dataset's results folder (results/mnist): its gathered run tables (``RUN_TABLES``:
    tables/runs.csv and epochs.csv, and each study's where present) and, two levels up in the workflow's
    folder, Snakemake's benchmarks/<dataset>/ (each training job's seconds) and .snakemake/log/ (the newest
    log, or ``log``: the pipeline's first and last job). The floor: every run's epochs times one epoch's step
    time at one thread, over the job's cores; the probe's runs (tables/probe.csv) too, at the sweep's epoch time.
    An epoch's step time is its table's own (the studies' epochs differ: the classes study's are half the images,
    Adam's step costs more than SGD's): the median process-CPU seconds of the table's training epochs of runs
    that trained with one thread; for a table without such runs, the median of the one-thread epochs of every
    table with the same optimiser (then of every table); wall seconds where CPU seconds are not recorded.
    """
    results = Path(results)
    workdir, dataset = results.parent.parent, results.name
    runs, epochs = [], []
    for prefix in RUN_TABLES:
        path = results / "tables" / f"{prefix}runs.csv"
        if path.exists():
            runs.append(pd.read_csv(path).assign(table=prefix.rstrip("_") or "sweep"))
            epochs.append(pd.read_csv(results / "tables" / f"{prefix}epochs.csv"))
    if not runs:
        raise FloorError(f"{results}/tables/runs.csv: not found; expected the results folder of a finished "
                         "pipeline (e.g. results/mnist, after snakemake)")
    # a study point the sweep trains is read from the sweep's run folder: one run, in two tables (the sweep's)
    runs = pd.concat(runs, ignore_index=True).drop_duplicates("path")
    runs["optimizer"] = runs["optimizer"].fillna("sgd") if "optimizer" in runs else "sgd"
    runs["one_thread"] = runs["device_name"].astype(str).str.contains(r"\b1 threads?\)", regex=True)
    keys = ["variant", "seed", "config_hash"]
    epochs = pd.concat(epochs, ignore_index=True).drop_duplicates([*keys, "epoch"])
    trained = epochs[epochs["epoch"] >= 1].merge(  # epoch 0 is the evaluation before any step
        runs[[*keys, "table", "optimizer", "one_thread"]].drop_duplicates(keys), on=keys)
    column = "epoch_cpu_seconds" if trained.get("epoch_cpu_seconds", pd.Series(dtype=float)).notna().any() \
        else "epoch_seconds"
    single = trained[trained["one_thread"]] if trained["one_thread"].any() else trained
    by_table = {}
    for table, its_runs in runs.groupby("table", sort=False):
        own = single[single["table"] == table]
        same_optimizer = single[single["optimizer"].isin(set(its_runs["optimizer"]))]
        seconds = float((own if len(own) else same_optimizer if len(same_optimizer) else single)[column].median())
        by_table[table] = {"epochs": int(its_runs["epochs_run"].sum()), "epoch_step_seconds": seconds}
    probe = results / "tables" / PROBE_TABLE
    if probe.exists() and "sweep" in by_table:
        # each probed run trains the sweep's network with the sweep's settings (its own loss and lr) for its epochs,
        # up to its last point (the probe stops at a non-finite gradient): at the sweep's epoch time
        points = pd.read_csv(probe)
        if len(points):
            trained = int(sum(math.ceil(e) for e in points.groupby(["loss", "seed", "lr"])["epoch"].max()))
            by_table["probe"] = {"epochs": trained, "epoch_step_seconds": by_table["sweep"]["epoch_step_seconds"]}
    cores = int(runs["cpus"].median()) if runs.get("cpus", pd.Series(dtype=float)).notna().any() else job_cores()
    floor = sum(t["epochs"] * t["epoch_step_seconds"] for t in by_table.values()) / cores
    benchmarks = sorted((workdir / "benchmarks" / dataset).rglob("*.tsv"))
    job_seconds = sum(float(pd.read_csv(path, sep="\t")["s"].iloc[-1]) for path in benchmarks)
    logs = [Path(log)] if log else sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    wall = pipeline_seconds(logs[-1].read_text()) if logs else None
    steps = float(runs["train_seconds"].sum())
    return {
        "results": str(results), "runs": len(runs), "runs_by_table": runs["table"].value_counts(sort=False).to_dict(),
        "epochs": sum(t["epochs"] for t in by_table.values()), "by_table": by_table,
        "epoch_seconds_from": column, "cores": cores, "floor_seconds": floor,
        "pipeline_seconds": wall, "pipeline_log": str(logs[-1]) if logs else None,
        "pipeline_over_floor": wall / floor if wall and floor else None,
        "training_jobs": len(benchmarks), "training_job_seconds": job_seconds,
        "step_seconds": steps, "eval_seconds": float(runs["eval_seconds"].sum()),
        "outside_steps_per_run": (job_seconds - steps) / len(runs) if benchmarks else None,
    }


def format_floor(r: dict) -> str:
    """The floor's figures as lines a reader can check."""
    terms = " + ".join(f"{table} {t['epochs']} x {t['epoch_step_seconds']:.3f} s" for table, t in r["by_table"].items())
    lines = [f"{r['runs']} runs ({', '.join(f'{k} {v}' for k, v in r['runs_by_table'].items())}), "
             f"{r['epochs']} training epochs",
             f"floor: ({terms}) / {r['cores']} cores = {r['floor_seconds']:.1f} s (each table's epochs x its "
             f"median {r['epoch_seconds_from']} of an epoch at one thread)"]
    if r["pipeline_seconds"] is not None:
        lines.append(f"pipeline: {r['pipeline_seconds']:.0f} s, first to last job ({r['pipeline_log']}) = "
                     f"{r['pipeline_over_floor']:.2f}x the floor")
    else:
        lines.append("pipeline: no Snakemake log with job times found (.snakemake/log/)")
    if r["training_jobs"]:
        lines.append(f"training jobs: {r['training_jobs']}, {r['training_job_seconds']:.1f} s of process wall in all "
                     f"(benchmarks/), of which training steps {r['step_seconds']:.1f} s "
                     f"({r['step_seconds'] / r['training_job_seconds']:.0%}) and evaluation {r['eval_seconds']:.1f} s;"
                     f" {r['outside_steps_per_run']:.1f} s per run outside the steps (start-up, epoch 0, "
                     "evaluation, writing)")
    return "\n".join(lines)
