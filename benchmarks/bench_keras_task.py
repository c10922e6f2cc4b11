"""What a Keras task costs in ``lrkit compare`` against the batched PyTorch path.

The same problem both ways: sklearn's digits (1,437 training rows, 64 features, 10
classes), an MLP 64-32-10, SGD with momentum 0.9, batch 64, the same schedules,
peaks and seeds. The PyTorch factory's runs train batched (one vmapped model per
chunk); the Keras factory's runs train one ``model.fit`` each (KERAS_BACKEND=torch).
Prints the training wall time of each (the comparison's "training" lap, so task
loading and reporting are left out), per run, and the ratio.

    PYTHONPATH=src KERAS_BACKEND=torch python benchmarks/bench_keras_task.py [--seeds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap

os.environ.setdefault("KERAS_BACKEND", "torch")

FACTORIES = textwrap.dedent('''
    import numpy as np
    from sklearn.datasets import load_digits


    def _data():
        d = load_digits()
        x = (d.data / 16.0).astype("float32")
        y = d.target.astype("int64")
        idx = np.random.default_rng(0).permutation(len(x))
        x, y = x[idx], y[idx]
        return x[:1437], y[:1437], x[1437:], y[1437:]


    def torch_task():
        import torch

        x, y, xv, yv = (torch.as_tensor(a) for a in _data())
        return {"model": lambda: torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                                     torch.nn.Linear(32, 10)),
                "data": (x, y, xv, yv), "name": "digits-torch"}


    def keras_task():
        import keras

        def build():
            m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(10)])
            m.compile(keras.optimizers.SGD(momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
            return m

        return {"keras": build, "data": _data(), "name": "digits-keras"}
''')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    from lrkit.experiment.compare import Options, run_compare

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "bench_factories_h4c.py"), "w") as f:
            f.write(FACTORIES)
        sys.path.insert(0, tmp)
        rows = []
        for name in ("torch_task", "keras_task"):
            o = Options(task=f"bench_factories_h4c:{name}", schedules=["constant", "cosine",
                                                                        "wsd"],
                        seeds=args.seeds, peaks="0.05,0.2", epochs=args.epochs, batch_size=64,
                        out=os.path.join(tmp, name))
            res = run_compare(o)
            rows.append((name, res.runs, res.timing["training"]))
    print(f"digits MLP 64-32-10, {args.epochs} epochs of 23 steps, 3 schedules x 2 peaks x "
          f"{args.seeds} seeds")
    print(f"{'path':<12}{'runs':>6}{'training s':>12}{'s per run':>11}")
    for name, runs, sec in rows:
        print(f"{name:<12}{runs:>6}{sec:>12.2f}{sec / runs:>11.3f}")
    print(f"keras / torch (batched): {rows[1][2] / rows[0][2]:.1f}x")


if __name__ == "__main__":
    main()
