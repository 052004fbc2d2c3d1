"""Random public calls and damaged checkpoint files, drawn by hypothesis (bounded to seconds).

Every valid call must give torch's result and every invalid one a jrnn error; every damaged
file must load its exact values or raise a jrnn error naming it. ``python -m jrnn.fuzz`` runs
the same draws at scale, in child processes that also catch crashes.
"""

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jrnn.fuzz import files, oracle
from jrnn.fuzz.calls import draw_call

SETTINGS = settings(
    max_examples=40,  # about 20 s on 2 cores; the script runs thousands
    deadline=None,
    derandomize=True,  # the same draws on every run: CI stays reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _draw(data):
    return lambda name, options: data.draw(st.sampled_from(options), label=name)


@SETTINGS
@given(st.data())
def test_random_calls(data):
    call = draw_call(_draw(data))
    result, detail = oracle.outcome(call)
    assert result in ("correct", "clean error"), f"{call.describe()}: {result}: {detail}"
    assert (result == "correct") == call.valid


@SETTINGS
@given(st.data())
def test_damaged_files(data):
    with tempfile.TemporaryDirectory() as directory:
        result, detail = files.outcome(directory, _draw(data))
    assert result in ("correct", "clean error"), f"{result}: {detail}"
