"""The spec language, the data form and schedule files: every way text or data becomes a schedule.

A spec is Python call syntax, e.g. ``warmup(cosine(0.1, steps=10000), warmup_steps=500)``
or ``0.5 * cosine(0.1, steps=100) + 1e-5``. It is read with :mod:`ast`
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

Every reader works within limits (:data:`MAX_SIZE`, :data:`MAX_DEPTH`, :data:`MAX_VALUES`)
checked without recursion before anything is read, and raises nothing but
:class:`SpecError` for bad text, data or files (docs/guarantees.md).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import os
import re
import sys
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _check, _plateau, compose, schedules  # noqa: F401 (they register the names)
from . import schedule as _schedule
from .errors import InputError, InputTypeError, SpecError, closest, shown
from .schedule import REGISTRY, Schedule

if TYPE_CHECKING:  # json and yaml load when a file is read or written
    from pathlib import Path

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
    ``cosine(init=0.1, steps=N)`` reads as ``names["N"]``, and the number
    arithmetic works on it (``N/5``, ``9/N``, ``0.5*P``). A name is any
    identifier that is not a schedule name nor ``inf``/``true``/``false``/``none``;
    bound names the text does not use are ignored. To read one text with many
    bindings, make it a :class:`Shape` (parsed once).

    >>> from lrkit import parse
    >>> parse("warmup(cosine(0.1, steps=1000), warmup_steps=100)")(100)
    0.1
    >>> parse("warmup(cosine(init=P, steps=N), warmup_steps=N/5)", names={"N": 460, "P": 0.1})
    warmup(cosine(init=0.1, steps=460), warmup_steps=92.0)
    >>> parse("cosin(init=0.1, steps=10)")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: unknown schedule 'cosin' at column 1; did you mean 'cosine'?
    >>> parse("cosine(init=0.1, steps=N)")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: unbound name 'N' at column 24 in 'cosine(init=0.1, steps=N)'; \
give it a number: names={'N': ...}, or --steps on the command line
    """
    if isinstance(text, Schedule):
        return text
    src, tree, depth = _syntax(text)
    return _evaluate(src, tree, depth, _free_names(tree), names)


class Shape:
    """A spec with names in it, parsed once and bound to numbers many times.

    ``Shape("cosine(init=P, steps=N)")`` reads the text once (Python's
    :mod:`ast`) and keeps the tree; :meth:`bind` evaluates that tree with
    numbers for the names. ``names`` are the free names of the text (the
    identifiers that are not schedule names nor ``inf``/``true``/``false``/
    ``none``). Construction refuses syntax errors, unknown schedules and bad
    parameters: it checks the text by binding every name to the trial value
    :data:`TRIAL` (1000), so a name must be valid at 1000 where it stands
    (write a fraction such as ``up_frac=0.3`` as a number, not as a name). Two
    shapes are equal when their texts are.

    >>> from lrkit import Shape
    >>> shape = Shape("warmup(cosine(init=P, steps=N), warmup_steps=N/10)")
    >>> sorted(shape.names)
    ['N', 'P']
    >>> shape.bind(N=460, P=0.1)
    warmup(cosine(init=0.1, steps=460), warmup_steps=46.0)
    >>> shape.bind({"N": 100, "P": 1.0})(10)
    1.0
    >>> Shape("cosine(init=P, steps=N, end=-1)")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: cosine: end must be >= 0, got -1 at column 1 in \
'cosine(init=P, steps=N, end=-1)' with N=1000, P=1000
    """

    __slots__ = ("_text", "_tree", "_depth", "_names")

    def __init__(self, text: str) -> None:
        src, tree, depth = _syntax(text)
        free = _free_names(tree)
        _evaluate(src, tree, depth, free, dict.fromkeys(free, TRIAL))
        self._text = src
        self._tree = tree
        self._depth = depth
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
        return _evaluate(self._text, self._tree, self._depth, self._names, binding)

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


MAX_DEPTH = 100
"""How deeply a spec or a schedule dict may nest. In a spec every call, bracket and
operator adds a level to what it holds (``0.1`` is 1 level, ``cosine(init=0.1, steps=10)``
2, a chain ``a + b + c`` 3); in the data form every mapping does, and every list in a
list (a list that is a field's value is part of its mapping's level). A schedule's dict
(:meth:`~lrkit.Schedule.to_dict`) nests no deeper than its spec. Deeper input is
refused with a :class:`SpecError` before it is read, so reading it never recurses deeper
than this (a long chain of pieces is written ``join(a, b, ...)``, one level)."""

MAX_SIZE = 100_000
"""The most characters in a spec and bytes in a schedule file (:data:`MAX_VALUES` bounds
the data form)."""


def _syntax(text: Any) -> tuple[str, ast.Expression, int]:
    """The stripped text, its tree and how deeply it nests (:func:`_depth`); SpecError
    for a non-string, empty, too long, too deep or not encodable text, or bad syntax."""
    if not isinstance(text, str):
        raise SpecError(f"a spec must be a string, got {shown(text)}")
    src = text.strip()
    if not src:
        raise SpecError("empty spec; expected something like 'cosine(0.1, steps=1000)'")
    if len(src) > MAX_SIZE:
        raise SpecError(f"spec of {len(src):,} characters is too long; a spec is at most "
                        f"{MAX_SIZE:,} characters (lrkit.spec.MAX_SIZE)")
    try:
        src.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate, e.g. from a badly decoded argument
        raise SpecError(f"character {src[e.start]!r} at column {e.start + 1} is not text "
                        f"(a lone surrogate) in {shown(src)}") from None
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: errors
            warnings.simplefilter("ignore")  # below, or harmless; never a line on stderr
            tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        col = f"{e.offset or 0}" + (f" of line {e.lineno}" if (e.lineno or 1) > 1 else "")
        raise SpecError(f"cannot parse spec at column {col}: {e.msg} in {shown(src)}") from None
    except ValueError as e:  # Python 3.10: "source code string cannot contain null bytes"
        raise SpecError(f"cannot parse spec: {e} in {shown(src)}") from None
    except (RecursionError, MemoryError):  # Python's own parser gives up near 3,000 levels
        raise SpecError(_too_deep(src, None)) from None
    depth, node = _depth(tree)
    if depth > MAX_DEPTH:
        raise SpecError(_too_deep(src, node))
    return src, tree, depth


def _depth(tree: ast.Expression) -> tuple[int, ast.AST]:
    """How deeply ``tree`` nests (walked iteratively) and its deepest node; the walk stops
    at the first node deeper than :data:`MAX_DEPTH`. Numbers, names, strings and
    ``constant(...)`` of those count as one level (a leaf), so that the spec ``repr``
    writes for a schedule nests no deeper than the text it was read from."""
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    deepest: tuple[int, ast.AST] = (1, tree.body)
    while stack:
        node, depth = stack.pop()
        if depth > deepest[0]:
            deepest = (depth, node)
            if depth > MAX_DEPTH:
                break
        if _leaf(node):
            continue
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1 if isinstance(child, ast.expr) else depth))
    return deepest


def _leaf(node: ast.AST) -> bool:
    """A number (``-1`` too), name or string, or a ``constant(...)`` call of those."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [*node.args, *(k.value for k in node.keywords)]
        return node.func.id == _schedule.Constant.name and not any(
            isinstance(a, ast.Call) or not _leaf(a) for a in args)
    return False


def _too_deep(src: str, node: ast.AST | None) -> str:
    where = f" at column {_column(src, node)}" if node is not None else ""
    return (_deeper("spec", where, " (each call, bracket and operator adds a level: a + b + c "
                    "is 3)") + "; write a long sequence as join(a, b, ...)")


def _deeper(what: str, where: str = "", why: str = "") -> str:
    """The message for ``what`` nested more than :data:`MAX_DEPTH` levels deep."""
    return (f"{what} nested more than {MAX_DEPTH} levels deep{where}{why}; the limit is "
            f"{MAX_DEPTH} levels (lrkit.spec.MAX_DEPTH)")


def _column(src: str, node: ast.AST) -> str:
    """Where ``node`` starts: ``"7"`` (its column, counted in characters), or
    ``"7 of line 2"`` in a text of several lines."""
    line_no = getattr(node, "lineno", 1)
    line = re.split(r"\r\n?|\n", src)[line_no - 1] if line_no > 1 else src
    offset = getattr(node, "col_offset", 0)  # in UTF-8 bytes
    col = len(line.encode("utf-8")[:offset].decode("utf-8", errors="ignore")) + 1
    return f"{col} of line {line_no}" if line_no > 1 else str(col)


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


def _evaluate(src: str, tree: ast.Expression, depth: int, free: frozenset[str],
              names: Mapping[str, Any] | None) -> Schedule:
    """The schedule ``tree`` (the tree of ``src``, ``depth`` levels deep, with free names
    ``free``) describes.

    Its spec (``repr``) is checked against the limits too, so that every schedule
    :func:`parse` returns reads back: ``parse(repr(s)) == s``."""
    reader = _Reader(src, free, _binding(names))
    out = reader.schedule(tree.body)
    why = _unwritable(out, depth)
    if why:
        raise reader.fail(tree.body, why)
    return out


def _unwritable(s: Schedule, depth: int) -> str:
    """Why the spec of ``s`` (its repr), read from input ``depth`` levels deep, would be
    over the limits of a spec, or ``""``. The spec nests at most two levels deeper than
    the input (see :func:`_depth` and :data:`MAX_DEPTH`): it is parsed again only near
    the limit."""
    written = repr(s)
    if len(written) > MAX_SIZE:
        return (f"the schedule's spec (its repr) would be {len(written):,} characters, over "
                f"the limit of {MAX_SIZE:,} (lrkit.spec.MAX_SIZE)")
    if depth > MAX_DEPTH - 10 and _depth(ast.parse(written, mode="eval"))[0] > MAX_DEPTH:
        return _deeper("the schedule's spec (its repr) would be")
    return ""


_LARGEST = sys.float_info.max
_TOO_LARGE = f"is too large for a float; a number in a schedule is at most {_LARGEST!r}"


def _too_large(value: Any) -> bool:
    """An integer a float cannot hold (every number of a schedule is computed in float64)."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST


class _Reader:
    """Reads a spec's tree into a value, with numbers for the names in ``names``."""

    def __init__(self, src: str, free: frozenset[str], names: dict[str, float | int]) -> None:
        self.src = src
        self.names = names
        # a text with names is shown as written, with the numbers its names stood for
        bound = ", ".join(f"{n}={names[n]!r}" for n in sorted(free) if n in names)
        self.where = (f" in {shown(src)}" + (f" with {bound}" if bound else "")) if free else ""

    def fail(self, node: ast.AST, msg: str, hint: str = "") -> SpecError:
        return SpecError(f"{msg} at column {_column(self.src, node)}{self.where}{hint}")

    def schedule(self, node: ast.expr) -> Schedule:
        """The whole spec, a schedule (a number is a constant)."""
        value = self.read(node)
        if isinstance(value, Schedule):
            return value
        if not _check.is_number(value):
            raise self.fail(node, f"a spec must describe a schedule, got {shown(value)}")
        try:
            return _schedule.as_schedule(value)
        except (TypeError, ValueError) as e:
            raise self.fail(node, constructor_error(_schedule.Constant.name, e)) from None

    def number(self, node: ast.AST, value: Any) -> Any:
        """``value`` (a literal, or the result of arithmetic on numbers), refused if it is an
        integer a float cannot hold: every number of a spec is computed in float64."""
        if _too_large(value):
            digits = len(str(abs(value)))  # at most 4300 (Python's limit for a literal)
            raise self.fail(node, f"integer of {digits} digits {_TOO_LARGE}")
        return value

    def read(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float, str, bool)) or node.value is None:
                return self.number(node, node.value)
            raise self.fail(node, f"unsupported literal {shown(node.value)}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.read(node.operand)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.fail(node, f"unary minus needs a number, got {shown(v)}")
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
        raise self.fail(node, f"unsupported syntax {shown(snippet)}")

    def binop(self, node: ast.BinOp) -> Any:
        left, right = self.read(node.left), self.read(node.right)
        for v in (left, right):
            if not (isinstance(v, Schedule) or _check.is_number(v)):
                raise self.fail(node, f"{shown(v)} cannot be an operand; use schedules and "
                                "numbers")
        nums = _check.is_number(left) and _check.is_number(right)
        core = _schedule.as_schedule
        try:
            if isinstance(node.op, ast.Mult):
                return self.number(node, left * right) if nums else core(left) * core(right)
            if isinstance(node.op, ast.Add):
                return self.number(node, left + right) if nums else core(left) + core(right)
            if isinstance(node.op, ast.Div):
                return left / right if nums else core(left) / right
        except SpecError:
            raise
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
    >>> read("cosine(init=P, steps=N)", names={"N": 100, "P": 0.1})
    cosine(init=0.1, steps=100)
    >>> read("missing.yaml")
    Traceback (most recent call last):
    ...
    lrkit.SpecError: schedule file 'missing.yaml' does not exist
    """
    if (isinstance(item, os.PathLike) or os.path.splitext(item)[1].lower() in FILE_SUFFIXES
            or os.path.isfile(item)):
        return load(item, names)
    return parse(item, names)


def load(path: str | Path, names: Mapping[str, float] | None = None) -> Schedule:
    """Read a schedule from a JSON, YAML or TOML file (by extension).

    The file holds a schedule dict (:meth:`lrkit.Schedule.to_dict`), a
    ``{"schedule": ...}`` mapping, or a spec string (whose names ``names``
    bind, as in :func:`parse`). It is read within limits, and anything else is
    a :class:`SpecError` naming the file: at most :data:`MAX_SIZE` bytes of
    UTF-8 text, nested at most :data:`MAX_DEPTH` levels; YAML anchors may
    appear but aliases (``*name``) are refused, so a few bytes cannot expand
    into a huge document.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"load: path must be a str or a path, got {shown(path)}")
    p = os.path.normpath(os.fspath(path))  # as pathlib writes it, without importing it
    where = f"schedule file {shown(p)}"
    suffix = os.path.splitext(p)[1].lower()
    if suffix not in FILE_SUFFIXES:
        raise SpecError(f"{where}: unknown extension {suffix!r}; use .json, .yaml, .yml or .toml")
    text = _read_text(p, where)
    invalid: tuple[type[Exception], ...] = (ValueError, *(
        _yaml_errors() if suffix in (".yaml", ".yml") else ()))
    try:
        if suffix == ".json":
            import json

            data = json.loads(text)
        elif suffix == ".toml":
            data = _toml().loads(text)
        else:
            data = _yaml_load(text)
    except SpecError as e:
        raise SpecError(f"{where}: {e}") from None
    except RecursionError:  # the JSON and TOML parsers recurse per level (near 1,000)
        raise SpecError(_deeper(f"{where} is")) from None
    except invalid as e:  # JSONDecodeError and TOMLDecodeError are ValueErrors; YAMLError
        msg = " ".join(str(e).split())  # PyYAML's messages span lines
        raise SpecError(f"{where} is not valid {suffix[1:]}: {msg}") from None
    if isinstance(data, dict) and "schedule" in data and "type" not in data:
        data = data["schedule"]
    try:
        return parse(data, names) if isinstance(data, str) else from_dict(data)
    except SpecError as e:
        raise SpecError(f"{where}: {e}") from None


def _read_text(p: str, where: str) -> str:
    """The file's text: at most :data:`MAX_SIZE` bytes of UTF-8 (a leading BOM dropped)."""
    if not os.path.exists(p):
        raise SpecError(f"{where} does not exist")
    if not os.path.isfile(p):
        raise SpecError(f"{where} is not a file")
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_SIZE + 1)
    except OSError as e:
        raise SpecError(f"{where} cannot be read: {e.strerror or e}") from None
    if len(raw) > MAX_SIZE:
        raise SpecError(f"{where} is larger than {MAX_SIZE:,} bytes; a schedule file is at "
                        f"most {MAX_SIZE:,} bytes (lrkit.spec.MAX_SIZE)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{where} is not UTF-8 text: byte 0x{raw[e.start]:02x} at offset "
                        f"{e.start} cannot be decoded ({e.reason})") from None
    return text[1:] if text.startswith("\ufeff") else text


def _toml() -> Any:
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def _yaml_errors() -> tuple[type[Exception], ...]:
    """PyYAML's error base, when PyYAML is installed."""
    try:
        import yaml
    except ImportError:
        return ()
    return (yaml.YAMLError,)


def _yaml_load(text: str) -> Any:
    """``yaml.safe_load(text)`` (with LibYAML when PyYAML has it), after one pass over the
    parser's events (iterative) that refuses aliases and nesting deeper than
    :data:`MAX_DEPTH` (SpecError, with the line and column)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            continue
        mark = event.start_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}"
        if isinstance(event, yaml.AliasEvent):
            raise SpecError(f"YAML alias *{event.anchor} at {at}: aliases are not supported "
                            "in a schedule file (they can expand a few bytes into a huge "
                            "document); write the value out")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(_deeper("YAML", f" at {at}"))
    return yaml.load(text, Loader=loader)  # a safe loader: no Python tags


MAX_VALUES = 100_000
"""The most values a schedule dict given to :func:`from_dict` may hold: every mapping,
list, number and string, counted as often as it occurs (a dict that refers to the same
dict twice counts it twice)."""


def from_dict(data: Any) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_dict` output (or a spec string).

    The data is checked before it is read (iteratively): mappings and lists nested
    at most :data:`MAX_DEPTH` levels, at most :data:`MAX_VALUES` values, string
    keys, integers a float can hold; anything else is a :class:`SpecError`. So is a
    schedule whose spec (``repr``) would be over the limits of :func:`parse`: what
    ``from_dict`` returns reads back, ``parse(repr(s)) == s``.

    >>> from lrkit import from_dict
    >>> from_dict({"type": "cosine", "init": 0.1, "steps": 100})
    cosine(init=0.1, steps=100)
    >>> from_dict({"type": ["cosine"]})
    Traceback (most recent call last):
    ...
    lrkit.SpecError: 'type' must be a schedule name (a string), got ['cosine']
    """
    if isinstance(data, str):
        return parse(data)
    if isinstance(data, Schedule):
        return data
    depth = _check_data(data)
    out = _build(data)
    why = _unwritable(out, depth)
    if why:
        raise SpecError(why)
    return out


def _check_data(data: Any) -> int:
    """How deeply ``data`` nests; SpecError unless it is within the limits of
    :func:`from_dict` (walked with a stack, so a deep or self-referring value cannot
    exhaust Python's recursion)."""
    count = deepest = 0
    # (value, depth, where): where is (key, parent's where), a path built only on error
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(data, 1, None)]
    while stack:
        v, depth, where = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SpecError(f"schedule dict holds more than {MAX_VALUES:,} values (each "
                            "counted as often as it occurs); the limit is lrkit.spec.MAX_VALUES")
        if isinstance(v, (dict, list, tuple)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                raise SpecError(_deeper("schedule dict", f" {_path(where)}"))
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for key, x in items:
                if isinstance(v, dict) and not isinstance(key, str):
                    raise SpecError(f"keys of a schedule dict must be strings, got "
                                    f"{shown(key)} {_path(where)}")
                # a field's list is part of its mapping's level (join's pieces, knots)
                inner = depth if isinstance(v, dict) and isinstance(x, list) else depth + 1
                stack.append((x, inner, (key, where)))
        elif _too_large(v):
            raise SpecError(f"{shown(v)} {_path(where)} {_TOO_LARGE}")
    return deepest


def _path(where: tuple[Any, ...] | None) -> str:
    """``at schedule['left'][0]`` for the link chain ``(0, ('left', None))``."""
    keys: list[Any] = []
    while where is not None:
        keys.append(where[0])
        where = where[1]
    parts = [f"[{shown(k)}]" for k in reversed(keys)]
    if len(parts) > 10:
        parts = [*parts[:5], f"...({len(parts) - 10} more)...", *parts[-5:]]
    return "at " + "".join(parts) if parts else "at the top"


def _build(data: Any) -> Schedule:
    """The schedule of ``data``, a value :func:`_check_data` accepted."""
    if not isinstance(data, dict):
        raise SpecError(f"a schedule dict needs a mapping with a 'type' key, got {shown(data)}")
    if "type" not in data:
        raise SpecError(f"a schedule dict needs a 'type' key, got keys {shown(sorted(data))}")
    kind = data["type"]
    if not isinstance(kind, str):
        raise SpecError(f"'type' must be a schedule name (a string), got {shown(kind)}")
    cls = REGISTRY.get(kind)
    if cls is None:
        raise SpecError(f"unknown schedule type {shown(kind)}{closest(kind, REGISTRY)}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, v in data.items():
        if key == "type":
            continue
        if key not in names:
            raise SpecError(
                f"{kind}: unknown parameter {shown(key)}{closest(key, names)}; "
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
        return _build(v)
    if isinstance(v, list):
        return tuple(_from_data(x) for x in v)
    return v


def dumps(s: Schedule, fmt: str = "dsl") -> str:
    """The schedule as text: ``dsl`` (the spec), ``json`` or ``yaml``."""
    if fmt == "dsl":
        return repr(s)
    if fmt == "json":
        import json

        return json.dumps(s.to_dict(), indent=2)
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(s.to_dict(), sort_keys=False))
    raise InputError(f"format must be one of 'dsl', 'json', 'yaml', got {fmt!r}")


def as_schedule(x: Any, what: str = "schedule") -> Schedule:
    """A schedule, a number (-> ``constant``) or a spec string (-> :func:`parse`): what the
    adapters and the command line accept from users (the core takes schedules and numbers).

    >>> from lrkit.spec import as_schedule
    >>> as_schedule("cosine(init=0.1, steps=10)"), as_schedule(0.5)
    (cosine(init=0.1, steps=10), constant(0.5))
    """
    if isinstance(x, str):
        return parse(x)
    if isinstance(x, Schedule) or _check.is_number(x):
        return _schedule.as_schedule(x, what)
    raise InputTypeError(f"{what} must be an lrkit schedule, a number or a spec string, got {x!r}")
