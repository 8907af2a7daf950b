"""Work shared out to forked workers: results in order, errors raised here, the same results as
in one process."""

import os

import pytest

from uadbench.workers import called_in_workers


def test_results_come_back_in_the_order_of_the_calls_from_other_processes():
    calls = [lambda i=i: (i, os.getpid()) for i in range(6)]
    results = called_in_workers(calls, workers=2)
    assert [i for i, _ in results] == list(range(6))
    assert os.getpid() not in {pid for _, pid in results}


def test_one_worker_or_one_call_runs_here():
    assert called_in_workers([os.getpid], workers=2) == [os.getpid()]
    assert called_in_workers([os.getpid, os.getpid], workers=1) == [os.getpid()] * 2


def test_an_error_of_a_call_is_raised_here():
    def fails():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        called_in_workers([fails, os.getpid], workers=2)
