"""What the ``lrkit.peers`` tests share (imported by tests/test_peers_*.py)."""

import numpy as np

import lrkit


def ours(s, n, every=101):
    """``s.values(n)``, after checking that the scalar path gives the same values and that
    the schedule is a spec that reads back."""
    v = s.values(n)
    np.testing.assert_allclose([s(t) for t in range(0, n, every)], v[::every], rtol=1e-13)
    assert lrkit.parse(repr(s)) == s
    return v


def test_ours_checks_the_round_trip():
    assert ours(lrkit.cosine(0.1, steps=10), 12).tolist()[-1] == 0.0
