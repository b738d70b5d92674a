"""Fixtures of the end-to-end tests: root, and processes that never outlive a test."""
import os
import signal

import pytest

from harness import Collector, Workload, require_root

# A collector left running by a test is killed, except under another build
# (AET_COLLECTOR, make test-asan): that one is stopped with SIGTERM, so that
# it exits through its own cleanup and LeakSanitizer looks at what is left.
TEARDOWN_SIGNAL = signal.SIGTERM if os.environ.get("AET_COLLECTOR") else signal.SIGKILL


@pytest.fixture(autouse=True)
def _root():
    require_root()


class Started:
    """Starts workloads and collectors for one test and stops them after it."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.stops = []

    def workload(self, *args, **kw):
        wl = Workload(self.tmp_path, *args, **kw)
        self.stops.append(wl.kill)
        return wl

    def collector(self, pid, *args, **kw):
        col = Collector(pid, *args, **kw)
        self.stops.append(lambda: col.stop(TEARDOWN_SIGNAL))
        return col


@pytest.fixture
def start(tmp_path):
    started = Started(tmp_path)
    yield started
    failed = []
    for stop in reversed(started.stops):
        try:
            stop()
        except AssertionError as e:  # a sanitizer report: stop the rest, then fail
            failed.append(str(e))
    assert not failed, "\n".join(failed)
