"""Test-session set-up shared by the tests and the doctests under src/."""

import os

# Keras 3 runs on the PyTorch backend here (torch is always installed for the tests).
os.environ.setdefault("KERAS_BACKEND", "torch")
