"""Golden text: a page's markdown checked against a reviewed file under tests/golden/.

``assert_golden("learning_rate/default.md", text)`` passes when ``text`` equals the file. After a
deliberate wording change, rewrite the files with ``pytest --update-golden`` (conftest.py's flag)
and review them as a diff (``git diff tests/golden``) before committing: the files are the pages'
words, read as a referee reads them. A missing file fails (and is written with the flag).
"""

from __future__ import annotations

import difflib
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
UPDATE = False  # set by conftest.py from --update-golden


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = text.rstrip("\n") + "\n"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return
    assert path.exists(), f"no golden file {path}: write it with `pytest --update-golden`, then review it"
    expected = path.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), f"golden/{name}",
                                            "now"))
        raise AssertionError(f"the text differs from tests/golden/{name} (if deliberate: pytest --update-golden, "
                             f"then review `git diff tests/golden`):\n{diff}")
