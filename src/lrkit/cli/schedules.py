"""``lrkit plot``, ``values``, ``show`` and ``list``: look at schedules."""

from __future__ import annotations

from . import main  # noqa: F401  (placeholder: the commands are being written)
