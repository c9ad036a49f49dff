"""Kept only so that modules not yet moved keep importing: the report's wording now lives per page
(``lossbench.comparison``, ``lossbench.why``, ``lossbench.variant_page``,
``lossbench.reproducibility_page``, ``lossbench.captions``) and the shared number words in
``lossbench.words``. Import from there; delete this module once nothing imports it
(lrstudy, horizon and tests/test_stats.py did on 2026-12-05).
"""

from __future__ import annotations

from .decisions import NEGLIGIBLE  # noqa: F401
from .words import acc as _acc  # noqa: F401
from .words import changed_text as _changed_text  # noqa: F401
from .words import ci_points as _ci_points  # noqa: F401
from .words import number as _number  # noqa: F401
from .words import p_value as _p  # noqa: F401
from .words import points as _points  # noqa: F401
from .words import settings_text as _settings_text  # noqa: F401

# lrstudy.py still reads these (the registry's same_as families replace them: losses.same_function)
CROSS_ENTROPY_FORMS = ("softmax_nll", "logsoftmax_nll", "cross_entropy")


def _ci(row) -> str:
    """lrstudy's old call: a summary row's test-accuracy CI (C = 10)."""
    from .words import ci

    return ci(row["test_accuracy_ci95_low"], row["test_accuracy_ci95_high"], row.get("n", 2), 0.1)
