# Slow, or stuck? Long-horizon runs (config horizon:): each horizon variant trained to the
# horizon's epoch budget over its seeds, written like every other run (same `lossbench train`,
# same files and provenance) under results/<dataset>/horizon/, gathered into
# tables/horizon_{runs,epochs,summary}.csv for the why page's last section. With the block off
# the rules stay defined (their names never change with the config) and match nothing.


rule train_horizon:
    input:
        data=get_data,
    output:
        **get_run_outputs("results/{dataset}/horizon/{variant}/seed-{seed}"),
    log:
        run="logs/{dataset}/horizon/{variant}/seed-{seed}.log",
        benchmark="benchmarks/{dataset}/horizon/{variant}/seed-{seed}.tsv",
    wildcard_constraints:
        variant=get_constraint(HORIZON["variants"] if HORIZON else []),
    # started before the sweep's short runs: a horizon run is four times as long, and one
    # started last would keep the why page waiting after everything else is done
    priority: 1
    threads: 1
    resources:
        mem_mb=2000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_horizon_train_args,
        out_dir=subpath(output.metrics, parent=True),
    shell:
        "lossbench train {params.args:q} --seed {wildcards.seed:q} --threads {threads} "
        "--data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1"


rule gather_horizon:
    input:
        unpack(get_all_horizon_run_files),
    output:
        runs="results/{dataset}/tables/horizon_runs.csv",
        epochs="results/{dataset}/tables/horizon_epochs.csv",
        summary="results/{dataset}/tables/horizon_summary.csv",
        # what gather wrote (SHA-256 per table): pages refuse a table that differs from it
        gathered="results/{dataset}/tables/horizon_gathered.json",
    log:
        "logs/{dataset}/gather_horizon.log",
    wildcard_constraints:
        dataset=get_constraint(DATASETS if HORIZON else []),
    localrule: True
    params:
        out_dir=subpath(output.summary, parent=True),
    shell:
        "lossbench gather --prefix horizon_ --runs {input.metrics:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"
