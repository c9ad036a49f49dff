"""Alt text for every figure a page shows, computed from the figure itself.

A figure function may say its main number with ``describe(fig, text)``; ``alt_text(fig)`` adds,
from the drawn figure, what each panel plots (its y label against its x label, its title) and
the legend's entries (the variants or losses drawn). In a notebook kernel, ``register()`` (run
when ``lossbench.plots`` is imported) wraps IPython's PNG formatter of matplotlib figures so that
each figure's output carries ``{"alt": alt_text(fig)}`` as its image/png metadata; the report's
template writes it as the image's ``alt`` (nbconvert's default is "No description has been
provided for this image").
"""

from __future__ import annotations

ATTRIBUTE = "_lossbench_alt"


def describe(fig, text: str):
    """Attach ``text`` (what the figure shows, its main number) to ``fig``; returns ``fig``."""
    if fig is not None:
        setattr(fig, ATTRIBUTE, text.strip())
    return fig


def _clean(text: str) -> str:
    return " ".join(text.replace("\n", " ").split())


def _legend_entries(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    entries = []
    for legend in legends:
        entries += [_clean(t.get_text()) for t in legend.get_texts() if t.get_text().strip()]
    return list(dict.fromkeys(entries))


def _panels(fig) -> list[str]:
    panels = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison or not ax.has_data():
            continue
        y, x, title = _clean(ax.get_ylabel()), _clean(ax.get_xlabel()), _clean(ax.get_title())
        what = f"{y} against {x}" if y and x else (y or x)
        if title:
            what = f"{title}: {what}" if what else title
        if what:
            panels.append(what)
    return list(dict.fromkeys(panels))


def alt_text(fig) -> str:
    """The figure's alt text: its description (``describe``), the panels drawn, the legend's entries."""
    parts = [getattr(fig, ATTRIBUTE, "")]
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(_clean(suptitle.get_text()) + ".")
    panels = _panels(fig)
    if panels:
        parts.append(("Panels: " if len(panels) > 1 else "Plotted: ") + "; ".join(panels) + ".")
    entries = _legend_entries(fig)
    if entries:
        parts.append("Legend: " + ", ".join(entries) + ".")
    text = " ".join(p for p in parts if p)
    return text or "A figure with no labelled panel."


def register() -> bool:
    """In an IPython kernel, make every matplotlib figure's PNG output carry its alt text; returns
    whether it did (outside IPython there is nothing to register)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the report
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # resolve the backend first: the inline backend registers its own PNG formatter when it loads,
    # and would replace ours if it loaded later
    plt.close(plt.figure())
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        png = formatter.lookup_by_type(Figure)
    except KeyError:
        return False
    if getattr(png, "_lossbench", False):
        return True

    def with_alt(fig):
        data = png(fig)
        if data is None:
            return None
        return data, {"alt": alt_text(fig)}

    with_alt._lossbench = True
    formatter.for_type(Figure, with_alt)
    return True
