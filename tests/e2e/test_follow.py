"""Follow mode (--comm, --exe): every matching process, running now or
started later, is observed; one that exits is let go; a restarted AET is
observed within a second, without restarting the collector."""
import collections
import json
import os
import random
import shutil
import subprocess
import time

import pytest

from harness import BUILD, LIBRARY, PYTHON, by_labels, parse_exposition


@pytest.fixture
def hit(tmp_path):
    """A copy of bench-probe-hit and its probe library of this test's own,
    under a name of its own: no other process on the host matches them."""
    comm = "aet-hit-%06d" % random.randrange(10**6)
    path = os.path.join(str(tmp_path), comm)
    shutil.copy(os.path.join(BUILD, "bench-probe-hit"), path)
    shutil.copy(LIBRARY, str(tmp_path))  # found through its rpath, $ORIGIN
    return path


class Hit:
    """bench-probe-hit, started as argv0 (a link gives another comm)."""

    def __init__(self, argv0):
        self.proc = subprocess.Popen([argv0], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.pid = int(self.proc.stdout.readline().split()[1])
        self.ready_at = time.monotonic()

    def tasks(self, n):
        self.proc.stdin.write("agents %d\n" % n)
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "done"

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def tasks_total(col):
    s, _ = parse_exposition(col.metrics())
    return sum(by_labels(s, "aet_tasks_total").values())


def up(col):
    s, _ = parse_exposition(col.metrics())
    return {int(dict(k)["pid"]): v for k, v in by_labels(s, "aet_target_up").items()}


def status(col):
    return json.loads(col.get("/status")[2])


def wait_for(what, timeout=10):
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "not within %d s" % timeout
        time.sleep(0.02)
    return time.monotonic()


def library(hit):
    return os.path.join(os.path.dirname(hit), "libaetprobe.so")


def test_restarted_target_is_observed_within_a_second(start, request, hit):
    # Nothing runs yet: --library puts the uprobes on the library at start.
    col = start.collector(None, "--exe", hit, "--library", library(hit), wait_ready=False)
    assert col.get("/ready")[0] == 503
    assert up(col) == {}
    a = Hit(hit)
    request.addfinalizer(a.kill)
    a.tasks(100)  # at once: counted from the exec on
    wait_for(lambda: col.get("/ready")[0] == 200)
    assert tasks_total(col) == 100
    assert up(col) == {a.pid: 1}

    a.kill()  # SIGKILL, reaped
    wait_for(lambda: col.get("/ready")[0] == 503, timeout=3)
    assert up(col) == {a.pid: 0}
    assert col.proc.poll() is None

    b = Hit(hit)
    request.addfinalizer(b.kill)
    b.tasks(50)
    seen = wait_for(lambda: up(col).get(b.pid) == 1, timeout=3)
    # Follow mode looks four times a second.
    print("restart observed %.3f s after the new process was ready" % (seen - b.ready_at))
    assert seen - b.ready_at < 1.0
    wait_for(lambda: col.get("/ready")[0] == 200, timeout=3)
    assert tasks_total(col) == 150
    assert up(col) == {a.pid: 0, b.pid: 1}
    st = status(col)["follow"]
    assert st["by"] == "exe" and st["match"] == hit
    assert [(p["pid"], p["alive"]) for p in st["processes"]] == [(a.pid, False), (b.pid, True)]
    code, err = col.stop()
    assert code == 0, err


def test_comm_follows_running_and_new_processes_only(start, request, tmp_path, hit):
    a = Hit(hit)
    request.addfinalizer(a.kill)
    a.tasks(7)  # before the collector: not counted
    col = start.collector(None, "--comm", os.path.basename(hit))  # ready: it adopted a
    b = Hit(hit)
    request.addfinalizer(b.kill)
    # Another name, the same program and library: its calls hit the same
    # uprobes, and are not counted.
    other = os.path.join(str(tmp_path), "not-aet")
    os.symlink(hit, other)
    c = Hit(other)
    request.addfinalizer(c.kill)
    a.tasks(10)
    b.tasks(20)
    c.tasks(40)
    assert tasks_total(col) == 30
    wait_for(lambda: up(col) == {a.pid: 1, b.pid: 1}, timeout=3)
    assert status(col)["target"]["pid"] == a.pid
    # The current target goes: the next one (b) takes its place.
    a.kill()
    wait_for(lambda: status(col)["target"]["pid"] == b.pid, timeout=3)
    assert col.get("/ready")[0] == 200
    b.tasks(5)
    assert tasks_total(col) == 35


def test_renamed_process_is_followed(start, request):
    """A process that names itself (prctl PR_SET_NAME) after its exec."""
    name = "aet-ren-%06d" % random.randrange(10**6)
    col = start.collector(None, "--comm", name, "--library", LIBRARY,
                          wait_ready=False)
    script = ("import ctypes, sys\n"
              "libc = ctypes.CDLL(None)\n"
              "libc.prctl(15, %r, 0, 0, 0)\n"
              "probe = ctypes.CDLL(%r)\n"
              "for i in range(25):\n"
              "    probe.aet_probe_task_begin(ctypes.c_uint64(i + 1), b'coder', b'generation')\n"
              "    probe.aet_probe_task_end(ctypes.c_uint64(i + 1), 0)\n"
              "print('done', flush=True)\n"
              "sys.stdin.readline()\n" % (name.encode(), LIBRARY))
    p = subprocess.Popen([PYTHON, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    request.addfinalizer(p.kill)
    assert p.stdout.readline().strip() == "done"
    assert tasks_total(col) == 25
    wait_for(lambda: up(col) == {p.pid: 1}, timeout=3)


def test_max_targets_bounds_the_list(start, request, hit):
    col = start.collector(None, "--exe", hit, "--max-targets", "1", "--library", library(hit),
                          wait_ready=False)
    a, b = Hit(hit), Hit(hit)
    request.addfinalizer(a.kill)
    request.addfinalizer(b.kill)
    a.tasks(3)
    b.tasks(4)
    # Both are observed; only one is listed, the other counted as untracked.
    assert tasks_total(col) == 7
    wait_for(lambda: status(col)["follow"]["untracked"] == 1, timeout=3)
    assert list(up(col)) == [a.pid]


def test_sqlite_follows_the_restarted_workload(start, tmp_path):
    """The reference workload twice under one name: tasks, SQL operations
    and garbage collections of both, exactly, with SQLite's uprobes and the
    interpreter's USDT probes moved to the second."""
    name = "aet-wl-%06d" % random.randrange(10**6)
    python = os.path.join(str(tmp_path), name)
    os.symlink(os.path.realpath(PYTHON), python)
    col = start.collector(None, "--comm", name, "--library", LIBRARY,
                          wait_ready=False)
    want_sql, want_tasks, want_gc = collections.Counter(), 0, collections.Counter()
    for run in ("1", "2"):
        wl = start.workload("--seed", run, "--tasks", "60", "--gc", python=python, suffix=run)
        wait_for(lambda: "/proc/%d/" % wl.pid in (status(col)["sqlite"]["library"] or "") and
                 status(col)["python"]["interpreter"] == "/proc/%d/exe" % wl.pid and
                 status(col)["python"]["attached"] == 2 and col.get("/ready")[0] == 200)
        truth = wl.go()
        for r in truth["sql"]:
            want_sql[(r["operation"], r["status"])] += r["count"]
        want_tasks += sum(r["count"] for r in truth["tasks"])
        for g, n in truth["gc"].items():
            want_gc[g] += n["collections"]
    s, _ = parse_exposition(col.metrics())
    got = {(dict(k)["operation"], dict(k)["status"]): v
           for k, v in by_labels(s, "aet_db_operations_total").items() if v}
    assert got == {k: v for k, v in want_sql.items() if v}
    assert sum(by_labels(s, "aet_tasks_total").values()) == want_tasks
    assert {dict(k)["generation"]: v for k, v in
            by_labels(s, "aet_python_gc_collections_total").items()} == dict(want_gc)
