# `lossbench data` reads the mirror from $LOSSBENCH_DATA_MIRROR, which overrides config's
# data_mirror when set and not empty; export_mirror makes it absolute once, here. Not a param:
# the mirror is a source whose files are verified by SHA-256, so moving it must not rerun the
# data rule (and with it every training job).
export_mirror(config["data_mirror"])


rule prepare_data:
    output:
        data="resources/data/{dataset}/data.pt",
        manifest="resources/data/{dataset}/manifest.json",
    log:
        "logs/{dataset}/data.log",
    localrule: True
    params:
        out_dir=subpath(output.data, parent=True),
    shell:
        "lossbench data --dataset {wildcards.dataset:q} --out {params.out_dir:q} "
        "> {log:q} 2>&1"
