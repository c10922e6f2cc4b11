"""The seed document's four schedules, compared with the seed's own code run literally.

Each ``seed_*`` function below is the seed's snippet (learning-rate-scheduling.md)
copied as written, only wrapped in a function of the epoch so it can be run
at every t from 0 to 1000. lrkit's closed forms must agree to 1e-12 relative
(1e-10 for the compounding loop, whose closed form goes through log-gamma).
"""

import math
from math import exp

import numpy as np
import pytest

import lrkit

T = np.arange(1001)


def seed_constant(epoch):
    # keras.optimizers.SGD(lr=0.05, momentum=0.0, decay=0.0, nesterov=False)
    return 0.05


def seed_time_based_loop(n_epochs):
    """The seed's "Time-Based" example, its loop body run ``n_epochs`` times."""
    current_epoch = 0
    num_epochs = 500
    lr = 0.05
    decay_rate = lr / num_epochs
    for _ in range(n_epochs):
        lr *= (1 / (1 + decay_rate * current_epoch))
        current_epoch += 1
    return lr


def seed_time_based_loop_all(n):
    """The same loop, recording lr after 0, 1, ..., n-1 iterations (one pass)."""
    current_epoch = 0
    num_epochs = 500
    lr = 0.05
    decay_rate = lr / num_epochs
    out = []
    for _ in range(n):
        out.append(lr)
        lr *= (1 / (1 + decay_rate * current_epoch))
        current_epoch += 1
    return np.array(out)


def seed_keras2_decay(iterations):
    """Example 2: SGD(lr=0.05, decay=decay_rate); Keras 2 used lr / (1 + decay * iterations)."""
    num_epochs = 500
    lr = 0.05
    decay_rate = lr / num_epochs
    return lr / (1.0 + decay_rate * iterations)


initial_lr = 0.1
drop = 0.5
epoch_drop_num = 10


def step_decayer(epoch):
    lr = initial_lr * math.pow(drop, math.floor((1 + epoch) / epoch_drop_num))
    return lr


def exponential_decay(epoch):
    initial_lr = 0.1
    constant = 0.09
    lr = initial_lr * exp(-constant * epoch)
    return lr


CASES = [
    pytest.param(lrkit.constant(0.05), seed_constant, 1e-12, id="constant"),
    pytest.param(lrkit.time_decay(0.05, k=0.0001), seed_keras2_decay, 1e-12,
                 id="time_decay-keras2"),
    pytest.param(lrkit.step_decay(0.1, factor=0.5, every=10, offset=1), step_decayer, 1e-12,
                 id="step_decay-seed"),
    pytest.param(lrkit.exponential(0.1, k=0.09), exponential_decay, 1e-12, id="exponential"),
]


@pytest.mark.parametrize(("schedule", "seed", "rtol"), CASES)
def test_seed_schedule_exact_at_every_t(schedule, seed, rtol):
    expected = np.array([seed(int(t)) for t in T])
    scalar = np.array([schedule(int(t)) for t in T])
    assert all(type(schedule(int(t))) is float for t in (0, 7, 1000))
    np.testing.assert_allclose(scalar, expected, rtol=rtol, atol=0)
    np.testing.assert_allclose(schedule.values(1001), expected, rtol=rtol, atol=0)
    np.testing.assert_allclose(schedule.values(T.astype(float)), expected, rtol=rtol, atol=0)


def test_compounding_time_decay_equals_the_seed_loop():
    s = lrkit.time_decay(0.05, k=0.0001, compounding=True)
    expected = seed_time_based_loop_all(1001)
    # spot-check the one-pass recording against the literal loop
    for n in (0, 1, 2, 3, 10, 500, 1000):
        assert expected[n] == seed_time_based_loop(n)
    np.testing.assert_allclose([s(int(t)) for t in T], expected, rtol=1e-10, atol=0)
    np.testing.assert_allclose(s.values(1001), expected, rtol=1e-10, atol=0)
    # after 1000 epochs the loop has decayed far: the closed form must track it
    assert expected[1000] < 0.05 * 1e-20


def test_seed_spec_spellings_parse_to_the_same_values():
    for text in ("constant(0.05)", "time_decay(init=0.05, k=0.0001)",
                 "time_decay(init=0.05, k=0.0001, compounding=True)",
                 "step_decay(init=0.1, factor=0.5, every=10, offset=1)",
                 "exponential(init=0.1, k=0.09)"):
        s = lrkit.parse(text)
        assert repr(s) == text
        assert lrkit.parse(repr(s)) == s
        assert lrkit.parse(text.replace("init=", "")) == s  # the start value may be positional


def test_step_decay_default_offset_drops_like_torch_steplr():
    s = lrkit.step_decay(0.1, factor=0.5, every=10)
    assert [s(t) for t in (0, 9, 10, 19, 20, 29, 30)] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025,
                                                        0.0125]
    seed = lrkit.step_decay(0.1, factor=0.5, every=10, offset=1)
    assert [seed(t) for t in (8, 9, 18, 19)] == [0.1, 0.05, 0.05, 0.025]


def test_exponential_factor_form_is_the_same_curve():
    # 0.1 * exp(-0.09 t) == 0.1 * exp(-0.09) ** t  (Keras/optax factor/every form)
    k = lrkit.exponential(0.1, k=0.09)
    r = lrkit.exponential(0.1, factor=math.exp(-0.09), every=1)
    np.testing.assert_allclose(r.values(1001), k.values(1001), rtol=1e-12)
    r10 = lrkit.exponential(0.1, factor=math.exp(-0.9), every=10)
    np.testing.assert_allclose(r10.values(1001), k.values(1001), rtol=1e-12)
    k10 = lrkit.exponential(0.1, k=0.9, every=10)  # k per period of `every` steps
    np.testing.assert_allclose(k10.values(1001), k.values(1001), rtol=1e-12)
