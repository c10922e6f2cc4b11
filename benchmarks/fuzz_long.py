"""The long fuzz run: >= 100,000 hostile inputs per reader, counted by outcome.

    PYTHONPATH=src .venv/bin/python benchmarks/fuzz_long.py [--inputs 100000]
        [--only parse,from_dict,load,constructors] [--seed 0]

For each entry point (``parse`` with names, ``from_dict``, ``load`` of JSON/YAML/TOML files,
and every registered constructor called with extreme values) it draws inputs from
``tests/fuzzing.py`` (the strategies of ``tests/test_fuzz.py``) and counts every call as
``ok`` (a schedule whose spec and dict read back; for a constructor, also one whose
values are finite, ``>= 0`` and the same in ``s(t)`` and ``s.values``), ``lrkit error``
(an ``lrkit.Error``), ``unexpected`` (any other exception, or a failed round trip) or
``slow`` (over ``fuzzing.SLOW`` seconds; counted besides its outcome). It prints the counts
per entry point, the slowest call, and up to five examples of each unexpected or slow
finding, and exits 1 if there was any. Unlike the test, it does not stop at the first
finding (hypothesis only generates here: no shrinking, no example database).
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fuzzing  # noqa: E402
import lrkit  # noqa: E402


def entry_points(folder: Path) -> dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], Any]]]:
    def load(file: tuple[str, bytes]) -> Any:
        suffix, content = file
        path = folder / f"schedule{suffix}"
        path.write_bytes(content)
        return lrkit.load(path, {"N": 100, "P": 0.1})

    return {
        "parse": (st.tuples(fuzzing.spec_texts(), fuzzing.names()),
                  lambda x: lrkit.parse(x[0], x[1])),
        "from_dict": (fuzzing.schedule_data(), lrkit.from_dict),
        "load": (fuzzing.schedule_files(), load),
        "constructors": (fuzzing.constructor_calls(), lambda x: x),
    }


def run(name: str, strategy: st.SearchStrategy[Any], call: Callable[[Any], Any], inputs: int,
        seed_value: int) -> bool:
    counts: collections.Counter[str] = collections.Counter()
    findings: dict[str, list[str]] = collections.defaultdict(list)
    slowest = (0.0, "")
    started = time.perf_counter()

    @seed(seed_value)
    @settings(max_examples=inputs, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(x: Any) -> None:
        nonlocal slowest
        outcome = (fuzzing.attempt_constructor(*x) if name == "constructors" else
                   fuzzing.attempt(lambda: call(x)))
        counts["lrkit error" if outcome.kind == "error" else outcome.kind] += 1
        if outcome.seconds > slowest[0]:
            slowest = (outcome.seconds, repr(x)[:120])
        for kind in ("unexpected", "slow"):
            if kind == "slow" and outcome.slow:
                counts["slow"] += 1
            if (outcome.kind == kind or (kind == "slow" and outcome.slow)) and len(
                    findings[kind]) < 5:
                findings[kind].append(f"{repr(x)[:160]} -> {outcome.detail[:240]} "
                                      f"({outcome.seconds:.2f} s)")

    one()
    total = sum(counts[k] for k in ("ok", "lrkit error", "unexpected"))
    line = ", ".join(f"{k} {counts[k]:,}" for k in ("ok", "lrkit error", "unexpected", "slow"))
    print(f"{name}: {total:,} inputs in {time.perf_counter() - started:.0f} s: {line}; "
          f"slowest {slowest[0]:.3f} s ({slowest[1]})", flush=True)
    for kind, items in findings.items():
        for item in items:
            print(f"  {kind}: {item}")
    return counts["unexpected"] == 0 and counts["slow"] == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per entry point")
    parser.add_argument("--only", default="parse,from_dict,load,constructors",
                        help="comma-separated entry points (parse, from_dict, load, "
                             "constructors)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    args = parser.parse_args()
    clean = True
    with tempfile.TemporaryDirectory() as tmp:
        points = entry_points(Path(tmp))
        for name in args.only.split(","):
            strategy, call = points[name]
            clean &= run(name, strategy, call, args.inputs, args.seed)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
