"""``s.values(n)``: a single number is a count of steps, never one t (a 0-d array)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lrkit

S = lrkit.warmup(lrkit.cosine(0.1, steps=20_000), warmup_steps=100)


@pytest.mark.parametrize("n", [1e4, 10_000.0, np.float64(1e4), np.float32(1e4), np.int64(10_000)])
def test_a_whole_number_is_a_count(n: float) -> None:
    got = S.values(n)
    assert got.shape == (10_000,)
    np.testing.assert_array_equal(got, S.values(10_000))


@pytest.mark.parametrize("n", [2.5, -0.5, math.nan, math.inf])
def test_any_other_float_is_refused_saying_what_to_write(n: float) -> None:
    with pytest.raises(ValueError, match="a single number is a count of steps .* whole number"):
        S.values(n)


def test_the_message_shows_the_other_spellings() -> None:
    with pytest.raises(ValueError, match=r"use s\(2.5\), .* s.values\(\[2.5\]\)"):
        S.values(2.5)
    assert S.values([2.5]).tolist() == [S(2.5)]
    with pytest.raises(TypeError, match="count of steps or an array"):
        S.values(True)
    with pytest.raises(ValueError, match="n must be >= 0"):
        S.values(-3.0)
