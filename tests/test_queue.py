"""The work queue's rule for an item enqueued twice (two workers saw its trials fail at the
same moment and both requeued it): whatever the order of claims and checks, exactly one
worker goes on, on a journal file and on a real PostgreSQL server."""

from __future__ import annotations

import itertools

import pytest
from optuna.trial import TrialState

from lrkit.experiment.distributed import _open
from lrkit.experiment.queue import WORK, Queue

ITEM = {"id": "chunk-0-0", "kind": "chunk", "stage": 0, "index": 0}


@pytest.fixture(params=["journal", "postgres"])
def url(request, tmp_path):
    if request.param == "journal":
        return f"journal:///{tmp_path}/q.log"
    return request.getfixturevalue("pg_url")


def _twice(url):
    """Two workers' queues, and the item's two trials (oldest first) after both requeued it
    upon its first trial's failure."""
    a, b = (Queue(_open(url, 30), "s", create=True) for _ in range(2))
    a.enqueue([ITEM])
    (first,) = a.trials()
    assert a.claim(first)
    a.storage.set_trial_state_values(first._trial_id, TrialState.FAIL)
    trials = a.trials()
    assert a.requeue(trials) == 1 and b.requeue(trials) == 1  # both saw it needed
    lower, higher = (t for t in b.trials() if t.state == TrialState.WAITING)
    assert lower.number < higher.number and lower.user_attrs[WORK]["attempt"] == 1
    return a, b, lower, higher


# every order of: A claims, B claims, A checks, B checks (each claims before it checks)
ORDERS = [o for o in itertools.permutations(["claim a", "claim b", "check a", "check b"])
          if o.index("claim a") < o.index("check a") and o.index("claim b") < o.index("check b")]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: ", ".join(o))
@pytest.mark.parametrize("a_takes", ["lower", "higher"])
def test_one_of_two_requeued_trials_goes_on(url, order, a_takes):
    a, b, lower, higher = _twice(url)
    mine = {"a": lower, "b": higher} if a_takes == "lower" else {"a": higher, "b": lower}
    queues = {"a": a, "b": b}
    goes_on = {}
    for step in order:
        verb, who = step.split()
        if verb == "claim":
            assert queues[who].claim(mine[who])
        else:
            goes_on[who] = not queues[who].rival(mine[who])
    assert sorted(goes_on.values()) == [False, True]  # exactly one worker trains the item
    assert goes_on["a"] == (a_takes == "lower")  # the lower-numbered trial's


def test_a_lower_trial_that_failed_does_not_stop_the_higher(url):
    a, b, lower, higher = _twice(url)
    assert a.claim(lower)
    a.storage.set_trial_state_values(lower._trial_id, TrialState.FAIL)  # its worker died
    assert b.claim(higher) and not b.rival(higher)


def test_a_complete_trial_stops_every_other(url):
    a, b, lower, higher = _twice(url)
    assert b.claim(higher) and a.claim(lower)
    assert a.finish(lower._trial_id, 4)
    assert b.rival(higher)
