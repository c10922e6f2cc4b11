"""The spec language and schedule files.

A spec is Python call syntax, e.g. ``warmup(cosine(0.1, steps=10000), warmup_steps=500)``
or ``0.5 * cosine(0.1, steps=100) + 1e-5``. It is read with :mod:`ast`
against a whitelist (registered schedule names, numbers, strings, booleans,
``None``, tuples/lists, ``+``, ``*``, ``/`` and unary minus) and never
evaluated as code. ``repr(s)`` of every schedule is a spec, and
``parse(repr(s)) == s``.

Files (:func:`load`): JSON, YAML or TOML holding a schedule dict
(:meth:`lrkit.Schedule.to_dict`), a ``{"schedule": ...}`` mapping, or a spec
string.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .schedule import REGISTRY, Schedule, as_schedule, constructor_error, from_dict

_CONSTANTS = {"inf": math.inf, "true": True, "false": False, "none": None}


class SpecError(ValueError):
    """A spec or schedule file that cannot be read; the message says where and why."""


def closest(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest option, or ``""``."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def parse(text: str) -> Schedule:
    """Read a spec string into a schedule.

    >>> from lrkit import parse
    >>> parse("warmup(cosine(0.1, steps=1000), warmup_steps=100)")(100)
    0.1
    >>> parse("cosin(0.1, steps=10)")
    Traceback (most recent call last):
    ...
    lrkit.spec.SpecError: unknown schedule 'cosin' at column 1; did you mean 'cosine'?
    """
    if isinstance(text, Schedule):
        return text
    if not isinstance(text, str):
        raise SpecError(f"a spec must be a string, got {text!r}")
    src = text.strip()
    if not src:
        raise SpecError("empty spec; expected something like 'cosine(0.1, steps=1000)'")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        col = e.offset or 0
        raise SpecError(f"cannot parse spec at column {col}: {e.msg} in {src!r}") from None
    value = _Reader(src).read(tree.body)
    if not isinstance(value, Schedule):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return as_schedule(value)
        raise SpecError(f"a spec must describe a schedule, got {value!r}")
    return value


class _Reader:
    def __init__(self, src: str) -> None:
        self.src = src

    def fail(self, node: ast.AST, msg: str, hint: str = "") -> SpecError:
        col = getattr(node, "col_offset", 0) + 1
        return SpecError(f"{msg} at column {col}{hint}")

    def read(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float, str, bool)) or node.value is None:
                return node.value
            raise self.fail(node, f"unsupported literal {node.value!r}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.read(node.operand)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.fail(node, f"unary minus needs a number, got {v!r}")
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.read(e) for e in node.elts)
        if isinstance(node, ast.Name):
            key = node.id.lower()
            if key in _CONSTANTS:
                return _CONSTANTS[key]
            if node.id in REGISTRY:
                raise self.fail(node, f"{node.id!r} is a schedule: call it, as in {node.id}(...)")
            raise self.fail(node, f"unknown name {node.id!r}", closest(node.id, REGISTRY))
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        snippet = ast.get_source_segment(self.src, node) or type(node).__name__
        raise self.fail(node, f"unsupported syntax {snippet!r}")

    def binop(self, node: ast.BinOp) -> Any:
        left, right = self.read(node.left), self.read(node.right)
        nums = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
        try:
            if isinstance(node.op, ast.Mult):
                return left * right if nums else as_schedule(left) * as_schedule(right)
            if isinstance(node.op, ast.Add):
                return left + right if nums else as_schedule(left) + as_schedule(right)
            if isinstance(node.op, ast.Div):
                return left / right if nums else as_schedule(left) / right
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise self.fail(node, str(e)) from None
        op = type(node.op).__name__
        raise self.fail(node, f"unsupported operator {op}; use *, + or /")

    def call(self, node: ast.Call) -> Schedule:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "a call must name a schedule, as in cosine(...)")
        name = node.func.id
        cls = REGISTRY.get(name)
        if cls is None:
            raise self.fail(node, f"unknown schedule {name!r}", closest(name, REGISTRY))
        params = _params(cls)
        if len(node.args) > cls.positional and not cls.variadic:
            extra = node.args[cls.positional]
            if cls.positional:
                first = ", ".join(params[: cls.positional])
                msg = f"{name}() takes {cls.positional} positional argument(s) ({first})"
            else:
                msg = f"{name}() takes no positional arguments"
            raise self.fail(extra, f"{msg}, got {len(node.args)}",
                            f"; pass the others by name: {', '.join(params)}")
        args = [self.read(a) for a in node.args]
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail(kw, "** is not supported in a spec")
            if kw.arg not in params:
                hint = closest(kw.arg, params) or f"; valid: {', '.join(params)}"
                raise self.fail(kw, f"{name}() has no parameter {kw.arg!r}", hint)
            if kw.arg in kwargs:
                raise self.fail(kw, f"{name}() got parameter {kw.arg!r} twice")
            kwargs[kw.arg] = self.read(kw.value)
        try:
            return cls._from_args(args, kwargs)
        except (TypeError, ValueError) as e:
            raise self.fail(node, constructor_error(name, e)) from None


def _params(cls: type[Schedule]) -> list[str]:
    return [p for p in inspect.signature(cls).parameters if p != "_"]


def load(path: str | Path) -> Schedule:
    """Read a schedule from a JSON, YAML or TOML file (by extension)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"schedule file {str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".toml":
            try:
                import tomllib
            except ImportError:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            raise SpecError(
                f"schedule file {str(p)!r}: unknown extension {suffix!r}; "
                "use .json, .yaml, .yml or .toml"
            )
    except SpecError:
        raise
    except Exception as e:  # the parsers' own error types differ
        raise SpecError(f"schedule file {str(p)!r} is not valid {suffix[1:]}: {e}") from None
    if isinstance(data, dict) and "schedule" in data and "type" not in data:
        data = data["schedule"]
    return from_dict(data)


def dumps(s: Schedule, fmt: str = "dsl") -> str:
    """The schedule as text: ``dsl`` (the spec), ``json`` or ``yaml``."""
    if fmt == "dsl":
        return repr(s)
    if fmt == "json":
        return json.dumps(s.to_dict(), indent=2)
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(s.to_dict(), sort_keys=False))
    raise ValueError(f"format must be one of 'dsl', 'json', 'yaml', got {fmt!r}")
