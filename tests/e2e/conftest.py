"""Fixtures of the end-to-end tests: root, and processes that never outlive a test."""
import os
import signal
import subprocess

import pytest

from harness import BUILD, Collector, Workload, require_root
from httpd import Servers
from otlp import Receiver

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


@pytest.fixture
def target(request):
    """bench-probe-hit, which calls the probe functions on command (see
    bench/probe_hit.c); its pid in pid_."""
    hit = subprocess.Popen([os.path.join(BUILD, "bench-probe-hit")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    request.addfinalizer(hit.kill)
    hit.pid_ = int(hit.stdout.readline().split()[1])
    return hit


@pytest.fixture
def servers(tmp_path):
    """tests/e2e/httpd.py's HTTP and HTTPS servers, stopped after the test."""
    s = Servers(os.path.join(str(tmp_path), "httpd"))
    yield s
    s.stop()


@pytest.fixture
def receiver():
    """An OTLP/HTTP receiver (tests/e2e/otlp.py), stopped after the test."""
    rx = Receiver()
    yield rx
    rx.stop()
