"""Start-up time of the ``lrkit`` commands that train nothing, against ``import numpy``.

Whole processes, run side by side in rounds (each round runs every command once, in
turn, so a busy machine slows all of them alike); prints per command the median wall
time and the median CPU time (user + system of the child process, which a machine
busy with other work inflates far less than wall time), in ms, each with its
difference to ``python -c "import numpy"``.
The goal (issue 12): every command here within ``import numpy`` + 40 ms.

    PYTHONPATH=src python benchmarks/bench_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_MS = 40.0

_LRKIT = "from lrkit.cli import entry; entry()"


def commands(tmp: str) -> dict[str, list[str]]:
    spec = os.path.join(tmp, "s.json")
    with open(spec, "w") as f:
        f.write('{"type": "cosine", "init": 0.1, "steps": 100}')
    lrkit = [sys.executable, "-c", _LRKIT]
    return {
        "import numpy": [sys.executable, "-c", "import numpy"],
        "import lrkit": [sys.executable, "-c", "import lrkit"],
        "lrkit --help": [*lrkit, "--help"],
        "lrkit": lrkit,
        "lrkit list --plain": [*lrkit, "list", "--plain"],
        "lrkit list": [*lrkit, "list"],
        "lrkit values": [*lrkit, "values", "cosine(init=0.1, steps=N)", "--steps", "100"],
        "lrkit show FILE": [*lrkit, "show", spec],
        "lrkit plot": [*lrkit, "plot", "cosine(init=0.1, steps=100)", "--width", "60"],
        "lrkit compare --help": [*lrkit, "compare", "--help"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(tmp)
        times: dict[str, list[float]] = {k: [] for k in cmds}
        cpu: dict[str, list[float]] = {k: [] for k in cmds}
        env = {**os.environ, "COLUMNS": "100"}
        for argv in cmds.values():  # warm the caches (.pyc files) once
            subprocess.run(argv, capture_output=True, env=env, check=False)
        for _ in range(args.rounds):
            for name, argv in cmds.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                proc = subprocess.run(argv, capture_output=True, env=env, check=False)
                times[name].append(1000 * (time.perf_counter() - t))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(1000 * (after.ru_utime - before.ru_utime
                                         + after.ru_stime - before.ru_stime))
                if proc.returncode not in (0, 2):  # 2: bare `lrkit` before it printed the help
                    raise SystemExit(f"{name} failed: {proc.stderr.decode()[-300:]}")
    base_wall = statistics.median(times["import numpy"])
    base_cpu = statistics.median(cpu["import numpy"])
    print(f"{args.rounds} rounds; goal: within import numpy + {GOAL_MS:.0f} ms "
          f"(judged on CPU time)")
    print(f"{'command':<22}{'wall ms':>9}{'- numpy':>9}{'CPU ms':>9}{'- numpy':>9}  goal")
    for name in cmds:
        wall, c = statistics.median(times[name]), statistics.median(cpu[name])
        ok = "" if name.startswith("import") else (
            "ok" if c - base_cpu <= GOAL_MS else "MISSED")
        print(f"{name:<22}{wall:>9.1f}{wall - base_wall:>+9.1f}{c:>9.1f}{c - base_cpu:>+9.1f}"
              f"  {ok}")

if __name__ == "__main__":
    main()
