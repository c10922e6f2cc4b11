"""``lrkit.peers`` imports no peer library: building from arguments or configs loads none of
torch, transformers, timm, keras or jax (checked in a fresh interpreter)."""

import subprocess
import sys

CODE = """
import sys
import lrkit.peers as p
p.transformers("cosine", num_warmup_steps=10, num_training_steps=100)
p.transformers("reduce_lr_on_plateau", patience=2)
p.timm("cosine", lr=0.1, num_epochs=10, warmup_epochs=2, step_on_epochs=False,
       updates_per_epoch=5)
p.timm("WSDLRScheduler", lr=0.1, t_initial=100, decay_t=20)
p.keras({"initial_learning_rate": 0.1, "first_decay_steps": 100, "alpha": 0.1})
p.keras({"class_name": "PiecewiseConstantDecay",
         "config": {"boundaries": [10], "values": [0.1, 0.01]}})
loaded = sorted(m for m in ("torch", "transformers", "timm", "keras", "jax", "optax")
                if m in sys.modules)
print(loaded)
"""


def test_the_peer_constructors_import_no_peer():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
