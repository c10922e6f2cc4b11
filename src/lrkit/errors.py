"""lrkit's errors, in a leaf module (it imports nothing of lrkit).

:class:`Error` is the base of the errors lrkit defines; a bad argument to a
constructor is a plain ``ValueError`` or ``TypeError`` (naming the schedule,
the parameter and the value), as in Python itself. :class:`SpecError` (a
spec or schedule file that cannot be read) is both an ``Error`` and a
``ValueError``. Both are shown and pickled as ``lrkit.Error`` and
``lrkit.SpecError``, their public names.

>>> from lrkit.errors import closest
>>> closest("cosin", ["cosine", "linear"])
"; did you mean 'cosine'?"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["Error", "SpecError", "closest"]


class Error(Exception):
    """The base of lrkit's own errors: ``except lrkit.Error`` catches every one of them."""

    __module__ = "lrkit"


class SpecError(Error, ValueError):
    """A spec or schedule file that cannot be read; the message says where and why."""

    __module__ = "lrkit"


def closest(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest option, or ``""``."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""
