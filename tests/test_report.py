"""Report rendering: offline HTML, MathML formulas, literal titles, no CDN scripts."""

from __future__ import annotations

import re

import pandas as pd

from lossbench import report

NOTEBOOK = '''# %% [markdown]
# Gradient: $p - y$, and in display:
#
# $$\\frac{\\partial L}{\\partial z} = \\frac{2}{C} J (p - y)$$

# %% tags=["parameters"]
title = "default"
marker = "unused"

# %%
from lossbench import report
display(report.heading(title))
print("marker is", marker)
'''


def test_latex_becomes_mathml_and_plain_dollars_stay():
    out = report.latex_to_mathml("cost $5 only; inline $p - y$ and $$\\frac{2}{C}$$ here")
    assert 'display="inline"' in out and 'display="block"' in out and "<mfrac>" in out
    assert out.startswith("cost $5 only; inline <math")


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
    assert "marker is set by papermill" in page and 'href="index.html"' in page
    assert list((tmp_path / "html").iterdir()) == [out]


def test_index_links_every_page_and_flags_divergence(tmp_path):
    summary = pd.DataFrame({"variant": ["ce", "bad"], "lr": [0.1, 1e4], "n": [2, 2], "n_diverged": [0, 2],
                            "test_accuracy_mean": [0.9, 0.1], "test_accuracy_sd": [0.01, 0.0]})
    summary.to_csv(tmp_path / "summary.csv", index=False)
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
    assert "<b>learning rate</b> compares the losses each at its own best learning rate." in \
        (tmp_path / "index.html").read_text()


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
