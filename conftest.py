"""Test-session set-up shared by the tests and the doctests under src/."""

import os
import tempfile

# Keras 3 runs on the PyTorch backend here (torch is always installed for the tests).
os.environ.setdefault("KERAS_BACKEND", "torch")
# Generated data (mnist1d) is cached here, not in the user's ~/.cache.
os.environ.setdefault("LRKIT_CACHE", os.path.join(tempfile.gettempdir(), "lrkit-test-cache"))

# ``pytest --hypothesis-profile=long tests/test_fuzz.py``: the fuzz tests draw 100,000 inputs
# each (the default profile draws a few hundred, from a fixed seed; see tests/test_fuzz.py).
from hypothesis import settings  # noqa: E402

settings.register_profile("long", max_examples=100_000, deadline=None)
