# The number-of-classes study (config classes_study:): for each C, the dataset's first C classes
# (labels 0 .. C-1, the network with C outputs), each study loss trained over its lr grid at C (the
# reference grid scaled by the declared gradient scales: CLASSES_STUDY_GRIDS, common.smk) over the
# study's seeds, written like every other run (same `lossbench train`, with --classes) under
# results/<dataset>/classes-study/C-<C>/<loss>/lr-<lr>/seed-<s>/, gathered into
# tables/classes_study_{runs,epochs,summary}.csv for the "Number of classes" page. One job per run
# (train_classes_study), or packed one job per (C, loss) grid (train_classes_study_grid): with pack_seeds
# true, and under auto on CUDA and wherever the study's runs are one epoch long (PACK_CLASSES_STUDY).
# Every rule stays defined whatever the config (snakemake -R names them all); those the config
# does not use match nothing.


rule train_classes_study:
    input:
        data=get_data,
    output:
        **get_run_outputs(
            "results/{dataset}/classes-study/C-{classes}/{loss}/lr-{lr}/seed-{seed}"
        ),
    log:
        run="logs/{dataset}/classes-study/C-{classes}/{loss}/lr-{lr}/seed-{seed}.log",
        benchmark="benchmarks/{dataset}/classes-study/C-{classes}/{loss}/lr-{lr}/seed-{seed}.tsv",
    wildcard_constraints:
        classes=get_constraint(
            CLASSES_STUDY["classes"]
            if CLASSES_STUDY and not PACK_CLASSES_STUDY
            else []
        ),
        loss=get_constraint(CLASSES_STUDY["losses"] if CLASSES_STUDY else []),
        lr=get_constraint(
            {lr_text(lr) for grid in CLASSES_STUDY_GRIDS.values() for lr in grid}
        ),
    threads: 1
    resources:
        mem_mb=2000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_classes_study_train_args,
        out_dir=subpath(output.metrics, parent=True),
    shell:
        "lossbench train {params.args:q} --seed {wildcards.seed:q} --threads {threads} "
        "--data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1"


# One job per (C, loss): its whole lr x seed grid stacked in one process, each run with its own lr
# (lossbench train-seeds --lrs); a changed grid retrains that (C, loss)'s grid.
rule train_classes_study_grid:
    input:
        data=get_data,
    output:
        # one file per job, not every run file it writes (PACKED_DONE, common.smk)
        done=f"results/{{dataset}}/classes-study/C-{{classes}}/{{loss}}/{PACKED_DONE}",
    log:
        run="logs/{dataset}/classes-study/C-{classes}/{loss}/grid.log",
        benchmark="benchmarks/{dataset}/classes-study/C-{classes}/{loss}/grid.tsv",
    wildcard_constraints:
        classes=get_constraint(
            CLASSES_STUDY["classes"] if CLASSES_STUDY and PACK_CLASSES_STUDY else []
        ),
        loss=get_constraint(CLASSES_STUDY["losses"] if CLASSES_STUDY else []),
    threads: PACKED_THREADS
    resources:
        mem_mb=4000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_classes_study_grid_args,
        lrs=get_classes_study_grid_lrs,
        seeds=[
            str(seed) for seed in (CLASSES_STUDY or defaults("classes_study"))["seeds"]
        ],
        out_dir="results/{dataset}/classes-study/C-{classes}/{loss}",
    shell:
        "lossbench train-seeds {params.args:q} --lrs {params.lrs:q} --seeds {params.seeds:q} "
        "--threads {threads} --data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1 "
        "&& touch {output.done:q}"


rule gather_classes_study:
    input:
        unpack(get_all_classes_study_run_files),
    output:
        runs="results/{dataset}/tables/classes_study_runs.csv",
        epochs="results/{dataset}/tables/classes_study_epochs.csv",
        summary="results/{dataset}/tables/classes_study_summary.csv",
        # what gather wrote (SHA-256 per table): pages refuse a table that differs from it
        gathered="results/{dataset}/tables/classes_study_gathered.json",
    log:
        "logs/{dataset}/gather_classes_study.log",
    wildcard_constraints:
        dataset=get_constraint(DATASETS if CLASSES_STUDY else []),
    localrule: True
    params:
        metrics=get_gathered_classes_study_metrics,
        out_dir=subpath(output.summary, parent=True),
    shell:
        "lossbench gather --prefix classes_study_ --runs {params.metrics:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"
