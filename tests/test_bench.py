"""The benchmark command on tiny data (figures are checked for shape, never for speed)."""

from __future__ import annotations

import json

import pytest
import torch

from lossbench import bench, cli


def test_bench_times_notebook_and_project_paths_and_writes_json(tiny_data, tmp_path, monkeypatch, capsys):
    torch.save(tiny_data, tmp_path / "data.pt")
    small = dict(train_size=200, val_size=50, hidden=(32,))
    original = bench.TrainConfig

    def tiny_config(**kwargs):
        return original(**{**kwargs, **small})

    monkeypatch.setattr(bench, "TrainConfig", tiny_config)
    assert cli.main(["bench", "--data", str(tmp_path / "data.pt"), "--repeats", "2", "--epochs", "1",
                     "--device", "cpu", "--packed", "3", "--json", str(tmp_path / "bench.json")]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert set(result["median_seconds"]) == {"notebook", "project"}  # no CUDA here: no graph, no floor
    assert len(result["seconds"]["notebook"]) == 2 and all(s > 0 for s in result["seconds"]["project"])
    assert result["ratio_to_notebook"] == result["median_seconds"]["project"] / result["median_seconds"]["notebook"]
    assert result["device"].startswith("cpu") and result["versions"]["torch"]
    packed = result["packed"]
    assert packed["seeds"] == 3 and packed["wall_seconds"] >= packed["train_seconds"] > 0
    assert packed["per_seed_ratio_to_project"] == pytest.approx(
        packed["train_seconds"] / 3 / result["median_seconds"]["project"])
    out = capsys.readouterr().out
    assert "ratio_to_notebook (project)" in out and "packed 3 seeds: training" in out


def test_bench_times_a_packed_learning_rate_grid(tiny_data, tmp_path, monkeypatch, capsys):
    """--packed N --packed-lrs ...: the grid lrs x seeds 0..N-1 of one loss in one process, a diverging lr included."""
    torch.save(tiny_data, tmp_path / "data.pt")
    original = bench.TrainConfig
    monkeypatch.setattr(bench, "TrainConfig", lambda **kw: original(**{**kw, "train_size": 200, "val_size": 50,
                                                                       "hidden": (32,)}))
    assert cli.main(["bench", "--data", str(tmp_path / "data.pt"), "--repeats", "1", "--epochs", "1",
                     "--device", "cpu", "--packed", "2", "--packed-lrs", "0.1", "1", "1e30",
                     "--json", str(tmp_path / "bench.json")]) == 0
    packed = json.loads((tmp_path / "bench.json").read_text())["packed"]
    assert (packed["seeds"], packed["runs"], packed["diverged"], packed["lrs"]) == (2, 6, 2, [0.1, 1.0, 1e30])
    assert packed["test_accuracy_by_lr"]["1e+30"] is None and 0 < packed["test_accuracy_by_lr"]["0.1"] <= 1
    assert packed["per_seed_ratio_to_project"] == pytest.approx(
        packed["train_seconds"] / 6 / json.loads((tmp_path / "bench.json").read_text())["median_seconds"]["project"])
    out = capsys.readouterr().out
    assert "packed 3 lrs x 2 seeds = 6 runs: training" in out and "1e+30: diverged" in out


@pytest.mark.parametrize("extra, words", [
    (["--packed-lrs", "0.1"], "--packed-lrs: expected with --packed N"),
    (["--packed", "2", "--packed-lrs", "0.1", "0.1"], "--packed-lrs: expected distinct learning rates"),
])
def test_bench_refuses_a_packed_grid_it_cannot_run(tmp_path, capsys, extra, words):
    assert cli.main(["bench", "--data", str(tmp_path / "none.pt"), "--device", "cpu", *extra]) == cli.USAGE
    assert words in capsys.readouterr().err


def test_startup_compares_like_for_like_on_the_bench_device(monkeypatch, tmp_path):
    """Finding 10 of issue #21: on CUDA the bare process also starts the device (context, allocator, cuBLAS)
    as lossbench train does before its first step; the train is run on the same device."""
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        if "train" in argv:
            out = argv[argv.index("--out-dir") + 1]
            (tmp_path / "m.json").write_text(json.dumps({"startup_seconds": 2.0}))
            import shutil

            shutil.copy(tmp_path / "m.json", f"{out}/metrics.json")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    result = bench.time_startup(1, "data.pt", "cuda:1")
    bare, train = calls
    assert bare == bench.bare_startup_command("cuda:1") and "cuda" in bench.BARE_START and bare[-1] == "cuda:1"
    assert train[train.index("--device") + 1] == "cuda:1"
    assert result["device"] == "cuda:1" and "start CUDA" in result["bare"] and result["train_startup_seconds"] == 2.0
    assert "start CUDA" not in bench.time_startup(1, "data.pt", "cpu")["bare"]


def test_the_bare_start_runs_on_cpu():
    import subprocess
    import sys

    out = subprocess.run(bench.bare_startup_command("cpu"), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert bench.bare_startup_command("cpu")[0] == sys.executable


# --- bench --floor: a finished pipeline's time against its training-step floor ------------------------------

def write_tables(results, prefix, runs, epochs_per_run, epoch_cpu=2.0, threads=1, cpus=2, train_seconds=3.0,
                 from_sweep=()):
    """Gathered tables of ``runs`` (variant, seed) with ``epochs_per_run`` training epochs each; those in
    ``from_sweep`` are the sweep's run folders (a study point the sweep trains)."""
    import pandas as pd

    tables = results / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    rows, epochs = [], []
    for variant, seed in runs:
        key = {"variant": variant, "seed": seed, "config_hash": "h"}
        rows.append({**key, "epochs_run": epochs_per_run, "train_seconds": train_seconds, "eval_seconds": 0.5,
                     "cpus": cpus, "device_name": f"cpu ({cpus} cores, {threads} threads)",
                     "path": f"{results}/{'runs' if (variant, seed) in from_sweep else prefix}/{variant}/seed-{seed}"})
        epochs += [{**key, "epoch": e, "epoch_seconds": 9.0 if e else 0.0, "epoch_cpu_seconds": epoch_cpu if e else 0.0}
                   for e in range(epochs_per_run + 1)]
    pd.DataFrame(rows).to_csv(tables / f"{prefix}runs.csv", index=False)
    pd.DataFrame(epochs).to_csv(tables / f"{prefix}epochs.csv", index=False)


def test_the_floor_is_the_runs_epochs_at_one_threads_epoch_time_over_the_cores(tmp_path, capsys):
    results = tmp_path / "results" / "mnist"
    sweep = [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    write_tables(results, "", sweep, epochs_per_run=5, from_sweep=sweep)
    write_tables(results, "horizon_", [("a", 0)], epochs_per_run=20)
    # the study's runs: one read from the sweep (the same run folder: counted once), one trained for it
    write_tables(results, "lr_study_", [("a", 0), ("a_lr1", 0)], epochs_per_run=5, from_sweep=[("a", 0)])
    for i in range(6):  # Snakemake's benchmark of each training job: 10 s of process wall each
        bench_file = tmp_path / "benchmarks" / "mnist" / "train" / f"job{i}.tsv"
        bench_file.parent.mkdir(parents=True, exist_ok=True)
        bench_file.write_text("s\th:m:s\tmax_rss\n10.0\t0:00:10\t100\n")
    log = tmp_path / ".snakemake" / "log" / "2026-12-05T220409.000000.snakemake.log"
    log.parent.mkdir(parents=True)
    log.write_text("Building DAG of jobs...\n[Sat Dec  5 22:04:10 2026]\nlocalrule prepare_data:\n"
                   "[Sat Dec  5 22:05:00 2026]\nrule train:\n[Sat Dec  5 22:05:10 2026]\nFinished job 0.\n")
    r = bench.step_floor(results)
    assert r["runs"] == 6 and r["runs_by_table"] == {"sweep": 4, "horizon": 1, "lr_study": 1}
    assert r["epochs"] == 4 * 5 + 20 + 5  # CPU seconds, epoch 0 left out
    assert r["by_table"] == {"sweep": {"epochs": 20, "epoch_step_seconds": 2.0},
                             "horizon": {"epochs": 20, "epoch_step_seconds": 2.0},
                             "lr_study": {"epochs": 5, "epoch_step_seconds": 2.0}}
    assert r["floor_seconds"] == 45 * 2.0 / 2 and r["cores"] == 2
    assert r["pipeline_seconds"] == 60 and r["pipeline_over_floor"] == 60 / 45
    assert r["training_jobs"] == 6 and r["training_job_seconds"] == 60 and r["step_seconds"] == 18
    assert r["outside_steps_per_run"] == (60 - 18) / 6
    assert cli.main(["bench", "--floor", str(results), "--json", str(tmp_path / "floor.json")]) == 0
    out = capsys.readouterr().out
    assert ("floor: (sweep 20 x 2.000 s + horizon 20 x 2.000 s + lr_study 5 x 2.000 s) / 2 cores = 45.0 s (each "
            "table's epochs x its median epoch_cpu_seconds of an epoch at one thread)") in out
    assert "pipeline: 60 s, first to last job" in out and "= 1.33x the floor" in out
    assert json.loads((tmp_path / "floor.json").read_text())["floor_seconds"] == 45.0


def test_the_floor_reads_one_thread_runs_only_and_says_when_no_log_is_there(tmp_path, capsys):
    results = tmp_path / "results" / "mnist"
    write_tables(results, "", [("a", 0)], epochs_per_run=4, epoch_cpu=1.0)
    write_tables(results, "horizon_", [("packed", 0)], epochs_per_run=4, epoch_cpu=8.0, threads=2)
    r = bench.step_floor(results)
    # the 2-thread run's epochs counted, at the one-thread epochs' time
    assert r["by_table"]["horizon"] == {"epochs": 4, "epoch_step_seconds": 1.0} and r["floor_seconds"] == 8 * 1.0 / 2
    assert r["pipeline_seconds"] is None and r["training_jobs"] == 0
    assert "pipeline: no Snakemake log" in bench.format_floor(r)


def test_each_study_counts_at_its_own_epoch_time_and_a_table_without_one_thread_runs_at_its_optimisers(tmp_path):
    """The studies' epochs cost what they cost: the classes study's (half the images) at its own median, the
    optimiser study's (Adam) at its own; a packed Adam table (no one-thread run) at the one-thread Adam
    epochs' time, never SGD's."""
    import pandas as pd

    results = tmp_path / "results" / "mnist"
    write_tables(results, "", [("a", 0), ("a", 1)], epochs_per_run=5, epoch_cpu=1.2)
    write_tables(results, "classes_study_", [("c2", 0), ("c3", 0), ("c5", 0)], epochs_per_run=1, epoch_cpu=0.6)
    write_tables(results, "optimizer_study_", [("adam", 0)], epochs_per_run=5, epoch_cpu=2.0)
    write_tables(results, "lr_study_", [("adam_lr1", 0), ("adam_lr2", 0)], epochs_per_run=3, epoch_cpu=9.0,
                 threads=4)
    for prefix, optimizer in (("", "sgd"), ("classes_study_", "sgd"), ("optimizer_study_", "adam"),
                              ("lr_study_", "adam")):
        path = results / "tables" / f"{prefix}runs.csv"
        pd.read_csv(path).assign(optimizer=optimizer).to_csv(path, index=False)
    r = bench.step_floor(results)
    assert r["by_table"] == {"sweep": {"epochs": 10, "epoch_step_seconds": 1.2},
                             "lr_study": {"epochs": 6, "epoch_step_seconds": 2.0},
                             "classes_study": {"epochs": 3, "epoch_step_seconds": 0.6},
                             "optimizer_study": {"epochs": 5, "epoch_step_seconds": 2.0}}
    assert r["floor_seconds"] == pytest.approx((10 * 1.2 + 6 * 2.0 + 3 * 0.6 + 5 * 2.0) / 2)
    assert r["epochs"] == 24 and r["runs"] == 8


def test_the_probes_training_counts_in_the_floor_at_the_sweeps_epoch_time(tmp_path, capsys):
    """The probe trains the sweep's network for its epochs (tables/probe.csv: a point every few steps, the last at
    its last step): those epochs are training steps of the pipeline, at the sweep's epoch time; a probe that
    stopped at a non-finite gradient counts the epochs it began."""
    import pandas as pd

    results = tmp_path / "results" / "mnist"
    write_tables(results, "", [("a", 0), ("a", 1)], epochs_per_run=5, epoch_cpu=1.2)
    points = [{"loss": "mse_softmax", "seed": 0, "lr": 0.1, "epoch": e / 10} for e in range(0, 201, 10)]
    points += [{"loss": "mse_softmax", "seed": 1, "lr": 0.1, "epoch": e} for e in (0.0, 0.5, 2.3)]  # stopped early
    pd.DataFrame(points).to_csv(results / "tables" / "probe.csv", index=False)
    r = bench.step_floor(results)
    assert r["by_table"]["probe"] == {"epochs": 20 + 3, "epoch_step_seconds": 1.2}
    assert r["floor_seconds"] == pytest.approx((10 + 23) * 1.2 / 2) and r["epochs"] == 33 and r["runs"] == 2
    assert "+ probe 23 x 1.200 s) / 2 cores" in bench.format_floor(r)


def test_the_floor_of_a_folder_without_tables_is_one_line(tmp_path, capsys):
    assert cli.main(["bench", "--floor", str(tmp_path / "results" / "mnist")]) != 0
    assert "tables/runs.csv: not found; expected the results folder of a finished pipeline" in capsys.readouterr().err
