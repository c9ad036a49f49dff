# Training the sweep: one job per run (rule train, pack_seeds false), or packed one job per variant, all
# its seeds in one process (rule train_seeds, lossbench train-seeds): stacked (true, or auto on CUDA) or one
# after another, each run bit for bit its single run (auto on CPU); PACK_SHAPE, common.smk.
# Both rules are always defined, so `snakemake -R train train_seeds ...` means the same in every
# config; the shape the resolved pack_seeds does not use matches no variant. Training on CUDA, each
# job asks for one gpu (get_train_gpus; the default profile's `resources: gpu:` is the limit).
# Every training job (here and in the studies' rules) writes its benchmarks/ record itself at its end
# (lossbench --benchmark: wall, peak memory, I/O and CPU in Snakemake's benchmark columns), a log of the
# job: Snakemake's benchmark: directive samples the job's processes twice a second, ~10 ms of the
# Snakemake process's CPU a sample on a torch process (~13 s in the default pipeline on 2 cores).


rule train:
    input:
        data=get_data,
    output:
        **get_run_outputs("results/{dataset}/runs/{variant}/seed-{seed}"),
    log:
        run="logs/{dataset}/train/{variant}/seed-{seed}.log",
        benchmark="benchmarks/{dataset}/train/{variant}/seed-{seed}.tsv",
    wildcard_constraints:
        variant=get_constraint([] if PACK_SEEDS else VARIANTS),
    threads: 1
    resources:
        mem_mb=2000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_train_args,
        out_dir=subpath(output.metrics, parent=True),
    shell:
        "lossbench train {params.args:q} --seed {wildcards.seed:q} --threads {threads} "
        "--data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1"


rule train_seeds:
    input:
        data=get_data,
    output:
        # one file per job, not every run file it writes (PACKED_DONE, common.smk)
        done=f"results/{{dataset}}/runs/{{variant}}/{PACKED_DONE}",
    log:
        run="logs/{dataset}/train/{variant}/seeds.log",
        benchmark="benchmarks/{dataset}/train/{variant}/seeds.tsv",
    wildcard_constraints:
        variant=get_constraint(VARIANTS if PACK_SEEDS else []),
    # first: ten of the report's twelve pages need only the sweep, and render while the studies train
    priority: 2
    threads: PACKED_THREADS
    resources:
        mem_mb=4000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_train_args,
        seeds=[str(seed) for seed in config["seeds"]],
        shape=PACK_SHAPE or STACKED,
        out_dir="results/{dataset}/runs/{variant}",
    shell:
        "lossbench train-seeds {params.args:q} --seeds {params.seeds:q} --shape {params.shape} --threads {threads} "
        "--data {input.data:q} --out-dir {params.out_dir:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1 && touch {output.done:q}"


rule gather:
    input:
        unpack(get_all_run_files),
    output:
        runs="results/{dataset}/tables/runs.csv",
        epochs="results/{dataset}/tables/epochs.csv",
        summary="results/{dataset}/tables/summary.csv",
        # what gather wrote (SHA-256 per table): pages refuse a table that differs from it
        gathered="results/{dataset}/tables/gathered.json",
    log:
        "logs/{dataset}/gather.log",
    localrule: True
    params:
        metrics=get_gathered_metrics,
        out_dir=subpath(output.summary, parent=True),
    shell:
        "lossbench gather --runs {params.metrics:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
