"""Fixtures of the end-to-end tests: root, and processes that never outlive a test."""
import os
import signal
import subprocess

import pytest

from harness import BUILD, Collector, Workload, require_root
from httpd import Servers
from otlp import Receiver

# A collector left running by a test is stopped with SIGTERM: it exits
# through its own cleanup (under make test-asan, LeakSanitizer then looks at
# what is left), and detaches its links in parallel, where a killed one has
# the kernel close them one by one, each waiting for a grace period: 6.4 s
# against 9.4 s with every family attached (bench/RESULTS.md, "Test suite").
TEARDOWN_SIGNAL = signal.SIGTERM


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
