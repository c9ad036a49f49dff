"""Render the HTML report: ``lossbench report`` (one page) and ``lossbench index``.

A page is a jupytext percent-format notebook (reports/notebooks/*.py):
  1. jupytext reads the source,
  2. papermill executes it with the given parameters (injected as Python literals, so a
     title with quotes or newlines stays text),
  3. nbconvert writes HTML without input cells, images embedded, through the ``lossbench``
     template: the lab template minus every CDN script (require.js, MathJax, mermaid), plus
     a navigation bar. Its markdown renderer (markdown cells and markdown outputs) writes each
     formula the markdown parser finds as MathML (latex2mathml; browsers render it natively, no
     network), so code spans and code blocks keep their ``$``. The result opens from disk
     offline and can be e-mailed.
"""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .atomic import atomic_path
from .errors import LossbenchError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
KERNEL_START_ATTEMPTS = 3
# pandoc's rule for $...$ (its tex_math_dollars): the opening $ has a non-space character right
# after it, the closing $ a non-space character right before it and no digit right after it. So
# "$5 and $6" is text (the second $ follows a space), "$p - y$" is math. nbconvert's own rule would
# read "5 and " as a formula.
INLINE_MATH = r"(?<![$\\])\$(?=[^\s$])(?P<math_inline_tex>[^$]*?[^\s$\\])\$(?!\d)"


def markdown_to_html(markdown: str) -> str:
    """HTML of a page's markdown as nbconvert renders it, with every formula MathML (a test's view
    of what ``to_html`` does to each markdown cell and markdown output)."""
    return _math_markdown(_mathml_renderer()(escape=False))(markdown)


def _mathml_renderer():
    r"""nbconvert's markdown renderer (``IPythonRenderer``), its math tokens written as MathML.

    The markdown parser finds the math: ``$$...$$`` and ``\[...\]`` (display), ``$...$`` (inline,
    ``INLINE_MATH``) and ``\begin{env}...\end{env}``, and never inside a code span or a code
    block, whose ``$`` stay verbatim. latex2mathml writes MathML, which browsers render without
    a script (the pages fetch nothing)."""
    from latex2mathml.converter import convert
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return convert(body.strip(), display="block")

        def inline_math(self, body: str) -> str:
            return convert(body.strip())

        def latex_environment(self, name: str, body: str) -> str:
            return convert(f"\\begin{{{name}}}{body}\\end{{{name}}}", display="block")

    return MathMLRenderer


def _math_markdown(renderer):
    """nbconvert's markdown parser with math (``MarkdownWithMath``), inline ``$`` read by ``INLINE_MATH``."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath, MathInlineParser

    class InlineParser(MathInlineParser):
        SPECIFICATION = {**MathInlineParser.SPECIFICATION, "inline_math_tex": INLINE_MATH}

    return MarkdownWithMath(renderer=renderer, inline=InlineParser(hard_wrap=False)).render


def _exporter(**options):
    """nbconvert's HTML exporter whose markdown filter (cells and markdown outputs) writes MathML."""
    from nbconvert import HTMLExporter
    from nbconvert.exporters.html import contextfilter

    renderer = _mathml_renderer()

    class PageExporter(HTMLExporter):
        @contextfilter
        def markdown2html(self, context, source):  # HTMLExporter.markdown2html with the MathML renderer
            cell = context.get("cell", {})
            return _math_markdown(renderer(
                escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options))(source)

    return PageExporter(**options)


def heading(title: str, level: int = 1):
    """An HTML heading showing ``title`` literally (escaped: no markup or script gets through)."""
    from IPython.display import HTML

    return HTML(f"<h{level}>{html.escape(title)}</h{level}>")


def preformatted(text: str):
    """Text shown verbatim in a monospace block (escaped)."""
    from IPython.display import HTML

    return HTML(f"<pre>{html.escape(text)}</pre>")


def own_interpreter_kernel_manager(socket_dir: str | os.PathLike):
    """A jupyter_client kernel manager class whose ``python3`` kernel runs this interpreter, talking to it over
    Unix sockets in ``socket_dir`` (a folder of this render's own).

    Over TCP (jupyter_client's default) a kernel's ports are picked free and then bound by the kernel: two
    pages rendered at once can pick the same port, and one kernel dies at start ("Address already in use") or
    never answers. Socket files in a folder no other render uses cannot collide.

    jupyter_client looks a kernel name up in the kernelspec folders of the Jupyter path first
    (``jupyter kernelspec list``), so a ``python3`` spec installed there for another Python would
    run the pages, with other packages or none. This manager's spec manager searches no folder
    and so falls back to ipykernel's native spec, whose command is ``sys.executable -m
    ipykernel_launcher`` of the process that renders (jupyter_client's ``KernelSpecManager``
    documents ``kernel_dirs`` as the folders searched; nbclient takes ``kernel_manager_class``).
    """
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from traitlets import default

    class OwnInterpreterSpecs(KernelSpecManager):
        @default("kernel_dirs")
        def _kernel_dirs_default(self) -> list[str]:
            return []

    class OwnInterpreterKernelManager(AsyncKernelManager):
        def client(self, **kwargs):
            """A client of this kernel, kept in ``open_clients`` for ``close_clients`` (papermill leaves the client it
            makes for a kernel it does not own open; the garbage collector would close it whenever it runs, and
            warn from there)."""
            client = super().client(**kwargs)
            self.__dict__.setdefault("open_clients", []).append(client)
            return client

        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return OwnInterpreterSpecs(data_dir=self.data_dir)

        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_default(self) -> str:
            return str(Path(socket_dir) / "kernel")

    return OwnInterpreterKernelManager


def execute(source: str | os.PathLike, parameters: dict, executed: str | os.PathLike | None = None,
            cwd: str | os.PathLike = ".", kernel: str = "python3", km=None):
    """jupytext -> papermill; returns the executed notebook node.

    ``executed``: where to keep papermill's output notebook, also when a cell fails (papermill
    writes it as it goes), so a failing or odd page can be opened and debugged. The ``python3``
    kernel is this interpreter (``own_interpreter_kernel_manager``), whatever the Jupyter path holds.
    ``km``: a kernel manager whose kernel runs this page and stays up for the next (``shared_kernel``);
    without it the page has a kernel of its own.
    """
    import jupytext
    import nbformat
    import papermill

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": kernel, "language": "python", "display_name": "Python 3"}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.ipynb"
        out = Path(executed) if executed is not None else Path(tmp) / "out.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, src)
        if km is not None:
            manager = {"km": km}
        elif kernel == "python3":
            manager = {"kernel_manager_class": own_interpreter_kernel_manager(tmp)}
        else:
            manager = {}
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                papermill.execute_notebook(str(src), str(out), parameters=parameters, kernel_name=kernel,
                                           language="python", cwd=str(cwd), progress_bar=False, **manager)
                break
            except RuntimeError as exc:
                # a kernel that dies at start (another kernel's, not ours: ports are socket files here,
                # own_interpreter_kernel_manager) is started again
                if "Kernel died before replying" not in str(exc) or attempt == KERNEL_START_ATTEMPTS:
                    raise
                if km is not None:  # the shared kernel is started again, by the next attempt
                    _shut_down(km)
                log.warning("kernel failed to start (%s); attempt %d of %d", exc, attempt + 1, KERNEL_START_ATTEMPTS)
        return nbformat.read(out, as_version=4)


# Run in a shared kernel between two pages: the first page's names gone (IPython's %reset: every name
# the user defined, the output history), its figures closed. Imported modules stay imported: that is the
# point, a page after the first starts with pandas, matplotlib and lossbench already loaded.
RESET_NAMESPACE = """get_ipython().run_line_magic("reset", "-f")
import matplotlib.pyplot
matplotlib.pyplot.close("all")
del matplotlib
"""


@contextmanager
def shared_kernel():
    """One ``python3`` kernel (this interpreter, over sockets of its own) for pages executed one after another:
    yields a kernel manager for ``execute(..., km=...)``, and ``reset(km)`` clears the namespace between two
    pages. A kernel's start and a page's imports cost about 4 s of CPU, more than a page's figures: pages of
    one notebook (the variant pages) rendered in one kernel pay the start once. The kernel is shut down on exit."""
    with tempfile.TemporaryDirectory() as sockets:
        km = own_interpreter_kernel_manager(sockets)(kernel_name="python3")
        try:
            yield km
        finally:
            _shut_down(km)


def close_clients(km) -> None:
    """Stop every client of ``km``'s kernel opened so far (its channels and its zmq context)."""
    for client in km.__dict__.pop("open_clients", []):
        client.stop_channels()


def _shut_down(km) -> None:
    """Stop ``km``'s kernel, if it has one (one that already died too); the next page would start another."""
    from jupyter_core.utils import run_sync

    close_clients(km)
    if km.has_kernel:
        run_sync(km.shutdown_kernel)(now=True)


def reset(km) -> None:
    """``RESET_NAMESPACE`` in ``km``'s kernel: the next page sees none of the last page's names or figures."""
    from jupyter_core.utils import run_sync

    client = km.client()
    client.start_channels()
    try:
        run_sync(client.wait_for_ready)(timeout=60)
        reply = run_sync(client.execute_interactive)(RESET_NAMESPACE, timeout=60, output_hook=lambda msg: None)
    finally:
        close_clients(km)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"could not reset the shared kernel between pages: {reply['content'].get('evalue')}")


def execute_page(source: str | os.PathLike, parameters: dict, executed: str | os.PathLike | None = None, km=None):
    """``execute``, a user's mistake raised in the page (a ``LossbenchError``: a table gather did not
    write, ...) said as that one error, not as papermill's traceback of the cell."""
    import papermill

    try:
        return execute(source, parameters, executed, km=km)
    except papermill.PapermillExecutionError as exc:
        if exc.ename in _user_errors():
            raise LossbenchError(exc.evalue) from None
        raise


def _user_errors() -> set[str]:
    """The class names of ``LossbenchError`` and its subclasses (a page's kernel raises them by name)."""
    from . import tables  # noqa: F401  (defines TableError, the error a page raises for a table)

    names, todo = set(), [LossbenchError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def to_html(notebook, title: str, nav: list[dict] | None = None) -> str:
    """Self-contained HTML of an executed notebook, inputs hidden, formulas MathML."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            cell.outputs = [o for o in cell.get("outputs", []) if not _stderr(o)]
    notebook.metadata["title"] = title
    exporter = _exporter(template_name="lossbench", extra_template_basedirs=[str(TEMPLATES)], exclude_input=True,
                         exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"lossbench_nav": nav or []})
    return body


def _stderr(output) -> bool:
    """Whether an output is the kernel's stderr (warnings, logging): logged, never on a page."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        for line in output.get("text", "").splitlines():
            if line.strip():
                log.warning("page stderr: %s", line)
        return True
    return False


def render(source: str | os.PathLike, out_html: str | os.PathLike, parameters: dict, title: str,
           nav: list[dict] | None = None, executed: str | os.PathLike | None = None) -> None:
    """Execute one notebook page and write its HTML atomically (the executed notebook to ``executed``)."""
    render_pages(source, [Page(out_html, parameters, title, executed)], nav)


@dataclass(frozen=True)
class Page:
    """One page of a notebook: where its HTML goes, its parameters and title, where its executed notebook goes."""

    out_html: str | os.PathLike
    parameters: dict
    title: str
    executed: str | os.PathLike | None = None


def render_pages(source: str | os.PathLike, pages: list[Page], nav: list[dict] | None = None) -> None:
    """Execute the notebook ``source`` once per page, one page after another in one kernel (``shared_kernel``: the
    namespace reset between pages), and write each page's HTML atomically as soon as it is executed."""
    with shared_kernel() as km:
        for i, page in enumerate(pages):
            if i:
                reset(km)
            try:
                notebook = execute_page(source, page.parameters, page.executed, km=km)
            finally:
                close_clients(km)
            html_text = to_html(notebook, page.title, nav)
            with atomic_path(page.out_html) as tmp:
                Path(tmp).write_text(html_text, encoding="utf-8")
            log.info("wrote %s (%d kB)", page.out_html, len(html_text) // 1024)


INDEX_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.7rem; } table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
td, th { border-bottom: 1px solid #ddd; padding: .3rem .7rem; text-align: right; }
td:first-child, th:first-child { text-align: left; } li { margin: .4rem 0; } .note { color: #666; font-size: .85rem; }
.warn { color: #b00; font-weight: bold; } img.key { max-width: 100%; margin: .5rem 0 1rem; }
"""


def key_figure_html(tables_dir: str | os.PathLike) -> str:
    """The key figure (``keyfigure.draw``: every variant's learning curves) as an embedded PNG with its
    computed alt text (``alt.alt_text``); "" when the tables hold no epochs.csv."""
    import base64
    import io

    import matplotlib.pyplot as plt

    from . import keyfigure
    from .alt import alt_text

    if not (Path(tables_dir) / "epochs.csv").exists():
        return ""
    fig = keyfigure.draw(tables_dir)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    text = alt_text(fig)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img class="key" src="data:image/png;base64,{data}" alt="{html.escape(text)}">'


def write_index(out_html: str | os.PathLike, title: str, pages: list[dict], summary_csv: str | os.PathLike,
                reference: str = "", slow_loss: str = "") -> None:
    """index.html: the answer first (``index_words.answer`` of ``index_page.answer``: a few sentences computed
    from the tables, when the reference variant is given) and the key figure (every variant's learning
    curves, from the epochs.csv beside ``summary_csv``), then the headline table (``summary_csv``, as
    gather wrote it) and a link to every page (all relative, all offline)."""
    import pandas as pd

    from . import index_page, index_words
    from .tables import read_gathered

    summary = read_gathered(summary_csv)
    tables_dir = Path(summary_csv).parent
    answer = ""
    if reference:
        runs_csv = tables_dir / "runs.csv"
        runs = read_gathered(runs_csv) if runs_csv.exists() else pd.DataFrame()
        answer = markdown_to_html(index_words.answer(index_page.answer(summary, runs, reference, slow_loss)))
    figure = key_figure_html(tables_dir)
    rows = "".join(
        f"<tr><td><a href=\"variant-{html.escape(r.variant)}.html\">{html.escape(r.variant)}</a>"
        f"{' <span class=warn>diverged: ' + str(int(r.n_diverged)) + '</span>' if r.n_diverged else ''}</td>"
        f"<td>{r.lr:g}</td><td>{int(r.n)}</td>"
        f"<td>{'n/a' if pd.isna(r.test_accuracy_mean) else f'{r.test_accuracy_mean:.4f}'}</td>"
        f"<td>{'' if pd.isna(r.test_accuracy_sd) else f'{r.test_accuracy_sd:.4f}'}</td></tr>"
        for r in summary.itertuples()
    )
    links = "".join(
        f"<li><a href=\"{html.escape(p['href'])}\">{html.escape(p['title'])}</a> — "
        f"{html.escape(p.get('description', ''))}</li>"
        for p in pages
        if p["href"] != Path(out_html).name
    )
    built = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{INDEX_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{answer}{figure}"
        "<p>The same MLP trained with each loss variant over several seeds. The <b>comparison</b> page "
        "tests every variant against the reference; <b>why MSE is slow</b> derives and measures the "
        "gradient that makes MSE on softmax outputs crawl"
        + ("; <b>learning rate</b> compares the losses each at its selected learning rate (the highest mean "
           "validation accuracy of its grid)"
           if any(p["href"] == "learning-rate.html" for p in pages) else "")
        + ".</p>"
        "<table><tr><th>variant</th><th>lr</th><th>n</th><th>test accuracy (mean)</th><th>sd</th></tr>"
        f"{rows}</table><h2>Pages</h2><ul>{links}</ul>"
        f"<p class=\"note\">Built {built}. Every page is a self-contained file: open it from disk, "
        "no network needed.</p>"
        "</body></html>\n"
    )
    with atomic_path(out_html) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")


def parse_json_arg(text: str, name: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LossbenchError(f"{name}: expected JSON, found {text[:80]!r} ({exc})") from None
