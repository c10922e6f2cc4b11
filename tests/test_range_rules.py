"""The default range-test rule lands within the best peaks' range on every built-in task
and the iris, wine, breast-cancer and diabetes tables (benchmarks/range_test_rules.py's
measurement, on its own settings: 8 peaks, constant and cosine, 2 seeds)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from lrkit.experiment.recipe import RANGE_TEST
from lrkit.experiment.tasks import BUILTIN

torch.set_num_threads(1)

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "range_test_rules.py"
_spec = importlib.util.spec_from_file_location("range_test_rules", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("range_test_rules", bench)
_spec.loader.exec_module(bench)

SLOW = {"digits-cnn", "mnist1d", "tiny-lm"}  # > 10 s each here
NAMES = [*BUILTIN, *bench.TABLES]


def test_every_builtin_task_and_table_is_measured():
    assert set(NAMES) >= set(BUILTIN) and len(NAMES) == len(BUILTIN) + 4


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES])
def test_the_default_rule_lands_within_the_best_peaks(name, tmp_path):
    tables = bench.write_tables(str(tmp_path / "tables"))
    ref = {"data": tables[name], "target": "target"} if name in tables else {"task": name}
    r = bench.measure(name, ref, str(tmp_path), seeds=2)
    lo, hi = r["range"]
    lr = r["suggestions"][RANGE_TEST["suggestion"]]
    assert lo <= lr <= hi, f"{name}: {RANGE_TEST['suggestion']} {lr:.3g} not in {lo:.3g}..{hi:.3g}"
    assert r["best"] < r["baseline"]  # the sweep found peaks that learn
