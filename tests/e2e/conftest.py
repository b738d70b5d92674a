"""Fixtures of the end-to-end tests: root, and processes that never outlive a test."""
import pytest

from harness import Collector, Workload, require_root


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
        self.stops.append(lambda: col.stop(9))
        return col


@pytest.fixture
def start(tmp_path):
    started = Started(tmp_path)
    yield started
    for stop in reversed(started.stops):
        stop()
