# Helpers only: config validation, wildcard constraints and get_* functions (no rules).
import json
import sys
from typing import NamedTuple

from lossbench.cluster import (
    CPU_TRAINING,
    SUBMITTING_EXECUTOR,
    check_training_job,
    cluster_partitions,
    executor_name,
    nvidia_gpu_visible,
    profile_gives_training_a_gpu,
    train_device,
    training_cpus,
    trains_on_cuda,
    under_slurm,
    usable_cores,
)
from lossbench.config import (
    RUN_FILES,
    ConfigError,
    check_duplicate_keys,
    check_empty_mappings,
    classes_study_lrs,
    classes_study_run_settings,
    classes_study_variant,
    defaults,
    horizon_run_settings,
    loss_file_args,
    lr_study_lrs,
    lr_study_run_settings,
    SEQUENTIAL,
    STACKED,
    lr_text,
    optimizer_study_run_settings,
    optimizer_study_variant,
    pack_shape,
    packs_seeds,
    packs_study,
    resolve,
    sweep_twin,
    train_args,
)
from lossbench.data import DATASETS, export_mirror
from lossbench.losses import LOSSES
from lossbench.gathered import TableError, check_gathered, gathered_record

# The config, resolved once (lossbench.config.resolve): --config values read as the YAML file reads
# them, the schema's defaults filled in, everything checked before any job. A mistake stops here
# with one line naming the key, what was expected and what was found (no traceback).
try:
    CONFIG_FILES = {
        str(path): check_duplicate_keys(path) for path in workflow.configfiles
    }
    # an empty mapping on the command line is merged away by Snakemake: refused, not ignored
    check_empty_mappings(
        config,
        [
            (str(path), CONFIG_FILES.get(str(path)))
            for path in workflow.config_settings.configfiles
        ]
        + [("--config", workflow.config_settings.config)],
    )
    SWEEP = resolve(config, LOSSES, workflow.config_settings.config)
except ConfigError as error:
    sys.exit(f"ConfigError: {error}")
# name -> settings of every variant
VARIANTS = SWEEP.variants
# the user's loss files (absolute paths, imported by resolve): the training jobs and the pages import them too
LOSS_FILES = SWEEP.config["loss_files"]
# the long-horizon block (horizon:, "Slow or stuck?"), defaults filled in; None when it is off
HORIZON = SWEEP.horizon
# the learning-rate study block (lr_study:, the "Learning rate" page), defaults filled in; None when off
LR_STUDY = SWEEP.lr_study
# loss -> its lr grid in the study (lossbench.config.lr_study_lrs: one list for every loss, or each its own);
# empty when the study is off
LR_STUDY_GRIDS = (
    {loss: lr_study_lrs(LR_STUDY, loss) for loss in LR_STUDY["losses"]}
    if LR_STUDY
    else {}
)
# each lr of any loss's grid by the text that names its folder (lr-0.03)
LR_BY_TEXT = {lr_text(lr): lr for grid in LR_STUDY_GRIDS.values() for lr in grid}
# the seeds train_lr_study_grid trains (the study's; with the study off, the schema's default),
# so that it stays defined and matches nothing
LR_GRID = LR_STUDY or defaults("lr_study")
# the number-of-classes study block (classes_study:), defaults filled in; None when off
CLASSES_STUDY = SWEEP.classes_study
# (C, loss) -> that loss's lr grid at C (the reference grid scaled by the declared gradient scales,
# lossbench.config.classes_study_lrs); empty when the study is off
CLASSES_STUDY_GRIDS = (
    {
        (classes, loss): classes_study_lrs(CLASSES_STUDY, loss, classes)
        for classes in CLASSES_STUDY["classes"]
        for loss in CLASSES_STUDY["losses"]
    }
    if CLASSES_STUDY
    else {}
)
# the optimiser control block (optimizer_study:), defaults filled in; None when off
OPTIMIZER_STUDY = SWEEP.optimizer_study
# each lr of its grid by the text that names its folder; empty when off
OPTIMIZER_LR_BY_TEXT = (
    {lr_text(lr): lr for lr in OPTIMIZER_STUDY["lrs"]} if OPTIMIZER_STUDY else {}
)
# Whether training runs on CUDA, decided while the workflow is read, without importing torch
# (lossbench.cluster.trains_on_cuda): device cuda/cuda:N; device auto with an NVIDIA GPU visible here,
# inside a SLURM job, or under the SLURM profile (its set-resources give training a GPU; the executor
# is named only after the workflow is read).
TRAIN_ON_CUDA = trains_on_cuda(
    config["device"],
    under_slurm(None, workflow.remote_exec, os.environ)
    or profile_gives_training_a_gpu(workflow.resource_settings.overwrite_resources),
    nvidia_gpu_visible(os.environ),
)
# pack_seeds resolved (lossbench.config.pack_shape, the one place that decides it): None, one job per run
# (false); STACKED, one job per variant and per study loss, the runs' networks stacked (true; auto on CUDA);
# SEQUENTIAL, one job per variant and per (study loss, seed), its runs one after another in one process,
# each bit for bit its single run (auto on CPU: the start-up paid once per job, not per run)
PACK_SHAPE = pack_shape(config["pack_seeds"], TRAIN_ON_CUDA)
PACK_SEEDS = PACK_SHAPE is not None
# A packed job's threads: a sequential one trains one run at a time, with one thread as a single run does
# (snakemake --cores N runs N of them; the training-step floor is one thread's); a stacked one two
PACKED_THREADS = 1 if PACK_SHAPE == SEQUENTIAL else 2
# the classes study's training shape: packed as pack_seeds says, and under auto also on CPU when its runs
# are one epoch long (start-up outweighs training there: lossbench.config.packs_study)
PACK_CLASSES_STUDY = (
    packs_study(config["pack_seeds"], TRAIN_ON_CUDA, CLASSES_STUDY["epochs"])
    if CLASSES_STUDY
    else PACK_SEEDS
)
# A packed job's one output, beside the run folders it writes (touched when they are all written).
# The packed training rules list this file, not every run file. Snakemake tries each
# file it looks for against every output of every rule, so 4 x runs outputs made planning quadratic
# in runs, packed or not (issue #21, finding 11). What reads packed runs depends on the job's file
# (get_run_dependencies) and is given the run files' paths as a parameter.
PACKED_DONE = "packed.done"
# Every output of a sweep lives under its dataset's folders (results/<dataset>/,
# reports/html/<dataset>/, logs/<dataset>/), so sweeps on two datasets never mix.
DATASET = config["dataset"]
# A wildcard constraint no value matches: the rules of a block that is off (or of the training shape
# pack_seeds does not use) stay defined, so their names never change with the config (snakemake -R).
NO_VALUE = "(?!)"


def get_constraint(names):
    """A wildcard constraint matching exactly ``names`` (none: NO_VALUE)."""
    return "|".join(re.escape(str(name)) for name in names) or NO_VALUE


wildcard_constraints:
    variant="|".join(VARIANTS),
    seed=r"\d+",
    dataset="|".join(DATASETS),


def get_data(wildcards):
    """data.pt by content, not mtime (ancient): its sources are pinned by SHA-256,
    so rerunning the data step (no manifest.json) retrains nothing; no data.pt does."""
    return ancient(f"resources/data/{wildcards.dataset}/data.pt")


def get_train_args(wildcards):
    """One variant's hyperparameters as CLI flags, one list item per word (quoted one by one
    in the shell command): a changed value reruns only its jobs. Under SLURM, device auto is
    cuda (lossbench/cluster.py)."""
    return job_train_args(VARIANTS[wildcards.variant], wildcards.dataset)


def job_train_args(settings, dataset):
    """``lossbench train`` flags of one training job: its settings, dataset and device, and the
    user's loss file that defines its loss (with its SHA-256: editing it retrains its runs).
    """
    return train_args(
        {**settings, "dataset": dataset, "device": get_train_device()}
    ).split() + loss_file_args(settings["loss"])


def get_train_device():
    """config's device for a training job: auto is cuda when Snakemake submits to SLURM or runs
    inside a SLURM job, so a job without a GPU fails instead of training on CPU."""
    slurm = under_slurm(executor_name(workflow), workflow.remote_exec, os.environ)
    return train_device(config["device"], slurm)


# At most one training process per core on the CPU, whatever --cores says (lossbench.cluster.training_cpus):
# `--resources cpu_training=N` (or the profile's resources:) sets another limit.
if CPU_TRAINING not in workflow.global_resources:
    workflow.register_resource(CPU_TRAINING, usable_cores())


def get_train_cpus(wildcards, threads):
    """A training job's share of the cpu_training resource: its threads on the CPU, 0 on CUDA or submitted."""
    limit = workflow.global_resources[CPU_TRAINING]
    limit = getattr(limit, "value", limit)
    return training_cpus(
        threads,
        TRAIN_ON_CUDA,
        executor_name(workflow) == SUBMITTING_EXECUTOR,
        int(limit),
    )


def get_train_gpus(wildcards):
    """A training job's GPUs (resource gpu): 1 when it trains on CUDA, so a local run never starts more
    training processes on the GPU than the profile's `resources: gpu:` allows (workflow/profiles/default);
    0 on CPU. Submitting to SLURM, 0: the profile's set-resources ask for the GPU (gpu: or gres:, never
    both)."""
    if executor_name(workflow) == SUBMITTING_EXECUTOR:
        return 0
    return 1 if TRAIN_ON_CUDA else 0


def check_gathered_tables():
    """Before any job: a gathered table edited, truncated or replaced by hand is never shown on a page.
    Unless this run regathers it anyway (its gather job runs: -R, a new run, a missing record), it
    stops the run with one line naming the table and the command that rebuilds it."""
    regathered = {job.rule.name for job in workflow.dag.needrun_jobs()}
    try:
        check_gathered(f"results/{DATASET}/tables", regathered)
    except TableError as error:
        sys.exit(f"TableError: {error}")


def check_cluster_jobs():
    """Before the first sbatch: every job that goes to SLURM (training; every other rule is a
    localrule) asks for what runs it as intended (lossbench/cluster.py); else one error naming
    the profile setting."""
    executor = executor_name(workflow)
    if executor != SUBMITTING_EXECUTOR:
        return
    device = get_train_device()
    for job in workflow.dag.needrun_jobs():
        if not workflow.is_local(job.rule):
            check_training_job(
                job.rule.name, job.resources, job.threads, device, cluster_partitions()
            )


def get_run_outputs(folder, **values):
    """A training rule's outputs: every file of the run folder ``folder`` (a pattern), by kind
    (metrics, history, model, predictions: lossbench.config.RUN_FILES, the one list); with
    ``values`` (e.g. seed=[0, 1]), each kind over every folder they expand to."""
    return {
        name.split(".")[0]: (
            expand(f"{folder}/{name}", **values) if values else f"{folder}/{name}"
        )
        for name in RUN_FILES
    }


def get_run_files(dataset, name="metrics.json", variants=None):
    """One file of every run (variant x seed) of a dataset's sweep."""
    return expand(
        "results/{dataset}/runs/{variant}/seed-{seed}/{name}",
        dataset=dataset,
        variant=variants or VARIANTS,
        seed=config["seeds"],
        name=name,
    )


def get_run_files_by_kind(dataset, run_files=get_run_files):
    """Every file of every run of a dataset's sweep (or of its long-horizon runs), by kind."""
    return {name.split(".")[0]: run_files(dataset, name) for name in RUN_FILES}


def get_packed_jobs(dataset, variants=None):
    """The one output of each packed job (train_seeds) that trains ``variants`` (default: all)."""
    return [f"results/{dataset}/runs/{v}/{PACKED_DONE}" for v in variants or VARIANTS]


def get_run_dependencies(dataset, name="metrics.json", variants=None, seeds=None):
    """What a reader of the sweep's runs depends on: file ``name`` of each run (variant x seed), or packed,
    the job that writes them (its run files are no rule's outputs: PACKED_DONE)."""
    if PACK_SEEDS:
        return get_packed_jobs(dataset, variants)
    return expand(
        "results/{dataset}/runs/{variant}/seed-{seed}/{name}",
        dataset=dataset,
        variant=variants or VARIANTS,
        seed=config["seeds"] if seeds is None else seeds,
        name=name,
    )


def get_all_run_files(wildcards):
    """gather's inputs: every run file (it checks each against the run's metrics.json), or packed,
    each variant's job."""
    if PACK_SEEDS:
        return {"packed": get_packed_jobs(wildcards.dataset)}
    return get_run_files_by_kind(wildcards.dataset)


def get_gathered_metrics(wildcards):
    """The metrics.json of every run of the sweep, for lossbench gather --runs."""
    return get_run_files(wildcards.dataset)


def get_tables(dataset):
    """The gathered tables of a dataset's sweep, by notebook parameter name."""
    return {
        f"{name}_csv": f"results/{dataset}/tables/{name}.csv"
        for name in ("runs", "epochs", "summary")
    }


def get_horizon_train_args(wildcards):
    """A long-horizon run's flags: its variant's settings with the horizon's epoch budget and
    test interval (a changed budget reruns only the horizon runs)."""
    settings = horizon_run_settings(VARIANTS[wildcards.variant], HORIZON)
    return job_train_args(settings, wildcards.dataset)


def get_horizon_run_files(dataset, name="metrics.json"):
    """One file of every long-horizon run (horizon variant x horizon seed); none when it is off."""
    if HORIZON is None:
        return []
    return expand(
        "results/{dataset}/horizon/{variant}/seed-{seed}/{name}",
        dataset=dataset,
        variant=HORIZON["variants"],
        seed=HORIZON["seeds"],
        name=name,
    )


def get_all_horizon_run_files(wildcards):
    """gather_horizon's inputs: every file of every long-horizon run, by kind."""
    return get_run_files_by_kind(wildcards.dataset, get_horizon_run_files)


def get_horizon_tables(dataset):
    """The long-horizon tables the why page reads, by parameter name; none when it is off."""
    if HORIZON is None:
        return {}
    return {
        f"horizon_{name}_csv": f"results/{dataset}/tables/horizon_{name}.csv"
        for name in ("runs", "epochs")
    }


def get_lr_study_settings(loss, lr):
    """A study run's settings: the sweep's shared settings, ``loss`` at ``lr`` (a float), the study's epochs."""
    return lr_study_run_settings(config, LR_STUDY, loss, lr)


def get_lr_study_train_args(wildcards):
    """One study run's flags (for train_lr_study); a changed grid adds or drops only its points."""
    settings = get_lr_study_settings(wildcards.loss, LR_BY_TEXT[wildcards.lr])
    return job_train_args(settings, wildcards.dataset)


def get_lr_study_grid_args(wildcards):
    """One loss's flags for its whole lr x seed grid (for train_lr_study_grid): no --lr, the rule
    gives --lrs."""
    settings = get_lr_study_settings(wildcards.loss, LR_STUDY_GRIDS[wildcards.loss][0])
    del settings["lr"]
    return job_train_args({**settings, "variant": wildcards.loss}, wildcards.dataset)


def get_lr_study_run_folder(dataset, loss, lr, seed):
    """Where the study's run (loss, lr, seed) is: a point the sweep trains too (same loss and
    settings, a seed of the sweep) is read from the sweep's run folder instead of training it
    twice, unless pack_seeds stacks each loss's whole grid into one job (where it costs nothing).
    """
    twin = get_lr_study_twin(loss, lr, seed)
    if twin is not None:
        return f"results/{dataset}/runs/{twin}/seed-{seed}"
    return f"results/{dataset}/lr-study/{loss}/lr-{lr_text(lr)}/seed-{seed}"


def get_lr_study_twin(loss, lr, seed):
    """The sweep's variant whose run of ``seed`` is the study's run (loss, lr, seed), read from the sweep;
    None where the study trains that run itself."""
    twin = sweep_twin(get_lr_study_settings(loss, lr), VARIANTS)
    if twin is not None and seed in config["seeds"] and PACK_SHAPE != STACKED:
        return twin
    return None


def get_lr_study_grid_lrs(wildcards):
    """--lrs of one loss's stacked job: its grid, as its folders name them."""
    return [lr_text(lr) for lr in LR_STUDY_GRIDS[wildcards.loss]]


def get_lr_study_seed_lrs(loss, seed):
    """The lrs (as folder texts) a sequential study job (loss, seed) trains: the grid's, but those read from
    the sweep."""
    return [
        lr_text(lr)
        for lr in LR_STUDY_GRIDS[loss]
        if get_lr_study_twin(loss, lr, int(seed)) is None
    ]


def get_lr_study_run_files(dataset, name="metrics.json"):
    """One file of every run of the study (loss x lr x seed); none when it is off."""
    if LR_STUDY is None:
        return []
    return [
        f"{get_lr_study_run_folder(dataset, loss, lr, seed)}/{name}"
        for loss in LR_STUDY["losses"]
        for lr in LR_STUDY_GRIDS[loss]
        for seed in LR_STUDY["seeds"]
    ]


def get_lr_study_packed_jobs(dataset):
    """The one output of each packed study job: stacked, one per loss (train_lr_study_grid); sequential, one
    per (loss, seed) with an lr to train (train_lr_study_seed); none when the study is off.
    """
    if LR_STUDY is None:
        return []
    if PACK_SHAPE == SEQUENTIAL:
        return [
            f"results/{dataset}/lr-study/{loss}/seed-{seed}.{PACKED_DONE}"
            for loss in LR_STUDY["losses"]
            for seed in LR_STUDY["seeds"]
            if get_lr_study_seed_lrs(loss, seed)
        ]
    return [
        f"results/{dataset}/lr-study/{loss}/{PACKED_DONE}"
        for loss in LR_STUDY["losses"]
    ]


def get_lr_study_twin_jobs(dataset):
    """The packed sweep jobs whose runs the study reads (its points the sweep trains)."""
    twins = {
        get_lr_study_twin(loss, lr, seed)
        for loss in LR_STUDY["losses"]
        for lr in LR_STUDY_GRIDS[loss]
        for seed in LR_STUDY["seeds"]
    } - {None}
    return get_packed_jobs(dataset, sorted(twins)) if twins else []


def get_all_lr_study_run_files(wildcards):
    """gather_lr_study's inputs: every file of every study run, by kind, or packed, the study's jobs and the
    sweep's that train points it reads."""
    if PACK_SEEDS:
        return {
            "packed": get_lr_study_packed_jobs(wildcards.dataset)
            + get_lr_study_twin_jobs(wildcards.dataset)
        }
    return get_run_files_by_kind(wildcards.dataset, get_lr_study_run_files)


def get_gathered_lr_study_metrics(wildcards):
    """The metrics.json of every study run, for lossbench gather --runs."""
    return get_lr_study_run_files(wildcards.dataset)


def get_lr_study_tables(dataset, names=("runs", "epochs", "summary")):
    """The study's tables by notebook parameter name; none when it is off."""
    if LR_STUDY is None:
        return {}
    return {
        f"lr_study_{name}_csv": f"results/{dataset}/tables/lr_study_{name}.csv"
        for name in names
    }


def get_study_outputs(dataset, run_files, packed_jobs, packed):
    """What `snakemake` builds of a study: every file of its runs, or ``packed``, each of its jobs' file."""
    if packed:
        return packed_jobs(dataset)
    return [
        f for files in get_run_files_by_kind(dataset, run_files).values() for f in files
    ]


def get_study_tables(dataset, prefix, on, names=("runs", "epochs")):
    """A study's gathered tables (lossbench gather --prefix ``prefix``) by notebook parameter name
    (``classes_study_runs_csv``); none when it is off (``on`` false)."""
    if not on:
        return {}
    return {
        f"{prefix}{name}_csv": f"results/{dataset}/tables/{prefix}{name}.csv"
        for name in names
    }


def get_study_record(dataset, prefix, block):
    """gather's record of a study's tables (the page checks them against it); none when it is off."""
    return [] if block is None else [f"results/{dataset}/tables/{prefix}gathered.json"]


# --- the number-of-classes study (classes_study:, rules/classes_study.smk) ---


def get_classes_study_grid(wildcards):
    """The lr grid of one (C, loss) of the classes study, by the text that names each folder."""
    grid = CLASSES_STUDY_GRIDS[(int(wildcards.classes), wildcards.loss)]
    return {lr_text(lr): lr for lr in grid}


def get_classes_study_settings(wildcards, lr):
    """A classes-study run's settings: the sweep's shared ones on the first C classes, ``loss`` at ``lr``."""
    return classes_study_run_settings(
        config, CLASSES_STUDY, int(wildcards.classes), wildcards.loss, lr
    )


def get_classes_study_train_args(wildcards):
    """One classes-study run's flags (for train_classes_study), --classes included."""
    lr = get_classes_study_grid(wildcards)[wildcards.lr]
    return job_train_args(get_classes_study_settings(wildcards, lr), wildcards.dataset)


def get_classes_study_grid_args(wildcards):
    """One (C, loss)'s flags for its whole lr x seed grid (for train_classes_study_grid): no --lr, the
    rule gives --lrs; the variant is the grid's, and each run's is <variant>_lr<lr>."""
    settings = get_classes_study_settings(wildcards, 1.0)
    del settings["lr"]
    variant = classes_study_variant(wildcards.loss, int(wildcards.classes))
    return job_train_args({**settings, "variant": variant}, wildcards.dataset)


def get_classes_study_grid_lrs(wildcards):
    """--lrs of one (C, loss)'s packed job: its grid, as its folders name them."""
    return list(get_classes_study_grid(wildcards))


def get_classes_study_run_files(dataset, name="metrics.json"):
    """One file of every run of the classes study (C x loss x its lr at C x seed); none when it is off."""
    return [
        f"results/{dataset}/classes-study/C-{classes}/{loss}/lr-{lr_text(lr)}/seed-{seed}/{name}"
        for (classes, loss), grid in CLASSES_STUDY_GRIDS.items()
        for lr in grid
        for seed in CLASSES_STUDY["seeds"]
    ]


def get_classes_study_packed_jobs(dataset):
    """The one output of each packed classes-study job (one per C and loss); none when it is off."""
    return [
        f"results/{dataset}/classes-study/C-{classes}/{loss}/{PACKED_DONE}"
        for classes, loss in CLASSES_STUDY_GRIDS
    ]


def get_all_classes_study_run_files(wildcards):
    """gather_classes_study's inputs: every file of every run, by kind, or packed, each job's file."""
    if PACK_CLASSES_STUDY:
        return {"packed": get_classes_study_packed_jobs(wildcards.dataset)}
    return get_run_files_by_kind(wildcards.dataset, get_classes_study_run_files)


def get_gathered_classes_study_metrics(wildcards):
    """The metrics.json of every classes-study run, for lossbench gather --runs."""
    return get_classes_study_run_files(wildcards.dataset)


def get_classes_study_tables(dataset, names=("runs", "epochs", "summary")):
    """The classes study's tables by notebook parameter name; none when it is off."""
    return get_study_tables(dataset, "classes_study_", CLASSES_STUDY, names)


# --- the optimiser control (optimizer_study:, rules/optimizer_study.smk) ---


def get_optimizer_study_settings(loss, lr):
    """An optimiser-study run's settings: the sweep's shared ones, the study's optimiser, ``loss`` at ``lr``."""
    return optimizer_study_run_settings(config, OPTIMIZER_STUDY, loss, lr)


def get_optimizer_study_train_args(wildcards):
    """One optimiser-study run's flags (for train_optimizer_study), --optimizer included."""
    settings = get_optimizer_study_settings(
        wildcards.loss, OPTIMIZER_LR_BY_TEXT[wildcards.lr]
    )
    return job_train_args(settings, wildcards.dataset)


def get_optimizer_study_grid_args(wildcards):
    """One loss's flags for its whole lr x seed grid (for train_optimizer_study_grid): no --lr."""
    settings = get_optimizer_study_settings(wildcards.loss, OPTIMIZER_STUDY["lrs"][0])
    del settings["lr"]
    variant = optimizer_study_variant(wildcards.loss, OPTIMIZER_STUDY["optimizer"])
    return job_train_args({**settings, "variant": variant}, wildcards.dataset)


def get_optimizer_study_folder(dataset, loss):
    """Where one loss's runs of the optimiser control go: results/<dataset>/optimizer-study/<optimizer>/<loss>."""
    return f"results/{dataset}/optimizer-study/{OPTIMIZER_STUDY['optimizer']}/{loss}"


def get_optimizer_study_run_files(dataset, name="metrics.json"):
    """One file of every run of the optimiser control (loss x lr x seed); none when it is off."""
    if OPTIMIZER_STUDY is None:
        return []
    return [
        f"{get_optimizer_study_folder(dataset, loss)}/lr-{lr_text(lr)}/seed-{seed}/{name}"
        for loss in OPTIMIZER_STUDY["losses"]
        for lr in OPTIMIZER_STUDY["lrs"]
        for seed in OPTIMIZER_STUDY["seeds"]
    ]


def get_optimizer_study_packed_jobs(dataset):
    """The one output of each packed optimiser-study job (one per loss); none when it is off."""
    if OPTIMIZER_STUDY is None:
        return []
    return [
        f"{get_optimizer_study_folder(dataset, loss)}/{PACKED_DONE}"
        for loss in OPTIMIZER_STUDY["losses"]
    ]


def get_all_optimizer_study_run_files(wildcards):
    """gather_optimizer_study's inputs: every file of every run, by kind, or packed, each loss's job."""
    if PACK_SEEDS:
        return {"packed": get_optimizer_study_packed_jobs(wildcards.dataset)}
    return get_run_files_by_kind(wildcards.dataset, get_optimizer_study_run_files)


def get_gathered_optimizer_study_metrics(wildcards):
    """The metrics.json of every optimiser-study run, for lossbench gather --runs."""
    return get_optimizer_study_run_files(wildcards.dataset)


def get_optimizer_study_tables(dataset, names=("runs", "epochs", "summary")):
    """The optimiser control's tables by notebook parameter name; none when it is off."""
    return get_study_tables(dataset, "optimizer_study_", OPTIMIZER_STUDY, names)


def get_final_output():
    """What `snakemake` builds: every run file too (a run file needed only by gather, whose tables
    are up to date, is an intermediate Snakemake would not remake if deleted), the tables, the
    report pages, the index and the bundle; with horizon:, lr_study:, classes_study: or
    optimizer_study: on, their runs and tables too
    """
    return [
        *(
            get_packed_jobs(DATASET)
            if PACK_SEEDS
            else (f for files in get_run_files_by_kind(DATASET).values() for f in files)
        ),
        get_tables(DATASET)["summary_csv"],
        *(
            f
            for files in get_run_files_by_kind(DATASET, get_horizon_run_files).values()
            for f in files
        ),
        *get_horizon_tables(DATASET).values(),
        *(
            get_lr_study_packed_jobs(DATASET)
            if PACK_SEEDS
            else (
                f
                for files in get_run_files_by_kind(
                    DATASET, get_lr_study_run_files
                ).values()
                for f in files
            )
        ),
        *get_lr_study_tables(DATASET).values(),
        *get_study_outputs(
            DATASET,
            get_classes_study_run_files,
            get_classes_study_packed_jobs,
            PACK_CLASSES_STUDY,
        ),
        *get_classes_study_tables(DATASET).values(),
        *get_study_outputs(
            DATASET,
            get_optimizer_study_run_files,
            get_optimizer_study_packed_jobs,
            PACK_SEEDS,
        ),
        *get_optimizer_study_tables(DATASET).values(),
        *(f"reports/html/{DATASET}/{page}.html" for page in REPORT_PLAN[DATASET]),
        f"reports/html/{DATASET}/index.html",
        f"reports/bundle/{DATASET}",
    ]


class Page(NamedTuple):
    """One report page (see REPORT_PLAN in report.smk): its notebook, title, description on the
    index, the files it reads (named as the notebook's parameters), its other parameters, and
    files it depends on without taking them as parameters."""

    notebook: str
    title: str
    description: str
    inputs: dict
    parameters: dict = {}
    also_reads: list = []


def get_report_title(dataset):
    """config's report_title, else one naming the dataset (each dataset's report is distinct)."""
    return config["report_title"] or (
        f"lossbench: classification losses on {DATASETS[dataset].title}"
    )


def get_report_pages(dataset):
    """Every page as {href, title, description}, in reading order, the index first."""
    return [
        {"href": "index.html", "title": "Overview", "description": "headline table"}
    ] + [
        {"href": f"{name}.html", "title": page.title, "description": page.description}
        for name, page in REPORT_PLAN[dataset].items()
    ]


def page_inputs(dataset, name):
    """A page's notebook, the files it reads, and beside each gathered table gather's record of it
    (a page checks the table against it; a missing record regathers, then the page reruns).
    """
    page = REPORT_PLAN[dataset][name]
    notebook = os.path.join(
        workflow.basedir, "..", "reports", "notebooks", page.notebook
    )
    records = sorted({gathered_record(path) for path in page.inputs.values()} - {None})
    return {
        "notebook": notebook,
        **page.inputs,
        "also_reads": [*page.also_reads, *records],
    }


def get_page_inputs(wildcards):
    return page_inputs(wildcards.dataset, wildcards.page)


def page_parameters(dataset, name):
    """The notebook's parameters: the files it reads plus its other values."""
    page = REPORT_PLAN[dataset][name]
    return {**page.inputs, **page.parameters}


def get_page_parameters(wildcards):
    return json.dumps(
        page_parameters(wildcards.dataset, wildcards.page), sort_keys=True
    )


def page_title(dataset, name):
    return f"{get_report_title(dataset)} — {REPORT_PLAN[dataset][name].title}"


def get_page_title(wildcards):
    return page_title(wildcards.dataset, wildcards.page)


# The variant pages (one per variant, all of reports/notebooks/variant.py) are rendered by one job,
# render_variant_pages, one after another in one kernel: a page's own kernel start and imports cost
# about 4 s of CPU, more than its figures (docs/performance.md). Every other page is a job of its own.
VARIANT_PAGES = [f"variant-{variant}" for variant in VARIANTS]


def get_variant_pages_inputs(wildcards):
    """What the variant pages read, all of them: one notebook, the sweep's tables, each variant's runs."""
    inputs = {"also_reads": set()}
    for name in VARIANT_PAGES:
        for key, value in page_inputs(wildcards.dataset, name).items():
            if key == "also_reads":
                inputs["also_reads"].update(value)
            else:
                inputs[key] = value
    return {**inputs, "also_reads": sorted(inputs["also_reads"])}


def get_variant_pages(wildcards):
    """lossbench report --pages: each variant page's HTML, title, parameters and executed notebook."""
    dataset = wildcards.dataset
    return json.dumps(
        [
            {
                "out": f"reports/html/{dataset}/{name}.html",
                "title": page_title(dataset, name),
                "parameters": page_parameters(dataset, name),
                "executed_notebook": f"logs/{dataset}/report/{name}.ipynb",
            }
            for name in VARIANT_PAGES
        ],
        sort_keys=True,
    )


def get_index_title(wildcards):
    return get_report_title(wildcards.dataset)


def get_nav(wildcards):
    pages = get_report_pages(wildcards.dataset)
    return json.dumps([{"href": p["href"], "title": p["title"]} for p in pages])


def get_index_pages(wildcards):
    return json.dumps(get_report_pages(wildcards.dataset))


def get_other_pages(wildcards):
    return expand(
        "reports/html/{dataset}/{page}.html",
        dataset=wildcards.dataset,
        page=REPORT_PLAN[wildcards.dataset],
    )


# --- the same-network gradient probe (probe:, rules/probe.smk) ---

from lossbench.config import probe_run_settings

# the probe block, defaults resolved (loss, lr, epochs); None when it is off
PROBE = SWEEP.probe


def get_probe_args(wildcards):
    """The probed run's flags: the sweep's settings with the probe's loss, lr and epochs (a changed
    value reruns only the probe), the reference, the probe's sizes, and the user's loss files.
    """
    settings = probe_run_settings(config, PROBE)
    args = train_args(
        {**settings, "dataset": wildcards.dataset, "device": get_train_device()}
    ).split()
    return args + [
        "--reference",
        PROBE["reference"],
        "--points-per-epoch",
        str(PROBE["points_per_epoch"]),
        "--probe-size",
        str(PROBE["probe_size"]),
        *loss_file_args(PROBE["loss"]),
        *loss_file_args(PROBE["reference"]),
    ]


def get_probe_files(dataset):
    """Every probed run's probe.csv; none when the probe is off."""
    if PROBE is None:
        return []
    return expand(
        "results/{dataset}/probe/{loss}/seed-{seed}/probe.csv",
        dataset=dataset,
        loss=PROBE["loss"],
        seed=PROBE["seeds"],
    )


def get_probe_tables(dataset):
    """The gathered probe table the why page reads, by parameter name; none when the probe is off."""
    if PROBE is None:
        return {}
    return {"probe_csv": f"results/{dataset}/tables/probe.csv"}
