rule render_page:
    input:
        unpack(get_page_inputs),
    output:
        report(
            "reports/html/{dataset}/{page}.html",
            category="Report",
            labels={"page": "{page}"},
        ),
    log:
        "logs/{dataset}/report/{page}.log",
    conda:
        "../../environment.yml"
    params:
        parameters=get_page_parameters,
        title=get_page_title,
        nav=get_nav(),
    shell:
        "lossbench report --notebook {input.notebook} --out {output} --title {params.title:q} "
        "--parameters {params.parameters:q} --nav {params.nav:q} > {log} 2>&1"


rule render_variant_page:
    input:
        unpack(get_variant_page_inputs),
    output:
        report(
            "reports/html/{dataset}/variant-{variant}.html",
            category="Variants",
            labels={"variant": "{variant}"},
        ),
    log:
        "logs/{dataset}/report/variant-{variant}.log",
    conda:
        "../../environment.yml"
    params:
        parameters=get_variant_page_parameters,
        title=get_page_title,
        nav=get_nav(),
    shell:
        "lossbench report --notebook {input.notebook} --out {output} --title {params.title:q} "
        "--parameters {params.parameters:q} --nav {params.nav:q} > {log} 2>&1"


rule render_index:
    input:
        pages=get_other_pages,
        summary=TABLES["summary_csv"],
    output:
        report(
            "reports/html/{dataset}/index.html",
            category="Report",
            labels={"page": "index"},
        ),
    log:
        "logs/{dataset}/report/index.log",
    conda:
        "../../environment.yml"
    params:
        pages=json.dumps(get_report_pages()),
        title=get_index_title,
    shell:
        "lossbench index --out {output} --title {params.title:q} --pages {params.pages:q} "
        "--summary {input.summary} > {log} 2>&1"
