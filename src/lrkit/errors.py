"""lrkit's errors, in a leaf module (it imports nothing of lrkit).

Every error lrkit raises for bad input is an :class:`Error`; anything else
that escapes lrkit is a bug. The classes also derive from the built-in
error a Python user expects, so that ``except ValueError`` keeps working:

* :class:`SpecError` (``Error``, ``ValueError``): a spec, a schedule dict or a
  schedule file that cannot be read; the message says where and why.
* :class:`InputError` (``Error``, ``ValueError``): a bad value for a
  parameter, e.g. ``cosine: steps must be > 0, got 0``.
* :class:`InputTypeError` (``Error``, ``TypeError``): a value of the wrong type
  for a parameter, e.g. ``cosine: steps must be a number, got '10'``.
* :class:`StoreError` (``Error``): the store of finished runs failed after it was
  opened (a full disk, a corrupted database); stored runs stay stored.

They are shown and pickled under their public names (``lrkit.SpecError``, ...).

>>> from lrkit.errors import InputError, closest, shown
>>> issubclass(InputError, ValueError)
True
>>> closest("cosin", ["cosine", "linear"])
"; did you mean 'cosine'?"
>>> shown(10 ** 5000)
'an integer of about 5001 digits'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Error", "SpecError", "InputError", "InputTypeError", "StoreError", "closest",
           "shown"]


class Error(Exception):
    """The base of lrkit's own errors: ``except lrkit.Error`` catches every one of them."""

    __module__ = "lrkit"


class SpecError(Error, ValueError):
    """A spec, schedule dict or schedule file that cannot be read; the message says where
    and why."""

    __module__ = "lrkit"


class InputError(Error, ValueError):
    """A bad value for a parameter; the message names the parameter, the value and what
    would be valid."""

    __module__ = "lrkit"


class InputTypeError(Error, TypeError):
    """A value of the wrong type for a parameter; the message names the parameter, the
    value and the type expected."""

    __module__ = "lrkit"


class StoreError(Error):
    """The store of finished runs cannot be read or written once open (a full disk, a
    read-only or corrupted database, a stored record that lacks a field); the message
    names the storage and the cause. What was stored before stays stored."""

    __module__ = "lrkit"


SHOWN_CHARS = 200
"""The longest text :func:`shown` writes for a value; longer ones are cut in the middle."""


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, bounded: an integer of more than 1024 bits
    (which Python may refuse to print) is described by its number of digits, and a repr
    over :data:`SHOWN_CHARS` characters is cut in the middle (saying how long it was)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1024:
        digits = int(value.bit_length() * math.log10(2)) + 1  # exact, or one too many
        return f"{'a negative' if value < 0 else 'an'} integer of about {digits} digits"
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    half = SHOWN_CHARS // 2 - 10
    return f"{text[:half]}...{text[-half:]} ({len(text)} characters)"


def closest(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest option, or ``""`` (also for a word that is
    not a short string)."""
    if not isinstance(word, str) or len(word) > 100:
        return ""
    import difflib  # only when a word is wrong

    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""
