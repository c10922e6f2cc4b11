"""The spec language, the data form and schedule files: every way text or data becomes a schedule.

A spec is Python call syntax, e.g. ``warmup(cosine(peak=0.1, steps=10000), steps=500)``
or ``0.5 * cosine(peak=0.1, steps=100) + 1e-5``. It is read with :mod:`ast`
against a whitelist (registered schedule names, numbers, strings, booleans,
``None``, tuples/lists, ``+``, ``*``, ``/``, unary minus, and names bound to
numbers by the caller) and never evaluated as code. ``repr(s)`` of every
schedule is a spec, and ``parse(repr(s)) == s``.

* :func:`parse` reads a spec (``names`` binds ``N``, ``P``, ...); a :class:`Shape`
  is a spec with names, parsed once and bound many times.
* :func:`from_dict` reads the data form (:meth:`lrkit.Schedule.to_dict`).
* :func:`load` reads a JSON, YAML or TOML file holding a schedule dict, a
  ``{"schedule": ...}`` mapping, or a spec string; :func:`read` tells a spec
  from a file's path (one rule) and calls :func:`parse` or :func:`load`.
* :func:`as_schedule` takes a schedule, a number or a spec string: the user input
  that the adapters and the command line accept. The core (:mod:`lrkit.schedule`)
  never reads text and never imports this module.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _check
from . import schedule as _schedule
from .errors import InputError, InputTypeError, SpecError, closest
from .schedule import REGISTRY, Schedule

__all__ = ["SpecError", "NAMES", "TRIAL", "FILE_SUFFIXES", "parse", "Shape", "read", "load",
           "dumps", "from_dict", "as_schedule", "constructor_error"]

_CONSTANTS = {"inf": math.inf, "true": True, "false": False, "none": None}

NAMES = {"N": "--steps", "P": "--peak"}
"""The names the ``lrkit`` command binds, and the option that sets each: ``N`` the number of
steps (the run's length), ``P`` the peak learning rate."""

TRIAL = 1000
"""The number :class:`Shape` binds every name to when it checks a text at construction."""


def parse(text: str, names: Mapping[str, float] | None = None) -> Schedule:
    """Read a spec string into a schedule.

    ``names`` binds identifiers in the text to numbers: ``N`` in
    ``cosine(peak=0.1, steps=N)`` reads as ``names["N"]``, and the number
    arithmetic works on it (``N/5``, ``9/N``, ``0.5*P``). A name is any
    identifier that is not a schedule name nor ``inf``/``true``/``false``/``none``;
    bound names the text does not use are ignored. To read one text with many
    bindings, make it a :class:`Shape` (parsed once).

    >>> from lrkit import parse
    >>> parse("warmup(cosine(peak=0.1, steps=1000), steps=100)")(100)
    0.1
    >>> parse("warmup(cosine(peak=P, steps=N), steps=N/5)", names={"N": 460, "P": 0.1})
    warmup(cosine(peak=0.1, steps=460), steps=92.0)
    >>> parse("cosin(peak=0.1, steps=10)")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: unknown schedule 'cosin' at column 1; did you mean 'cosine'?
    >>> parse("cosine(peak=0.1, steps=N)")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: unbound name 'N' at column 24 in 'cosine(peak=0.1, steps=N)'; \
give it a number: names={'N': ...}, or --steps on the command line
    """
    if isinstance(text, Schedule):
        return text
    src, tree = _syntax(text)
    return _evaluate(src, tree, _free_names(tree), names)


class Shape:
    """A spec with names in it, parsed once and bound to numbers many times.

    ``Shape("cosine(peak=P, steps=N)")`` reads the text once (Python's
    :mod:`ast`) and keeps the tree; :meth:`bind` evaluates that tree with
    numbers for the names. ``names`` are the free names of the text (the
    identifiers that are not schedule names nor ``inf``/``true``/``false``/
    ``none``). Construction refuses syntax errors, unknown schedules and bad
    parameters: it checks the text by binding every name to the trial value
    :data:`TRIAL` (1000), so a name must be valid at 1000 where it stands
    (write a fraction such as ``pct=0.3`` as a number, not as a name). Two
    shapes are equal when their texts are.

    >>> from lrkit import Shape
    >>> shape = Shape("warmup(cosine(peak=P, steps=N), steps=N/10)")
    >>> sorted(shape.names)
    ['N', 'P']
    >>> shape.bind(N=460, P=0.1)
    warmup(cosine(peak=0.1, steps=460), steps=46.0)
    >>> shape.bind({"N": 100, "P": 1.0})(10)
    1.0
    >>> Shape("cosine(peak=P, steps=N, end=-1)")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: cosine: end must be >= 0, got -1 at column 1 in \
'cosine(peak=P, steps=N, end=-1)' with N=1000, P=1000
    """

    __slots__ = ("_text", "_tree", "_names")

    def __init__(self, text: str) -> None:
        src, tree = _syntax(text)
        free = _free_names(tree)
        _evaluate(src, tree, free, dict.fromkeys(free, TRIAL))
        self._text = src
        self._tree = tree
        self._names = free

    @property
    def text(self) -> str:
        """The spec as written (without surrounding whitespace)."""
        return self._text

    @property
    def names(self) -> frozenset[str]:
        """The free names of the text, e.g. ``frozenset({'N', 'P'})``."""
        return self._names

    def bind(self, names: Mapping[str, float] | None = None, /, **more: float) -> Schedule:
        """The schedule with numbers for the names: ``bind(N=460, P=0.1)`` or
        ``bind({"N": 460, "P": 0.1})``; names the text does not use are ignored."""
        binding = {**names, **more} if names is not None else more
        return _evaluate(self._text, self._tree, self._names, binding)

    def __repr__(self) -> str:
        return f"Shape({self._text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Shape):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash((Shape, self._text))

    def __reduce__(self) -> tuple[type[Shape], tuple[str]]:
        return Shape, (self._text,)


def _syntax(text: Any) -> tuple[str, ast.Expression]:
    """The stripped text and its tree; SpecError for a non-string, empty text or bad syntax."""
    if not isinstance(text, str):
        raise SpecError(f"a spec must be a string, got {text!r}")
    src = text.strip()
    if not src:
        raise SpecError("empty spec; expected something like 'cosine(peak=0.1, steps=1000)'")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        col = e.offset or 0
        raise SpecError(f"cannot parse spec at column {col}: {e.msg} in {src!r}") from None
    return src, tree


def _free_names(tree: ast.Expression) -> frozenset[str]:
    """The identifiers that stand for numbers: not called, not schedules, not constants."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return frozenset(
        n.id for n in ast.walk(tree)
        if isinstance(n, ast.Name) and id(n) not in called
        and n.id not in REGISTRY and n.id.lower() not in _CONSTANTS
    )


def _binding(names: Mapping[str, Any] | None) -> dict[str, float | int]:
    """``names`` checked: identifiers that may stand for numbers, each bound to a number."""
    if names is None:
        return {}
    if not isinstance(names, Mapping):
        raise InputTypeError(f"names must be a mapping of name -> number, got {names!r}")
    out: dict[str, float | int] = {}
    for key, value in names.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise SpecError(f"names: {key!r} is not a name; a name is an identifier like 'N'")
        if key in REGISTRY or key.lower() in _CONSTANTS:
            what = "a schedule" if key in REGISTRY else "a constant of the spec language"
            raise SpecError(f"names: {key!r} is {what} and cannot be bound; "
                            "choose another identifier, like 'N'")
        out[key] = _check.number("names", repr(key), value)
    return out


def _evaluate(src: str, tree: ast.Expression, free: frozenset[str],
              names: Mapping[str, Any] | None) -> Schedule:
    """The schedule ``tree`` (the tree of ``src``, with free names ``free``) describes."""
    value = _Reader(src, free, _binding(names)).read(tree.body)
    if not isinstance(value, Schedule):
        if _check.is_number(value):
            return _schedule.as_schedule(value)
        raise SpecError(f"a spec must describe a schedule, got {value!r}")
    return value


class _Reader:
    """Reads a spec's tree into a value, with numbers for the names in ``names``."""

    def __init__(self, src: str, free: frozenset[str], names: dict[str, float | int]) -> None:
        self.src = src
        self.names = names
        # a text with names is shown as written, with the numbers its names stood for
        bound = ", ".join(f"{n}={names[n]!r}" for n in sorted(free) if n in names)
        self.where = (f" in {src!r}" + (f" with {bound}" if bound else "")) if free else ""

    def fail(self, node: ast.AST, msg: str, hint: str = "") -> SpecError:
        col = getattr(node, "col_offset", 0) + 1
        return SpecError(f"{msg} at column {col}{self.where}{hint}")

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
            if node.id in self.names:
                return self.names[node.id]
            option = f", or {NAMES[node.id]} on the command line" if node.id in NAMES else ""
            hint = (closest(node.id, [*REGISTRY, *self.names])
                    or f"; give it a number: names={{{node.id!r}: ...}}{option}")
            raise self.fail(node, f"unbound name {node.id!r}", hint)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        snippet = ast.get_source_segment(self.src, node) or type(node).__name__
        raise self.fail(node, f"unsupported syntax {snippet!r}")

    def binop(self, node: ast.BinOp) -> Any:
        left, right = self.read(node.left), self.read(node.right)
        for v in (left, right):
            if not (isinstance(v, Schedule) or _check.is_number(v)):
                raise self.fail(node, f"{v!r} cannot be an operand; use schedules and numbers")
        nums = _check.is_number(left) and _check.is_number(right)
        core = _schedule.as_schedule
        try:
            if isinstance(node.op, ast.Mult):
                return left * right if nums else core(left) * core(right)
            if isinstance(node.op, ast.Add):
                return left + right if nums else core(left) + core(right)
            if isinstance(node.op, ast.Div):
                return left / right if nums else core(left) / right
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


FILE_SUFFIXES = (".json", ".yaml", ".yml", ".toml")
"""The extensions of schedule files (:func:`load`)."""


def read(item: str | Path, names: Mapping[str, float] | None = None) -> Schedule:
    """A schedule from a spec string or a schedule file, told apart by one rule.

    ``item`` is a file (read with :func:`load`) when it ends in ``.json``,
    ``.yaml``, ``.yml`` or ``.toml`` (in any case; a missing file is then an
    error) or when it is the path of an existing file; otherwise it is a spec
    (read with :func:`parse`). ``names`` bind the names of a spec, in the
    text or in a file that holds a spec string.

    >>> from lrkit.spec import read
    >>> read("cosine(peak=P, steps=N)", names={"N": 100, "P": 0.1})
    cosine(peak=0.1, steps=100)
    >>> read("missing.yaml")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: schedule file 'missing.yaml' does not exist
    """
    if isinstance(item, Path) or Path(item).suffix.lower() in FILE_SUFFIXES or os.path.isfile(
            item):
        return load(item, names)
    return parse(item, names)


def load(path: str | Path, names: Mapping[str, float] | None = None) -> Schedule:
    """Read a schedule from a JSON, YAML or TOML file (by extension).

    The file holds a schedule dict (:meth:`lrkit.Schedule.to_dict`), a
    ``{"schedule": ...}`` mapping, or a spec string (whose names ``names``
    bind, as in :func:`parse`).
    """
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
    return parse(data, names) if isinstance(data, str) else from_dict(data)


def from_dict(data: Any) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_dict` output (or a spec string).

    >>> from lrkit import from_dict
    >>> from_dict({"type": "cosine", "peak": 0.1, "steps": 100})
    cosine(peak=0.1, steps=100)
    """
    if isinstance(data, str):
        return parse(data)
    if isinstance(data, Schedule):
        return data
    if not isinstance(data, dict):
        raise SpecError(f"a schedule dict needs a mapping with a 'type' key, got {data!r}")
    if "type" not in data:
        raise SpecError(f"a schedule dict needs a 'type' key, got keys {sorted(data)!r}")
    kind = data["type"]
    cls = REGISTRY.get(kind)
    if cls is None:
        raise SpecError(f"unknown schedule type {kind!r}{closest(str(kind), REGISTRY)}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, v in data.items():
        if key == "type":
            continue
        if key not in names:
            raise SpecError(
                f"{kind}: unknown parameter {key!r}{closest(key, names)}; "
                f"valid: {', '.join(names)}"
            )
        kwargs[key] = _from_data(v)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise SpecError(constructor_error(kind, e)) from None


def constructor_error(name: str, e: Exception) -> str:
    """A constructor's error message, spoken in spec names: ``Cosine.__init__()`` becomes
    ``cosine()``, and the ``name:`` prefix is added once."""
    msg = re.sub(r"\b(?:\w+\.)?__init__\(\)", f"{name}()", str(e))
    return msg if msg.startswith((f"{name}:", f"{name}()")) else f"{name}: {msg}"


def _from_data(v: Any) -> Any:
    if isinstance(v, dict) and "type" in v:
        return from_dict(v)
    if isinstance(v, list):
        return tuple(_from_data(x) for x in v)
    return v


def dumps(s: Schedule, fmt: str = "dsl") -> str:
    """The schedule as text: ``dsl`` (the spec), ``json`` or ``yaml``."""
    if fmt == "dsl":
        return repr(s)
    if fmt == "json":
        return json.dumps(s.to_dict(), indent=2)
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(s.to_dict(), sort_keys=False))
    raise InputError(f"format must be one of 'dsl', 'json', 'yaml', got {fmt!r}")


def as_schedule(x: Any, what: str = "schedule") -> Schedule:
    """A schedule, a number (-> ``constant``) or a spec string (-> :func:`parse`): what the
    adapters and the command line accept from users (the core takes schedules and numbers).

    >>> from lrkit.spec import as_schedule
    >>> as_schedule("cosine(peak=0.1, steps=10)"), as_schedule(0.5)
    (cosine(peak=0.1, steps=10), constant(0.5))
    """
    if isinstance(x, str):
        return parse(x)
    if isinstance(x, Schedule) or _check.is_number(x):
        return _schedule.as_schedule(x, what)
    raise InputTypeError(f"{what} must be an lrkit schedule, a number or a spec string, got {x!r}")
