"""``lrkit.experiment``'s modules import each other one way only (no cycle, lazy imports
included), and never through the package face (``import lrkit``)."""

from __future__ import annotations

import ast
from pathlib import Path

import lrkit.experiment

PACKAGE = Path(lrkit.experiment.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> set[str]:
    """The experiment modules ``module`` imports, anywhere in its code."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 1:  # from .x import y / from . import x
                names = [base] if base else [a.name for a in node.names]
            elif node.level == 0 and base.startswith("lrkit.experiment."):
                names = [base.split(".")[2]]
            else:
                continue
            out |= {n.split(".")[0] for n in names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names
                    if a.name.startswith("lrkit.experiment.")}
    return out & set(MODULES) - {module}


GRAPH = {m: _imports(m) for m in MODULES}


def _cycle() -> list[str] | None:
    """One import cycle, as a path ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for d in sorted(GRAPH[m]):
            if state.get(d) == 1:
                return [*path, m, d][[*path, m].index(d):]
            if d not in state and (found := visit(d, [*path, m])):
                return found
        state[m] = 2
        return None

    for m in MODULES:
        if m not in state and (found := visit(m, [])):
            return found
    return None


def test_the_import_graph_is_found():
    assert {"compare", "recipe", "candidates", "grid", "runner", "summary"} <= set(MODULES)
    assert {"candidates", "grid", "runner", "summary", "store"} <= GRAPH["compare"]
    assert GRAPH["recipe"] == set()  # a leaf


def test_no_two_experiment_modules_import_each_other():
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_no_module_imports_the_package_face():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "lrkit" for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert node.level > 0 or not (node.module or "").startswith("lrkit"), path.name
                assert not (node.level == 2 and node.module is None), (
                    f"{path.name}: 'from .. import x' imports the package face")
