"""The SLURM profile and the checks the workflow makes before it submits (lossbench/cluster.py).

The real cluster run is tests/test_slurm.py (``make test-slurm``); these run anywhere, in seconds.
"""

from __future__ import annotations

import os
import re

import pytest
import yaml

from helpers import ROOT
from lossbench.cluster import (
    GPU_PARTITION_PLACEHOLDER,
    TRAINING_RULES,
    ClusterConfigError,
    check_training_job,
    has_gpus,
    nvidia_gpu_visible,
    parse_sinfo,
    profile_gives_training_a_gpu,
    train_device,
    trains_on_cuda,
    under_slurm,
)
from lossbench.config import ConfigError
from lossbench.devices import check_visible

PROFILE = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"
SINFO = "debug|(null)\ncpu|(null)\ngpu|gpu:a100:4\ngpu|gpu:h100:8(S:0-1)\n"
PARTITIONS = parse_sinfo(SINFO)
GOOD = {"gpu": 1, "slurm_partition": "gpu", "mem_mb": 8000, "runtime": 30}


def profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


def test_sinfo_lines_become_partitions_with_their_gres():
    assert PARTITIONS == {"debug": "(null)", "cpu": "(null)", "gpu": "gpu:a100:4,gpu:h100:8(S:0-1)"}
    assert parse_sinfo("") == {}
    assert has_gpus("gpu:1") and has_gpus("(null),gpu:a100:4") and not has_gpus("(null)")
    assert not has_gpus("")


@pytest.mark.parametrize("device, on_slurm, expected", [
    ("auto", True, "cuda"), ("auto", False, "auto"), ("cpu", True, "cpu"), ("cuda:1", True, "cuda:1"),
    ("cpu", False, "cpu"),
])
def test_device_auto_means_cuda_on_slurm_only(device, on_slurm, expected):
    assert train_device(device, on_slurm) == expected


@pytest.mark.parametrize("executor, remote, environ, expected", [
    ("slurm", False, {}, True),                        # submitting (login node)
    ("slurm-jobstep", True, {"SLURM_JOB_ID": "7"}, True),  # the job's first Snakemake
    ("local", True, {"SLURM_JOB_ID": "7"}, True),      # srun snakemake --mode remote inside the job
    ("local", False, {"SLURM_JOB_ID": "7"}, False),    # snakemake --cores 8 by hand in an allocation
    ("local", False, {}, False), (None, False, {}, False), ("local", True, {}, False),
])
def test_snakemake_knows_when_it_submits_to_or_runs_inside_slurm(executor, remote, environ, expected):
    assert under_slurm(executor, remote, environ) is expected


def test_a_job_on_a_gpu_partition_with_one_gpu_passes():
    check_training_job("train", GOOD, 2, "cuda", PARTITIONS)
    check_training_job("train", {**GOOD, "gpu": 0, "gres": "gpu:a100:1"}, 2, "cuda", PARTITIONS)
    check_training_job("train", {**GOOD, "cpus_per_task": 2}, 2, "cuda", PARTITIONS)


BAD_JOBS = {  # resources, threads, device -> words the error must have
    "placeholder partition": ({**GOOD, "slurm_partition": GPU_PARTITION_PLACEHOLDER}, 2, "cuda",
                              ["set-resources: train: slurm_partition", "still the placeholder",
                               "gpu (gpu:a100:4,gpu:h100:8(S:0-1))"]),
    "no partition": ({k: v for k, v in GOOD.items() if k != "slurm_partition"}, 2, "cuda",
                     ["slurm_partition is unset", "default partition"]),
    "unknown partition": ({**GOOD, "slurm_partition": "gpus"}, 2, "cuda",
                          ["'gpus', which is not a partition of this cluster", "sinfo lists: cpu, debug, gpu"]),
    "CPU partition": ({**GOOD, "slurm_partition": "cpu"}, 2, "cuda",
                      ["'cpu', whose nodes have no GPUs", "(null)", "partition with GPUs: gpu"]),
    "no GPU asked for": ({**GOOD, "gpu": 0}, 2, "cuda", ["asks for no GPU", "device cuda", "device: cpu"]),
    "CPUs and threads disagree": ({**GOOD, "cpus_per_task": 4}, 2, "cuda",
                                  ["cpus_per_task is 4", "runs 2 torch thread(s)", "set-threads: train:"]),
    "CPUs and threads disagree on CPU": ({**GOOD, "cpus_per_task": 1}, 2, "cpu", ["cpus_per_task is 1"]),
}


@pytest.mark.parametrize("resources, threads, device, words", BAD_JOBS.values(), ids=BAD_JOBS.keys())
def test_a_job_that_would_not_run_on_a_gpu_as_intended_is_refused(resources, threads, device, words):
    with pytest.raises(ClusterConfigError) as err:
        check_training_job("train", resources, threads, device, PARTITIONS)
    message = str(err.value)
    assert message.startswith("workflow/profiles/slurm/config.yaml: set-resources: train:"), message
    for word in words:
        assert word in message, (word, message)


def test_a_training_job_takes_its_threads_of_the_cpu_slots_only_on_the_cpu_and_never_more_than_there_are():
    from lossbench.cluster import training_cpus, usable_cores

    assert training_cpus(1, on_cuda=False, submitting=False, limit=2) == 1
    assert training_cpus(4, on_cuda=False, submitting=False, limit=2) == 2  # else it would wait for ever
    assert training_cpus(1, on_cuda=True, submitting=False, limit=2) == 0  # the gpu resource bounds those
    assert training_cpus(1, on_cuda=False, submitting=True, limit=2) == 0  # each SLURM job has its own cores
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_a_cpu_only_cluster_needs_no_gpu_partition_but_a_real_one():
    check_training_job("train", {"mem_mb": 8000}, 2, "cpu", PARTITIONS)
    check_training_job("train", {"slurm_partition": "cpu"}, 2, "cpu", PARTITIONS)
    for partition, words in [(GPU_PARTITION_PLACEHOLDER, "still the placeholder"), ("cpus", "not a partition")]:
        with pytest.raises(ClusterConfigError, match=words):
            check_training_job("train", {"slurm_partition": partition}, 2, "cpu", PARTITIONS)


def test_a_job_without_a_gpu_on_a_slurm_node_names_the_job_and_the_fix(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_PARTITION", "gpu")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ConfigError) as err:
        check_visible("cuda")
    message = str(err.value)
    for word in ("no CUDA GPU is visible", "CUDA_VISIBLE_DEVICES=''", "SLURM job 4242, partition gpu",
                 "device auto means cuda", "device: cpu"):
        assert word in message, (word, message)


# --- the shipped profile ------------------------------------------------------------------------

def workflow_rules() -> dict[str, bool]:
    """Every rule of the workflow -> whether it says ``localrule: True``, read from the sources."""
    sources = [ROOT / "workflow" / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")]
    rules = {}
    for path in sources:
        # a rule's body: the lines after `rule name:` indented deeper than it
        for match in re.finditer(r"^( *)rule (\w+):\n((?:\1 +\S.*\n|\n)*)", path.read_text(), re.M):
            rules[match.group(2)] = bool(re.search(r"^ +localrule: True$", match.group(3), re.M))
    return rules


def test_only_training_rules_go_to_the_cluster_and_each_has_gpu_resources():
    rules = workflow_rules()
    assert {"all", "prepare_data", "gather", "render_page", "train"} <= set(rules), rules
    cluster = {rule for rule, local in rules.items() if not local}
    assert {"train", "train_seeds"} <= cluster and all(r.startswith("train") for r in cluster), cluster
    settings = profile()
    assert set(settings["set-resources"]) == cluster, "every submitted rule, and only those, has resources"
    assert set(settings["set-threads"]) == cluster
    for rule in cluster:
        resources = settings["set-resources"][rule]
        assert resources["gpu"] == 1 and resources["slurm_partition"] == GPU_PARTITION_PLACEHOLDER, rule
        assert "cpus_per_task" not in resources, "CPUs come from set-threads alone"
        for key in ("runtime", "mem_mb"):  # a retry gets more time and memory
            assert re.fullmatch(r"\d+ \* attempt", str(resources[key])), (rule, key, resources[key])


def test_the_training_rules_are_the_ones_the_profile_submits_and_it_gives_them_a_gpu():
    """The workflow tells, while it is read, that the SLURM profile trains on GPUs (pack_seeds auto then
    packs) from the profile's set-resources: as the profile writes them, and as Snakemake parses them."""
    from snakemake.resources import Resources

    assert set(TRAINING_RULES) == {rule for rule, local in workflow_rules().items() if not local}
    resources = profile()["set-resources"]
    assert profile_gives_training_a_gpu(resources)
    parsed = {rule: Resources.from_mapping({k: v for k, v in values.items() if k not in ("runtime", "mem_mb")})
              for rule, values in resources.items()}
    assert profile_gives_training_a_gpu(parsed)
    assert profile_gives_training_a_gpu({"train": {"gres": "gpu:a100:1"}})
    assert profile_gives_training_a_gpu({"train": Resources.from_mapping({"gres": "gpu:a100:1"})})
    assert not profile_gives_training_a_gpu({})
    assert not profile_gives_training_a_gpu({"train": {"gpu": 0, "mem_mb": 100}, "render_page": {"gpu": 1}})


def test_an_nvidia_gpu_is_visible_from_its_device_files_unless_cuda_visible_devices_hides_it(tmp_path):
    assert not nvidia_gpu_visible({}, str(tmp_path))
    (tmp_path / "nvidiactl").touch()  # the driver's control file alone: no GPU
    assert not nvidia_gpu_visible({}, str(tmp_path))
    (tmp_path / "nvidia0").touch()
    assert nvidia_gpu_visible({}, str(tmp_path))
    assert nvidia_gpu_visible({"CUDA_VISIBLE_DEVICES": "0,1"}, str(tmp_path))
    for hidden in ("", " ", "-1", "-1,0"):
        assert not nvidia_gpu_visible({"CUDA_VISIBLE_DEVICES": hidden}, str(tmp_path)), hidden
    assert not nvidia_gpu_visible({}, str(tmp_path / "missing"))


@pytest.mark.parametrize("device, on_slurm, gpu_visible, expected", [
    ("cuda", False, False, True), ("cuda:1", False, False, True),  # as named (the run checks it is there)
    ("cpu", True, True, False),  # never CUDA
    ("auto", True, False, True),  # SLURM: auto means cuda
    ("auto", False, True, True), ("auto", False, False, False),  # locally: an NVIDIA GPU visible or not
])
def test_training_runs_on_cuda_as_the_device_says_and_auto_where_a_gpu_is(device, on_slurm, gpu_visible,
                                                                           expected):
    assert trains_on_cuda(device, on_slurm, gpu_visible) is expected


def test_the_profile_names_its_jobs_retries_and_asks_for_no_groups():
    settings = profile()
    assert settings["executor"] == "slurm" and settings["retries"] >= 1
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,50}", settings["slurm-jobname-prefix"])
    assert "groups" not in settings and "group-components" not in settings
    assert "cpus_per_task" not in settings["default-resources"]
    assert "# groups:" not in PROFILE.read_text()  # the advice that summed 5 GPUs into one job is gone


def test_a_comma_separated_partition_list_is_accepted_when_every_partition_has_gpus():
    """SLURM's --partition takes a list (the job starts where there is room first): finding 9 of issue #21."""
    partitions = {**PARTITIONS, "gpu2": "gpu:h100:4"}
    check_training_job("train", {"slurm_partition": "gpu,gpu2", "gpu": 1}, 2, "cuda", partitions)
    check_training_job("train", {"slurm_partition": " gpu , gpu2 ", "gpu": 1}, 2, "cuda", partitions)
    check_training_job("train", {"slurm_partition": "cpu,debug"}, 2, "cpu", partitions)
    with pytest.raises(ClusterConfigError, match=r"'gpu,cpu' names 'cpu', whose nodes have no GPUs"):
        check_training_job("train", {"slurm_partition": "gpu,cpu", "gpu": 1}, 2, "cuda", partitions)
    with pytest.raises(ClusterConfigError, match=r"names 'gpu3', 'gpu4', which are not partitions of this cluster"):
        check_training_job("train", {"slurm_partition": "gpu,gpu3,gpu4", "gpu": 1}, 2, "cuda", partitions)


def test_the_cpu_device_name_counts_the_jobs_cores_not_the_nodes(monkeypatch):
    """A SLURM job of 4 cores on a 128-core node is "cpu (4 cores, ...)": finding 9 of issue #21."""
    import os

    import torch

    from lossbench.devices import device_name

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5, 9, 12}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 128)
    assert device_name(torch.device("cpu")).startswith("cpu (4 cores, ")


DRIVER_MESSAGE = dict(host="node7", cuda_visible_devices=None, slurm_job=None, slurm_partition=None,
                      torch_version="2.14.1+cu130", torch_cuda="13.0")


def test_cuda_unavailable_names_the_driver_and_the_torch_build_and_blames_an_old_driver():
    """Finding 1 of issue #21: the CUDA 13.0 build of torch on a 570 driver sees no GPU; the error says so."""
    from lossbench.devices import unavailable_message

    old = unavailable_message("cuda", 0, driver="570.124.06", **DRIVER_MESSAGE)
    for word in ("no CUDA GPU is visible", "torch 2.14.1+cu130, built for CUDA 13.0", "NVIDIA driver 570.124.06",
                 "the NVIDIA driver is the cause", "driver 580 or newer", "whl/cu126"):
        assert word in old, (word, old)
    new = unavailable_message("cuda", 0, driver="580.65.06", **DRIVER_MESSAGE)
    assert "NVIDIA driver 580.65.06" in new and "cause" not in new and "run where a GPU is visible" in new
    none = unavailable_message("cuda", 0, driver=None, **{**DRIVER_MESSAGE, "slurm_job": "42", "slurm_partition": "g"})
    assert "no NVIDIA driver found" in none and "SLURM job 42, partition g" in none and "give the job a GPU" in none
    cpu_build = unavailable_message("cuda", 0, driver="580.65.06", **{**DRIVER_MESSAGE, "torch_cuda": None})
    assert "built without CUDA" in cpu_build and "CPU-only build" in cpu_build
    cu12 = unavailable_message("cuda", 0, driver="535.104.05", **{**DRIVER_MESSAGE, "torch_cuda": "12.6"})
    assert "cause" not in cu12  # a 12.x build runs on 525 and newer
    two = unavailable_message("cuda:2", 2, driver=None, **DRIVER_MESSAGE)
    assert "only 2 CUDA GPU(s) are visible" in two and "driver" not in two


def test_the_driver_version_is_read_from_proc_when_nvidia_smi_is_missing():
    from lossbench.devices import parse_proc_driver_version

    assert parse_proc_driver_version(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n") == "535.129.03"
    assert parse_proc_driver_version(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n") == "580.65.06"
    assert parse_proc_driver_version("garbage") is None
