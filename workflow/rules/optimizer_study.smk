# The optimiser control (config optimizer_study:): each study loss trained with another optimiser
# (Adam by default, whose step does not scale with the gradient) at every lr of the study's grid over
# its seeds, with the sweep's other settings, written like every other run (same `lossbench train`,
# with --optimizer) under results/<dataset>/optimizer-study/<optimizer>/<loss>/lr-<lr>/seed-<s>/,
# gathered into tables/optimizer_study_{runs,epochs,summary}.csv. If the gap between the losses
# closes there, the gradient's scale explains it. One job per run (train_optimizer_study), or with
# pack_seeds one job per loss (train_optimizer_study_grid). Every rule stays defined whatever the
# config (snakemake -R names them all); those the config does not use match nothing.


rule train_optimizer_study:
    input:
        data=get_data,
    output:
        **get_run_outputs(
            "results/{dataset}/optimizer-study/{optimizer}/{loss}/lr-{lr}/seed-{seed}"
        ),
    log:
        run="logs/{dataset}/optimizer-study/{optimizer}/{loss}/lr-{lr}/seed-{seed}.log",
        benchmark="benchmarks/{dataset}/optimizer-study/{optimizer}/{loss}/lr-{lr}/seed-{seed}.tsv",
    wildcard_constraints:
        optimizer=get_constraint(
            [OPTIMIZER_STUDY["optimizer"]] if OPTIMIZER_STUDY else []
        ),
        loss=get_constraint(
            OPTIMIZER_STUDY["losses"] if OPTIMIZER_STUDY and not PACK_SEEDS else []
        ),
        lr=get_constraint(OPTIMIZER_LR_BY_TEXT),
    threads: 1
    resources:
        mem_mb=2000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_optimizer_study_train_args,
        out_dir=subpath(output.metrics, parent=True),
    shell:
        "lossbench train {params.args:q} --seed {wildcards.seed:q} --threads {threads} "
        "--data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1"


# One job per loss: its whole lr x seed grid stacked in one process, each run with its own lr
# (lossbench train-seeds --lrs); a changed grid retrains that loss's grid.
rule train_optimizer_study_grid:
    input:
        data=get_data,
    output:
        # one file per job, not every run file it writes (PACKED_DONE, common.smk)
        done=f"results/{{dataset}}/optimizer-study/{{optimizer}}/{{loss}}/{PACKED_DONE}",
    log:
        run="logs/{dataset}/optimizer-study/{optimizer}/{loss}/grid.log",
        benchmark="benchmarks/{dataset}/optimizer-study/{optimizer}/{loss}/grid.tsv",
    wildcard_constraints:
        optimizer=get_constraint(
            [OPTIMIZER_STUDY["optimizer"]] if OPTIMIZER_STUDY else []
        ),
        loss=get_constraint(
            OPTIMIZER_STUDY["losses"] if OPTIMIZER_STUDY and PACK_SEEDS else []
        ),
    # first of all: the pipeline's longest jobs (a loss's whole grid at Adam's cost per epoch); started
    # after the short ones, they would train alone on one core at the end
    priority: 3
    threads: PACKED_THREADS
    resources:
        mem_mb=4000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_optimizer_study_grid_args,
        lrs=list(OPTIMIZER_LR_BY_TEXT),
        seeds=[
            str(seed)
            for seed in (OPTIMIZER_STUDY or defaults("optimizer_study"))["seeds"]
        ],
        out_dir="results/{dataset}/optimizer-study/{optimizer}/{loss}",
    shell:
        "lossbench train-seeds {params.args:q} --lrs {params.lrs:q} --seeds {params.seeds:q} "
        "--threads {threads} --data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1 "
        "&& touch {output.done:q}"


rule gather_optimizer_study:
    input:
        unpack(get_all_optimizer_study_run_files),
    output:
        runs="results/{dataset}/tables/optimizer_study_runs.csv",
        epochs="results/{dataset}/tables/optimizer_study_epochs.csv",
        summary="results/{dataset}/tables/optimizer_study_summary.csv",
        # what gather wrote (SHA-256 per table): pages refuse a table that differs from it
        gathered="results/{dataset}/tables/optimizer_study_gathered.json",
    log:
        "logs/{dataset}/gather_optimizer_study.log",
    wildcard_constraints:
        dataset=get_constraint(DATASETS if OPTIMIZER_STUDY else []),
    localrule: True
    params:
        metrics=get_gathered_optimizer_study_metrics,
        out_dir=subpath(output.summary, parent=True),
    shell:
        "lossbench gather --prefix optimizer_study_ --runs {params.metrics:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"
