"""README and docs/: every relative link lands (the file exists, and so does the #anchor), README
stays a front door (150 lines at most), every docs page says first what it is for and is linked
from README, and no page keeps words the report no longer uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Files a make target draws from a run (not by hand): a link to one holds when the target writes it.
GENERATED = {"docs/key-figure.png": "lossbench figure --tables results/$(DATASET)/tables --out docs/key-figure.png"}
LINK = re.compile(r"!?\[(?:[^\]]|\][^(])*?\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def prose(path: Path) -> str:
    """The page without its code blocks and inline code (a `[x](y)` there is not a link)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", path.read_text()))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", FENCE.sub("", path.read_text()), re.M)}


def links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES for target in LINK.findall(prose(page))
            if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page, target", links(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_every_relative_link_lands(page, target):
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    relative = file.relative_to(ROOT).as_posix()
    if relative in GENERATED and not file.exists():
        assert GENERATED[relative] in (ROOT / "Makefile").read_text(), f"{page.name}: nothing draws {target}"
        return
    assert file.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
    if anchor:
        assert anchor in anchors(file), f"{page.relative_to(ROOT)}: {target}: no such heading in {relative}"


def test_links_are_found():
    """The link pattern itself: README links every docs page, and docs link each other."""
    assert {target for page, target in links() if page.name == "README.md"} >= {
        f"docs/{p.name}" for p in PAGES[1:]}, "a docs page README does not link"
    assert any(page.parent.name == "docs" and "#" in target for page, target in links())


def test_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.name)
def test_each_docs_page_says_first_what_it_is_for(page):
    title, blank, first, *_ = page.read_text().splitlines()
    assert title.startswith("# ") and blank == "" and first.startswith("This page is for "), page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_words_the_report_no_longer_uses(page):
    """Retired names and words: the learning-rate page says "selected lr"; prose.py and CAPPED_LOSSES are gone
    (what a loss is comes from the registry)."""
    text = page.read_text()
    for stale in ("best lr", "lossbench.prose", "prose.py", "CAPPED_LOSSES", "softmax_cap(", "theoretical_ratio"):
        assert stale not in text, f"{page.name} still says {stale!r}"
