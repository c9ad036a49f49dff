"""Report rendering: offline HTML, MathML formulas, literal titles, no CDN scripts."""

from __future__ import annotations

import contextlib
import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from lossbench import report, tables
from lossbench.errors import LossbenchError

NOTEBOOK = '''# %% [markdown]
# Gradient: $p - y$, and in display:
#
# $$\\frac{\\partial L}{\\partial z} = \\frac{2}{C} J (p - y)$$
#
# Run `echo $HOME/$USER` for $5 and $6.

# %% tags=["parameters"]
title = "default"
marker = "unused"

# %%
from lossbench import report
display(report.heading(title))
print("marker is", marker)

# %%
from IPython.display import Markdown
display(Markdown("An output's formula $C^2/2$ and its `$PATH`."))
'''


def mathml(formula: str, display: str = "inline") -> str:
    from latex2mathml.converter import convert

    return convert(formula, display=display)


def formulas(page: str) -> list[tuple[str, str]]:
    """Each <math> of a page as (display, content), entities decoded (the page template re-serialises
    the HTML: attributes in its order, characters for entities)."""
    found = re.findall(r'<math\b([^>]*)>(.*?)</math>', page, re.S)
    return [(re.search(r'display="(\w+)"', attrs)[1], html.unescape(body)) for attrs, body in found]


def test_inline_and_display_math_become_mathml():
    out = report.markdown_to_html("inline $p - y$ and\n\n$$\\frac{2}{C}$$\n\nand $\\lVert y \\rVert$ here")
    assert mathml("p - y") in out and mathml("\\frac{2}{C}", "block") in out and mathml("\\lVert y \\rVert") in out
    assert "$" not in out
    two_lines = report.markdown_to_html("$$a +\nb$$")  # display math over lines, as the why page has it
    assert mathml("a +\nb", "block") in two_lines and "$" not in two_lines


def test_dollars_in_code_stay_verbatim():
    out = report.markdown_to_html("Run `echo $HOME/$USER` and\n\n```bash\nx=$$ y=$HOME $z$\n```\n\n    $a$ indented\n")
    assert "<code>echo $HOME/$USER</code>" in out and "<math" not in out and "MATH" not in out
    assert "x=$$ y=$HOME $z$\n" in re.sub(r"<[^>]+>", "", out) and "<code>$a$ indented</code>" in out


def test_currency_is_not_math():
    """pandoc's rule: an opening $ has a non-space character right after it, a closing $ a non-space
    character right before it and no digit right after it."""
    for text in ("It cost $5 and $6 in all.", "between $5 and $ 6", "$5.00 or $10", "cost $5 only"):
        assert report.markdown_to_html(text) == f"<p>{text}</p>\n", text
    out = report.markdown_to_html("cost $5 only; inline $p - y$ here")
    assert out.startswith("<p>cost $5 only; inline <math") and mathml("p - y") in out
    assert "<math" in report.markdown_to_html("$x$") and "<math" not in report.markdown_to_html("$x$5")


def test_render_is_offline_with_formulas_as_mathml(tmp_path):
    source = tmp_path / "page.py"
    source.write_text(NOTEBOOK)
    out = tmp_path / "html" / "page.html"
    report.render(source, out, {"title": "A page", "marker": "set by papermill"}, "A page",
                  nav=[{"href": "index.html", "title": "Overview"}])
    page = out.read_text()
    assert not re.search(r"<script[^>]+src=", page), "no external scripts (CDN)"
    assert not re.search(r"""(src|href)=["']https?://""", page), "no network fetches"
    assert "<math" in page and "<mfrac>" in page and "$$" not in page
    # a markdown cell's and a markdown output's formulas
    display = mathml("\\frac{\\partial L}{\\partial z} = \\frac{2}{C} J (p - y)", "block")
    assert formulas(page) == formulas(mathml("p - y") + display + mathml("C^2/2"))
    assert "<code>echo $HOME/$USER</code> for $5 and $6." in page and "<code>$PATH</code>" in page
    assert "marker is set by papermill" in page and 'href="index.html"' in page
    assert list((tmp_path / "html").iterdir()) == [out]


def test_index_links_every_page_and_flags_divergence(tmp_path):
    summary = pd.DataFrame({"variant": ["ce", "bad"], "lr": [0.1, 1e4], "n": [2, 2], "n_diverged": [0, 2],
                            "test_accuracy_mean": [0.9, 0.1], "test_accuracy_sd": [0.01, 0.0]})
    tables.write_gathered({"summary": summary}, tmp_path)
    pages = [{"href": "index.html", "title": "Overview"},
             {"href": "comparison.html", "title": "Comparison", "description": "x"}]
    report.write_index(tmp_path / "index.html", "T <i>", pages, tmp_path / "summary.csv")
    page = (tmp_path / "index.html").read_text()
    assert 'href="comparison.html"' in page and 'href="variant-bad.html"' in page
    assert "diverged: 2" in page and "T &lt;i&gt;" in page
    assert 'href="index.html"' not in page  # no link to itself
    assert "learning rate</b>" not in page  # no study, no word of it
    report.write_index(tmp_path / "index.html", "T", [*pages, {"href": "learning-rate.html", "title": "Learning rate"}],
                       tmp_path / "summary.csv")
    assert ("<b>learning rate</b> compares the losses each at its selected learning rate (the highest mean "
            "validation accuracy of its grid).") in (tmp_path / "index.html").read_text()


def test_a_kernel_that_dies_at_start_is_started_again(tmp_path, monkeypatch):
    import papermill

    calls = []
    real = papermill.execute_notebook

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    source = tmp_path / "page.py"
    source.write_text(NOTEBOOK)
    notebook = report.execute(source, {"title": "t"})
    assert len(calls) == 2 and any("marker is unused" in str(c.get("outputs")) for c in notebook.cells)


def test_pages_rendered_at_once_talk_to_their_kernels_over_sockets_of_their_own(tmp_path):
    """Over TCP, kernels started at once could pick the same free port (one died with "Address already in use"
    in a CI run); over Unix sockets in each render's own folder they cannot. Four renders at once, each in
    its own process as Snakemake runs them, all print their own marker."""
    import subprocess
    import sys

    manager = report.own_interpreter_kernel_manager(tmp_path)()
    assert manager.transport == "ipc" and manager.ip == str(tmp_path / "kernel")
    source = tmp_path / "page.py"
    source.write_text(NOTEBOOK)
    script = ("import sys; from lossbench import report; nb = report.execute(sys.argv[1], {'marker': sys.argv[2]}); "
              "print(any('marker is ' + sys.argv[2] in str(c.get('outputs')) for c in nb.cells))")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(source), f"m{i}"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in range(4)]
    results = [run.communicate(timeout=240) for run in runs]
    assert [out.strip() for out, _ in results] == ["True"] * 4, [err[-500:] for _, err in results]
    assert all("over TCP" not in err for _, err in results)  # ipykernel's warning for an unencrypted TCP kernel


def test_the_executed_notebook_is_kept_also_when_a_cell_fails(tmp_path):
    import nbformat
    import papermill

    source = tmp_path / "page.py"
    source.write_text(NOTEBOOK + '\n# %%\nraise RuntimeError("page broke here")\n')
    executed = tmp_path / "logs" / "page.ipynb"
    try:
        report.render(source, tmp_path / "page.html", {"title": "t"}, "t", executed=executed)
    except papermill.PapermillExecutionError as exc:
        assert "page broke here" in str(exc)
    else:
        raise AssertionError("the failing cell did not fail the page")
    kept = nbformat.read(executed, as_version=4)
    assert any("marker is unused" in str(c.get("outputs")) for c in kept.cells)  # cells before the failure ran
    assert "page broke here" in str(kept.cells[-1].get("outputs"))
    assert not (tmp_path / "page.html").exists()


def test_an_index_of_a_table_gather_did_not_write_is_refused(tmp_path):
    tables.write_gathered({"summary": pd.DataFrame({"variant": ["ce"], "lr": [0.1], "n": [2], "n_diverged": [0],
                                                    "test_accuracy_mean": [0.9], "test_accuracy_sd": [0.01]})},
                          tmp_path)
    (tmp_path / "summary.csv").write_text((tmp_path / "summary.csv").read_text().replace("0.9", "0.99"))
    with pytest.raises(tables.TableError, match=r"summary.csv is not the table gather wrote .* `snakemake -R gather`"):
        report.write_index(tmp_path / "index.html", "T", [], tmp_path / "summary.csv")
    assert not (tmp_path / "index.html").exists()


PAGE_OF_A_TABLE = """# %% tags=["parameters"]
title = "t"
summary_csv = ""

# %%
from lossbench import tables
tables.read_gathered(summary_csv)
"""


def test_a_page_given_a_table_gather_did_not_write_fails_with_that_one_error(tmp_path, capsys):
    """The issue's example: a row of a gathered table deleted by hand; the page is not written, and the
    one error names the file and the command that rebuilds it (no papermill traceback)."""
    from lossbench import cli

    summary = pd.DataFrame({"variant": ["a", "b"], "n": [2, 2]})
    tables.write_gathered({"summary": summary}, tmp_path / "tables")
    csv = tmp_path / "tables" / "summary.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:2]))  # a row deleted by hand
    source = tmp_path / "page.py"
    source.write_text(PAGE_OF_A_TABLE)
    with pytest.raises(LossbenchError) as error:
        report.render(source, tmp_path / "page.html", {"summary_csv": str(csv)}, "t")
    assert str(error.value).startswith(f"{csv} is not the table gather wrote (SHA-256 expected ")
    assert str(error.value).endswith("Rebuild it with `snakemake -R gather` (and the options you run snakemake with).")
    assert not (tmp_path / "page.html").exists()
    code = cli.main(["report", "--notebook", str(source), "--out", str(tmp_path / "page.html"), "--title", "t",
                     "--parameters", json.dumps({"summary_csv": str(csv)})])
    errors = [line.split(" ERROR lossbench: ")[-1] for line in capsys.readouterr().err.splitlines()
              if " ERROR " in line]
    assert code == 1 and errors == [str(error.value)]


# A page that shows what it finds of an earlier page in its kernel: its names, its open figures, and which
# kernel process runs it.
PAGE_OF_ONE_KERNEL = """# %% tags=["parameters"]
title = "t"
marker = "unset"

# %%
import os
import sys

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

left = sorted(name for name in ("seen", "figure") if name in globals())
display(Markdown(f"page {marker}: left by an earlier page: {left or 'nothing'}; open figures: {plt.get_fignums()}"))
print("kernel pid", os.getpid(), file=sys.stderr)  # in the executed notebook, never on the page
seen = marker
figure = plt.figure()  # left open, never shown

# %%
fig, ax = plt.subplots(figsize=(2, 1))
ax.plot([0, 1], [0, 1 if marker == "a" else 2]);
"""


def _without_cell_ids(page: str) -> str:
    return re.sub(r'id="cell-id=[0-9a-f-]+"', "", page)  # nbformat gives every cell a random id


def test_pages_rendered_in_one_kernel_see_nothing_of_each_other_and_equal_pages_rendered_alone(tmp_path):
    """render_pages runs its pages one after another in one kernel (the imports paid once): the second page finds
    none of the first's names or figures, and every page is the page its own kernel renders (cell ids aside)."""
    import nbformat

    source = tmp_path / "page.py"
    source.write_text(PAGE_OF_ONE_KERNEL)
    pages = [report.Page(tmp_path / "one" / f"{m}.html", {"title": m, "marker": m}, m, tmp_path / "one" / f"{m}.ipynb")
             for m in ("a", "b", "c")]
    report.render_pages(source, pages, nav=[{"href": "index.html", "title": "Overview"}])
    pids = set()
    for page in pages:
        text = Path(page.out_html).read_text()
        assert f"page {page.parameters['marker']}: left by an earlier page: nothing; open figures: []" in text
        assert text.count("<img") == 1
        outputs = str([c.get("outputs") for c in nbformat.read(page.executed, as_version=4).cells])
        pids.update(re.findall(r"kernel pid (\d+)", outputs))
        report.render(source, tmp_path / "alone" / f"{page.title}.html", page.parameters, page.title,
                      nav=[{"href": "index.html", "title": "Overview"}])
        assert _without_cell_ids(text) == _without_cell_ids((tmp_path / "alone" / f"{page.title}.html").read_text())
    assert len(pids) == 1  # one kernel ran the three pages
    a, b = (Path(p.out_html).read_text() for p in pages[:2])
    assert _without_cell_ids(a) != _without_cell_ids(b)  # the figure differs with the marker: a real comparison


def test_a_page_that_fails_in_a_shared_kernel_stops_the_pages_after_it_and_the_kernel_is_shut_down(tmp_path,
                                                                                                  monkeypatch):
    source = tmp_path / "page.py"
    source.write_text(PAGE_OF_ONE_KERNEL.replace("seen = marker",
                                                 'seen = marker\nassert marker != "b", "page b broke"'))
    pages = [report.Page(tmp_path / f"{m}.html", {"title": m, "marker": m}, m) for m in ("a", "b", "c")]
    kernels = []
    real = report.shared_kernel

    @contextlib.contextmanager
    def watched():
        with real() as km:
            kernels.append(km)
            yield km

    monkeypatch.setattr(report, "shared_kernel", watched)
    with pytest.raises(Exception, match="page b broke"):
        report.render_pages(source, pages)
    assert (tmp_path / "a.html").exists() and not (tmp_path / "b.html").exists() and not (tmp_path / "c.html").exists()
    assert len(kernels) == 1 and not kernels[0].has_kernel
