"""JAX/optax + lrkit: softmax regression on scikit-learn's digits, trained under jax.jit.

    python examples/optax_sgd.py [steps]

The learning rate is an lrkit schedule turned into an optax schedule; wrapping
the optimizer in ``optax.inject_hyperparams`` makes the value used by each
update visible in the optimizer state, for logging.
"""

from __future__ import annotations

import sys
from typing import Any

import jax
import jax.numpy as jnp
import optax
from sklearn.datasets import load_digits

import lrkit
import lrkit.optax


def main(steps: int = 200, verbose: bool = True) -> dict[str, Any]:
    """Train ``steps`` full-batch updates; return the schedule, losses and logged learning rates."""
    x, y = load_digits(return_X_y=True)
    x, y = jnp.asarray(x / 16.0, jnp.float32), jnp.asarray(y)

    s = lrkit.warmup(lrkit.cosine(0.5, steps=steps, end=0.005), warmup_steps=max(1, steps // 10))
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lrkit.optax.schedule(s),
                                             momentum=0.9, nesterov=True)
    params = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}

    def loss_fn(p):
        logits = x @ p["w"] + p["b"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(p, state):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    state = tx.init(params)
    losses, lrs = [], []
    for i in range(steps):
        params, state, loss = step(params, state)
        losses.append(float(loss))
        lrs.append(float(state.hyperparams["learning_rate"]))  # the value update i used: s(i)
        if verbose and (i % max(1, steps // 5) == 0 or i == steps - 1):
            print(f"step {i:4d}  loss {losses[-1]:.4f}  lr {lrs[-1]:.5f}  (s({i}) = {s(i):.5f})")
    acc = float(jnp.mean(jnp.argmax(x @ params["w"] + params["b"], axis=1) == y))
    if verbose:
        print(f"train accuracy {acc:.3f}")
    return {"schedule": s, "losses": losses, "lrs": lrs, "accuracy": acc}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
