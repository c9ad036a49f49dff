# The same-network gradient probe (config probe:, "The residual factor" on the why page): one run
# of the probed loss trained as `lossbench train` would (same split, initial weights, batch order),
# both losses' gradients read on the same network every few steps (`lossbench probe`), under
# results/<dataset>/probe/<loss>/seed-<s>/probe.csv, gathered into tables/probe.csv (recorded in
# tables/probe_gathered.json: pages refuse a table edited by hand). With the block off the rules
# stay defined (their names never change with the config) and match nothing.


rule train_probe:
    input:
        data=get_data,
    output:
        "results/{dataset}/probe/{loss}/seed-{seed}/probe.csv",
    log:
        run="logs/{dataset}/probe/{loss}/seed-{seed}.log",
        benchmark="benchmarks/{dataset}/probe/{loss}/seed-{seed}.tsv",
    wildcard_constraints:
        loss=get_constraint([PROBE["loss"]] if PROBE else []),
    # started early, like the horizon runs: one long run that would otherwise keep the why page waiting
    priority: 1
    threads: 1
    resources:
        mem_mb=2000,
        gpu=get_train_gpus,
        cpu_training=get_train_cpus,
    params:
        args=get_probe_args,
    shell:
        "lossbench probe {params.args:q} --seed {wildcards.seed:q} --threads {threads} "
        "--data {input.data:q} --out {output:q} "
        "--benchmark {log.benchmark:q} > {log.run:q} 2>&1"


rule gather_probe:
    input:
        lambda wildcards: get_probe_files(wildcards.dataset),
    output:
        table="results/{dataset}/tables/probe.csv",
        # what gather-probe wrote (its SHA-256): pages refuse a table that differs from it
        gathered="results/{dataset}/tables/probe_gathered.json",
    log:
        "logs/{dataset}/gather_probe.log",
    wildcard_constraints:
        dataset=get_constraint(DATASETS if PROBE else []),
    localrule: True
    params:
        out_dir=subpath(output.table, parent=True),
    shell:
        "lossbench gather-probe --probes {input:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
