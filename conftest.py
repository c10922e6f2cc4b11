"""Test-session set-up shared by the tests and the doctests under src/."""

import os
import tempfile

# Keras 3 runs on the PyTorch backend here (torch is always installed for the tests).
os.environ.setdefault("KERAS_BACKEND", "torch")
# Generated data (mnist1d) is cached here, not in the user's ~/.cache.
os.environ.setdefault("LRKIT_CACHE", os.path.join(tempfile.gettempdir(), "lrkit-test-cache"))
