"""The import graph of ``src/lrkit``: no cycle, the package face imported by no module, and
the core never reaching an adapter, the plots, the experiments or the command line.

Every ``.py`` file is read with :mod:`ast` (nothing is imported): module-level and
function-level imports, absolute (``lrkit.x``) and relative (``from ..spec import parse``),
``if TYPE_CHECKING:`` ones too. ``from pkg import name`` is an edge to ``pkg.name`` when that
is a module, else to ``pkg``. Importing a submodule also runs its packages' ``__init__``;
those implicit edges are left out (every module would otherwise import the face). Dynamic
imports (``importlib.import_module``) are not seen.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = "lrkit"
FACE = ROOT  # lrkit/__init__.py: it may import anything; no module inside may import it
PUBLIC = "lrkit._public"  # the face's names, which it loads on first use: the face's too
FACES = (FACE, PUBLIC)

CORE = ("lrkit.schedule", "lrkit.schedules", "lrkit.compose", "lrkit._plateau", "lrkit.spec",
        "lrkit.xp", "lrkit.errors", "lrkit._check", "lrkit.glossary")
ABOVE_THE_CORE = ("lrkit.torch", "lrkit.keras", "lrkit.optax", "lrkit._torch", "lrkit._traced",
                  "lrkit.lightning",
                  "lrkit.plot", "lrkit.experiment", "lrkit.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


def in_family(name: str, families: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in families)


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The lrkit modules that ``name`` (the module in ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    return {m for m in out if m == ROOT or m.startswith(ROOT + ".")}


@functools.cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the lrkit modules it imports (read once per session; do not mutate)."""
    mods = modules()
    known = set(mods)
    return {name: frozenset(imports(name, path, known) - {name}) for name, path in mods.items()}


def find_cycle(edges: dict[str, frozenset[str]]) -> list[str] | None:
    """One cycle (``[a, b, ..., a]``) among the modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_walk_sees_the_imports_it_should():
    g = graph()
    assert {"lrkit.schedule", "lrkit.spec", "lrkit.compose", "lrkit.schedules"} <= g[PUBLIC]
    assert PUBLIC in g[FACE]  # under TYPE_CHECKING; at run time, on first use
    assert "lrkit.experiment.lr_find" in g[FACE]  # a function-level import in __init__
    assert {"lrkit._check", "lrkit.errors", "lrkit.schedule"} <= g["lrkit.spec"]
    assert "lrkit.plot" in g["lrkit.cli.schedules"]  # `from .. import plot`, in a function
    assert "lrkit._torch.convert" in g["lrkit.torch"]


def test_no_module_inside_the_package_imports_the_package_face():
    offenders = sorted(m for m, targets in graph().items()
                       if m not in FACES and targets & set(FACES))
    assert offenders == [], (
        f"these modules import {FACES!r} itself (import the specific module relatively, "
        f"e.g. `from ..spec import parse`): {offenders}")


def test_the_import_graph_has_no_cycle():
    edges = {m: targets - set(FACES) for m, targets in graph().items() if m not in FACES}
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("core", sorted(m for m in modules() if in_family(m, CORE)))
def test_the_core_never_reaches_above_itself(core):
    """Follow every import from a core module; none may lead out of the core's layer."""
    g = graph()
    seen = {core: [core]}
    todo = [core]
    while todo:
        m = todo.pop()
        for n in sorted(g.get(m, ())):
            if n not in seen:
                seen[n] = seen[m] + [n]
                todo.append(n)
    bad = sorted(n for n in seen if n in FACES or in_family(n, ABOVE_THE_CORE))
    assert bad == [], "the core reaches above itself: " + "; ".join(
        " -> ".join(seen[n]) for n in bad)


def test_cycle_finder_finds_a_cycle():
    a, b, c = frozenset({"a"}), frozenset({"b"}), frozenset({"c"})
    assert find_cycle({"a": b, "b": c, "c": a}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": b, "b": frozenset(), "c": b}) is None
