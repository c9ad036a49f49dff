if config["pack_seeds"]:

    # One job per variant: all its seeds stacked in one process (lossbench train-seeds).
    rule train_seeds:
        input:
            data=get_data,
        output:
            metrics=expand(
                "results/{{dataset}}/runs/{{variant}}/seed-{seed}/metrics.json",
                seed=config["seeds"],
            ),
            history=expand(
                "results/{{dataset}}/runs/{{variant}}/seed-{seed}/history.csv",
                seed=config["seeds"],
            ),
            model=expand(
                "results/{{dataset}}/runs/{{variant}}/seed-{seed}/model.pt",
                seed=config["seeds"],
            ),
            predictions=expand(
                "results/{{dataset}}/runs/{{variant}}/seed-{seed}/predictions.csv",
                seed=config["seeds"],
            ),
        log:
            "logs/{dataset}/train/{variant}/seeds.log",
        benchmark:
            "benchmarks/{dataset}/train/{variant}/seeds.tsv"
        threads: 2
        resources:
            mem_mb=4000,
        params:
            args=get_train_args,
            seeds=[str(seed) for seed in config["seeds"]],
            out_dir="results/{dataset}/runs/{variant}",
        shell:
            "lossbench train-seeds {params.args:q} --seeds {params.seeds:q} --threads {threads} "
            "--data {input.data:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"

else:

    rule train:
        input:
            data=get_data,
        output:
            metrics="results/{dataset}/runs/{variant}/seed-{seed}/metrics.json",
            history="results/{dataset}/runs/{variant}/seed-{seed}/history.csv",
            model="results/{dataset}/runs/{variant}/seed-{seed}/model.pt",
            predictions="results/{dataset}/runs/{variant}/seed-{seed}/predictions.csv",
        log:
            "logs/{dataset}/train/{variant}/seed-{seed}.log",
        benchmark:
            "benchmarks/{dataset}/train/{variant}/seed-{seed}.tsv"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            args=get_train_args,
            out_dir=subpath(output.metrics, parent=True),
        shell:
            "lossbench train {params.args:q} --seed {wildcards.seed:q} --threads {threads} "
            "--data {input.data:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule gather:
    input:
        unpack(get_all_run_files),
    output:
        runs="results/{dataset}/tables/runs.csv",
        epochs="results/{dataset}/tables/epochs.csv",
        summary="results/{dataset}/tables/summary.csv",
    log:
        "logs/{dataset}/gather.log",
    localrule: True
    params:
        out_dir=subpath(output.summary, parent=True),
    shell:
        "lossbench gather --runs {input.metrics:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
