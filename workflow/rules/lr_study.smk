# The learning-rate study (config lr_study:): each study loss trained at every lr of the grid over
# the study's seeds, written like every other run (same `lossbench train`, same files and
# provenance) under results/<dataset>/lr-study/<loss>/lr-<lr>/seed-<s>/, gathered into
# tables/lr_study_{runs,epochs,summary}.csv for the "Learning rate" page. A point the sweep
# already trains is read from the sweep (get_lr_study_run_folder). Diverging runs are results
# (status diverged), not failures. One job per run (train_lr_study), or packed (PACK_SHAPE, common.smk):
# stacked, one job per loss (train_lr_study_grid); sequential, one job per (loss, seed)
# (train_lr_study_seed). Every rule stays defined whatever the config (snakemake -R names them
# all); those the config does not use match nothing.


rule train_lr_study:
    input:
        data=get_data,
    output:
        **get_run_outputs("results/{dataset}/lr-study/{loss}/lr-{lr}/seed-{seed}"),
    log:
        run="logs/{dataset}/lr-study/{loss}/lr-{lr}/seed-{seed}.log",
        benchmark="benchmarks/{dataset}/lr-study/{loss}/lr-{lr}/seed-{seed}.tsv",
    wildcard_constraints:
        loss=get_constraint(LR_STUDY["losses"] if LR_STUDY and not PACK_SEEDS else []),
        lr=get_constraint(LR_BY_TEXT),
    threads: 1
    resources:
        mem_mb=2000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_lr_study_train_args,
        out_dir=subpath(output.metrics, parent=True),
    shell:
        "lossbench train {params.args:q} --seed {wildcards.seed:q} --threads {threads} "
        "--data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1"


# One job per loss: its whole lr x seed grid stacked in one process, each run with its own lr
# (lossbench train-seeds --lrs); a changed grid retrains that loss's grid.
rule train_lr_study_grid:
    input:
        data=get_data,
    output:
        # one file per job, not every run file it writes (PACKED_DONE, common.smk)
        done=f"results/{{dataset}}/lr-study/{{loss}}/{PACKED_DONE}",
    log:
        run="logs/{dataset}/lr-study/{loss}/grid.log",
        benchmark="benchmarks/{dataset}/lr-study/{loss}/grid.tsv",
    wildcard_constraints:
        loss=get_constraint(
            LR_STUDY["losses"] if LR_STUDY and PACK_SHAPE == STACKED else []
        ),
    threads: 2
    resources:
        mem_mb=4000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_lr_study_grid_args,
        lrs=get_lr_study_grid_lrs,
        seeds=[str(seed) for seed in LR_GRID["seeds"]],
        out_dir="results/{dataset}/lr-study/{loss}",
    shell:
        "lossbench train-seeds {params.args:q} --lrs {params.lrs:q} --seeds {params.seeds:q} "
        "--shape stacked --threads {threads} --data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1 "
        "&& touch {output.done:q}"


# Sequential (pack_seeds auto on CPU): one job per (loss, seed), the seed's lrs one after another in one
# process, each run bit for bit its single run; the points the sweep trains are read from it, not
# trained here. Six jobs of about the sweep's jobs' size (not three twice as long): the last to end on 2
# cores leaves one idle for less.
rule train_lr_study_seed:
    input:
        data=get_data,
    output:
        # one file per job, not every run file it writes (PACKED_DONE, common.smk)
        done=f"results/{{dataset}}/lr-study/{{loss}}/seed-{{seed}}.{PACKED_DONE}",
    log:
        run="logs/{dataset}/lr-study/{loss}/seed-{seed}.log",
        benchmark="benchmarks/{dataset}/lr-study/{loss}/seed-{seed}.tsv",
    wildcard_constraints:
        loss=get_constraint(
            LR_STUDY["losses"] if LR_STUDY and PACK_SHAPE == SEQUENTIAL else []
        ),
    priority: 1
    threads: 1
    resources:
        mem_mb=2000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_lr_study_grid_args,
        lrs=lambda wildcards: get_lr_study_seed_lrs(wildcards.loss, wildcards.seed),
        out_dir="results/{dataset}/lr-study/{loss}",
    shell:
        "lossbench train-seeds {params.args:q} --lrs {params.lrs:q} --seeds {wildcards.seed:q} "
        "--shape sequential --threads {threads} --data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1 && touch {output.done:q}"


rule gather_lr_study:
    input:
        unpack(get_all_lr_study_run_files),
    output:
        runs="results/{dataset}/tables/lr_study_runs.csv",
        epochs="results/{dataset}/tables/lr_study_epochs.csv",
        summary="results/{dataset}/tables/lr_study_summary.csv",
        # what gather wrote (SHA-256 per table): pages refuse a table that differs from it
        gathered="results/{dataset}/tables/lr_study_gathered.json",
    log:
        "logs/{dataset}/gather_lr_study.log",
    wildcard_constraints:
        dataset=get_constraint(DATASETS if LR_STUDY else []),
    localrule: True
    params:
        metrics=get_gathered_lr_study_metrics,
        out_dir=subpath(output.summary, parent=True),
    shell:
        "lossbench gather --prefix lr_study_ --runs {params.metrics:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"
