rule prepare_data:
    output:
        data="resources/data/{dataset}/data.pt",
        manifest="resources/data/{dataset}/manifest.json",
    log:
        "logs/{dataset}/data.log",
    conda:
        "../../environment.yml"
    params:
        out_dir=subpath(output.data, parent=True),
    shell:
        "lossbench data --dataset {wildcards.dataset} --out {params.out_dir} "
        "> {log} 2>&1"
