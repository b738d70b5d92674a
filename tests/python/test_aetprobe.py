"""Tests of the Python binding (probe/python/aetprobe.py) and of the reference
workload's determinism. None of them needs the kernel; those that need
libaetprobe.so ($AETPROBE_LIBRARY, else build/libaetprobe.so) skip without it.

    /usr/bin/python3 -m pytest tests/python -q
"""
import asyncio
import ctypes
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINDING_DIR = os.path.join(ROOT, "probe", "python")
HEADER = os.path.join(ROOT, "include", "aet", "probe.h")
WORKLOAD = os.path.join(ROOT, "tests", "workload", "aet_workload.py")
LIBRARY = os.environ.get("AETPROBE_LIBRARY") or os.path.join(ROOT, "build", "libaetprobe.so")

sys.path.insert(0, BINDING_DIR)
import aetprobe  # noqa: E402

needs_library = pytest.mark.skipif(not os.path.exists(LIBRARY),
                                   reason="no libaetprobe.so at %s (not built yet)" % LIBRARY)

# Calls every function and context manager; run in a subprocess below.
EXERCISE = textwrap.dedent("""
    import asyncio, aetprobe as a
    assert a.abi_version() == (2 if a.available else 0), a.abi_version()
    a.cycle_begin(1); a.cycle_end(1, a.SUCCESS)
    a.task_begin(2, "coder", b"generation"); a.task_end(2, a.FAILURE)
    a.agent_begin(3, b"bad\\xff", "write_code"); a.agent_end(3, a.TIMEOUT)
    a.event("task_started"); a.event("bad\\udcff\\ud800")
    a.span_begin(4, "step", "k=v;x=y"); a.span_begin(5, "child"); a.span_end(5, 0); a.span_end(4, 9)
    a.trace_context("00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    a.task_end(1 << 63, a.CANCELLED)
    a.counter("tokens", agent="coder").add(812); a.counter_add("x", b"k=\\xff", 1)
    a.gauge("depth", q="t").set(-3); a.gauge("depth").add(2); a.gauge_set("g", "", 1)
    a.histogram("h", a="b").observe(0.25); a.observe("h", "", -1.5)
    a.histogram("hb", buckets=[0.1, 1, float("inf")], a="b").observe(0.5)
    a.histogram_buckets(b"hc", (1, 2))
    with a.cycle():
        with a.task(None, "coder", "analysis") as t:
            with a.agent(None, "coder", "plan"):
                pass
            t.status = a.TIMEOUT
        with a.span(None, "s", "k=v"):
            pass
    for exc in (ValueError, TimeoutError, asyncio.CancelledError):
        try:
            with a.task(None, "coder", "analysis"):
                raise exc()
        except exc:
            pass
        else:
            raise AssertionError("swallowed " + exc.__name__)
    print(a.available, a.error)
""")


def run_binding(code, library):
    env = dict(os.environ, AETPROBE_LIBRARY=library, PYTHONPATH=BINDING_DIR)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def test_missing_library_makes_every_call_a_noop(tmp_path):
    missing = str(tmp_path / "libaetprobe.so")
    out = run_binding(EXERCISE, missing)
    assert out.returncode == 0, out.stderr
    available, error = out.stdout.strip().split(" ", 1)
    assert available == "False"
    assert missing in error


def test_library_without_the_symbols_makes_every_call_a_noop():
    out = run_binding(EXERCISE, "libc.so.6")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("False cannot load libc.so.6")


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_other_abi_version_makes_every_call_a_noop(tmp_path):
    source = tmp_path / "v3.c"
    source.write_text("int aet_probe_abi_version(void) { return 3; }\n" + "".join(
        "void aet_probe_%s(void) {}\n" % name for name in aetprobe._SIGNATURES
        if name != "abi_version"))
    library = str(tmp_path / "libaetprobe.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", library, str(source)], check=True)
    out = run_binding(EXERCISE, library)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False %s speaks probe ABI version 3, not 1 or 2" % library


@needs_library
def test_real_library_is_version_2_and_every_function_can_be_called():
    out = run_binding(EXERCISE, LIBRARY)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True None"


def test_signatures_match_the_header():
    """argtypes and restype are those of include/aet/probe.h, function by function."""
    ctype = {"void": None, "int": ctypes.c_int, "uint64_t": ctypes.c_uint64,
             "int32_t": ctypes.c_int32, "int64_t": ctypes.c_int64, "const char *": ctypes.c_char_p,
             "const double *": ctypes.POINTER(ctypes.c_double), "size_t": ctypes.c_size_t,
             "const int64_t *": ctypes.POINTER(ctypes.c_int64), "uint32_t": ctypes.c_uint32}
    header = open(HEADER).read()
    declared = {}
    for ret, name, params in re.findall(r"^(\w+) aet_probe_(\w+)\(([^)]*)\);", header, re.M):
        params = [] if params == "void" else [
            re.match(r"(.*?)\s*\w+$", p.strip()).group(1) for p in params.split(",")]
        declared[name] = (ctype[ret], tuple(ctype[p] for p in params))
    # What histogram_buckets calls in the library: not the binding's.
    assert declared.pop("histogram_bounds") == (
        None, (ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_uint32))
    assert declared == dict(aetprobe._SIGNATURES, **aetprobe._SIGNATURES_2,
                            **aetprobe._SIGNATURES_2_LATER)
    for name in declared:
        assert callable(getattr(aetprobe, name))


@pytest.fixture
def calls(monkeypatch):
    """Records every call the binding makes into the library."""
    log = []
    table = {name: (lambda name: lambda *args: log.append((name,) + args))(name)
             for name in list(aetprobe._SIGNATURES) + list(aetprobe._SIGNATURES_2)
             + list(aetprobe._SIGNATURES_2_LATER)}
    monkeypatch.setattr(aetprobe, "_c", SimpleNamespace(**table))
    return log


def test_task_succeeds(calls):
    with aetprobe.task(7, "coder", "generation") as t:
        assert t.id == 7
    assert calls == [("task_begin", 7, b"coder", b"generation"), ("task_end", 7, aetprobe.SUCCESS)]


@pytest.mark.parametrize("exc, status", [
    (ValueError, aetprobe.FAILURE),
    (OSError, aetprobe.FAILURE),
    (TimeoutError, aetprobe.TIMEOUT),
    (asyncio.TimeoutError, aetprobe.TIMEOUT),
    (asyncio.CancelledError, aetprobe.CANCELLED),
    (KeyboardInterrupt, aetprobe.CANCELLED),
])
def test_exception_sets_status_and_propagates(calls, exc, status):
    with pytest.raises(exc):
        with aetprobe.agent(3, "planner", "plan"):
            raise exc()
    assert calls == [("agent_begin", 3, b"planner", b"plan"), ("agent_end", 3, status)]


def test_status_override_wins(calls):
    with aetprobe.cycle(5) as c:
        c.status = aetprobe.TIMEOUT
    with pytest.raises(ValueError):
        with aetprobe.span(6, "step") as s:
            s.status = aetprobe.SUCCESS
            raise ValueError()
    assert calls == [("cycle_begin", 5), ("cycle_end", 5, aetprobe.TIMEOUT),
                     ("span_begin", 6, b"step", b""), ("span_end", 6, aetprobe.SUCCESS)]


def test_none_id_takes_a_fresh_id(calls):
    with aetprobe.cycle() as a, aetprobe.task(None, "x", "y") as b:
        pass
    assert a.id != b.id and a.id > 0 and b.id > 0
    assert aetprobe.next_id() > max(a.id, b.id)
    assert ("cycle_begin", a.id) in calls and ("task_end", b.id, aetprobe.SUCCESS) in calls


def test_strings_and_bytes(calls):
    aetprobe.task_begin(1, "\u00e9t\u00e9", b"bad\xff\xfe")
    aetprobe.event("bad\udcff")  # surrogateescape: the byte it stands for
    aetprobe.event("lone \ud800")  # not from surrogateescape: sent, never raised
    aetprobe.span_begin(2, b"name", "k=v")
    aetprobe.trace_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert calls == [
        ("task_begin", 1, "\u00e9t\u00e9".encode(), b"bad\xff\xfe"),
        ("event", b"bad\xff"),
        ("event", b"lone \xed\xa0\x80"),
        ("span_begin", 2, b"name", b"k=v"),
        ("trace_context", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]


# -- the reference workload --

def run_workload(tmp_path, name, *args, env=None):
    truth = tmp_path / (name + ".json")
    out = subprocess.run([sys.executable, WORKLOAD, "--truth", str(truth), *args],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, out.stderr
    assert re.search(r"^done: \d+ tasks in [\d.]+ s \([\d.]+ tasks/s\)$", out.stderr, re.M)
    with open(truth) as f:
        return json.load(f)


COUNTED = ("cycles", "tasks", "agent_requests", "events", "files", "sql", "unmatched")


def counts(truth):
    """The truth without what depends on timing or on the run."""
    return {k: [{f: v for f, v in row.items() if f != "duration_sum_s"} for row in truth[k]]
            if isinstance(truth[k], list) else truth[k] for k in COUNTED}


def total(rows, **match):
    return sum(r["count"] for r in rows if all(r[k] == v for k, v in match.items()))


def check_consistent(truth, tasks, per_cycle):
    t, ev = truth["tasks"], truth["events"]
    assert total(t) == tasks
    assert total(truth["cycles"]) == -(-tasks // per_cycle)
    assert total(ev, event_type="cycle_completed") == total(truth["cycles"])
    assert total(ev, event_type="task_started") == tasks
    for status, event in (("success", "task_completed"), ("failure", "task_failed"),
                          ("timeout", "task_timeout"), ("cancelled", "task_cancelled")):
        assert total(t, status=status) == total(ev, event_type=event)
        if status != "success":  # each failed task has exactly one failed request
            assert total(truth["agent_requests"], status=status) == total(t, status=status)
    assert total(ev, event_type="agent_error") == tasks - total(t, status="success")
    assert tasks <= total(truth["agent_requests"]) <= 3 * tasks
    assert truth["unmatched"] == {"task": 1, "agent": 1, "cycle": 1, "span": 0}
    for kind in ("cycles", "tasks", "agent_requests", "events", "files", "sql"):
        assert all(r["count"] > 0 for r in truth[kind]), kind
    for kind in ("cycles", "tasks", "agent_requests"):
        assert all(r["duration_sum_s"] > 0 for r in truth[kind]), kind

    files = {(r["operation"], r["status"]): r for r in truth["files"]}
    n = lambda op, st="success": files[op, st]["count"] if (op, st) in files else 0  # noqa: E731
    # Every file is opened once to write and once to read back, whole.
    assert n("open") == n("write") + n("read")
    assert files["read", "success"]["bytes"] == files["write", "success"]["bytes"] > 0
    assert 0 < n("fsync") <= n("write") and 0 < n("rename") <= n("write")
    # All written files are gone at the end, and the registry with them.
    assert n("unlink") == n("write")
    assert n("rmdir") == n("mkdir") + 1
    assert n("open", "error") > 0 and n("unlink", "error") > 0
    moved = {k for k, r in files.items() if r["bytes"]}
    assert moved == {("read", "success"), ("write", "success")}

    sql = {(r["operation"], r["status"]): r["count"] for r in truth["sql"]}
    assert sql["begin", "success"] == sql["commit", "success"] + 1
    assert sql["rollback", "success"] == 1 and sql["insert", "error"] == 1
    assert sum(v for (_, st), v in sql.items() if st == "error") == 1
    assert sql["select", "success"] >= total(truth["agent_requests"])


def test_workload_counts_do_not_depend_on_threads(tmp_path):
    args = ("--no-probe", "--seed", "5", "--tasks", "50")
    one = run_workload(tmp_path, "one", *args, "--threads", "1")
    four = run_workload(tmp_path, "four", *args, "--threads", "4")
    assert counts(one) == counts(four)
    assert (one["threads"], four["threads"]) == (1, 4)
    for truth in (one, four):
        check_consistent(truth, 50, 10)
        assert truth["seed"] == 5 and truth["tasks_per_second"] > 0
        assert not os.path.exists(truth["registry_dir"])  # the temporary directory is gone
    other = run_workload(tmp_path, "other", "--no-probe", "--seed", "6", "--tasks", "50")
    assert counts(other) != counts(one)


@needs_library
def test_workload_with_probes_counts_the_same(tmp_path):
    plain = run_workload(tmp_path, "plain", "--no-probe", "--tasks", "30", "--threads", "2")
    probed = run_workload(tmp_path, "probed", "--tasks", "30", "--threads", "2",
                          env={"AETPROBE_LIBRARY": LIBRARY})
    assert counts(plain) == counts(probed)


def test_hostile_labels_survive_json(tmp_path):
    truth = run_workload(tmp_path, "hostile", "--no-probe", "--hostile-labels", "--tasks", "20",
                         "--dir", str(tmp_path / "work"))
    hostile = {'say "hi"\\now\nplease', "bad\udcff\udcfeagent", "\u00e9" * 50}
    assert hostile <= {r["agent"] for r in truth["tasks"]}
    assert hostile <= {r["agent"] for r in truth["agent_requests"]}
    assert hostile <= {r["event_type"] for r in truth["events"]}
    assert truth["registry_dir"] == str(tmp_path / "work" / "registry")
    assert os.listdir(truth["registry_dir"]) == []  # emptied, but --dir is the caller's
    assert os.path.exists(truth["db_path"])


def test_wait_prints_ready_then_works_on_a_line(tmp_path):
    truth = tmp_path / "truth.json"
    proc = subprocess.Popen([sys.executable, WORKLOAD, "--no-probe", "--wait", "--tasks", "10",
                             "--truth", str(truth)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "READY %d\n" % proc.pid
        assert proc.poll() is None and not truth.exists()
        _, err = proc.communicate("go\n", timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(truth.read_text())["pid"] == proc.pid
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_loop_stops_cleanly_on_a_signal(tmp_path, sig):
    truth = tmp_path / "truth.json"
    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, WORKLOAD, "--no-probe", "--wait", "--loop",
                             "--tasks", "20", "--pause", "0.01", "--threads", "3",
                             "--truth", str(truth), "--dir", str(work)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        # The second round under way: facts of more than one round's 20 tasks
        # in the knowledge base (every task stores one; a few are deleted).
        kb = sqlite3.connect("file:%s?mode=ro" % (work / "kb.sqlite"), uri=True)
        try:
            deadline = time.monotonic() + 30
            while kb.execute("SELECT count(DISTINCT task) FROM facts").fetchone()[0] <= 20:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, \
                    "timed out after 30 s waiting for: the workload's second round"
                time.sleep(0.01)
        finally:
            kb.close()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        data = json.loads(truth.read_text())
        rounds = data["unmatched"]["task"]
        assert rounds >= 2
        # A round stops only between cycles: whole cycles, every task accounted for.
        done = total(data["tasks"])
        assert done == 10 * total(data["cycles"]) and 20 * (rounds - 1) <= done <= 20 * rounds
    finally:
        proc.kill()
        proc.communicate()


def test_prom_client_mode(tmp_path):
    pytest.importorskip("prometheus_client", reason="python3-prometheus-client is not installed")
    truth = run_workload(tmp_path, "prom", "--prom-client", "--tasks", "20")
    assert total(truth["tasks"]) == 20


def test_custom_metrics_send_name_labels_and_fixed_point_values(calls):
    aetprobe.counter("tokens_used", agent="coder", model="m\xff").add(812)
    aetprobe.counter("n").add()
    aetprobe.gauge("depth", q="t").set(-3)
    aetprobe.gauge("depth", q="t").add(2)
    aetprobe.histogram("reply_seconds").observe(0.25)
    aetprobe.observe("h", "k=v", 1.0000004)
    assert calls == [("counter_add", b"tokens_used", b"agent=coder;model=m\xc3\xbf", 812),
                     ("counter_add", b"n", b"", 1),
                     ("gauge_set", b"depth", b"q=t", -3),
                     ("gauge_add", b"depth", b"q=t", 2),
                     ("observe", b"reply_seconds", b"", 250000),
                     ("observe", b"h", b"k=v", 1000000)]


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_version_1_library_makes_custom_metrics_noops(tmp_path):
    source = tmp_path / "v1.c"
    source.write_text("int aet_probe_abi_version(void) { return 1; }\n" + "".join(
        "void aet_probe_%s(void) {}\n" % name for name in aetprobe._SIGNATURES
        if name != "abi_version"))
    library = str(tmp_path / "libaetprobe.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", library, str(source)], check=True)
    out = run_binding(EXERCISE.replace("(2 if a.available", "(1 if a.available"), library)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True None"


def test_histogram_buckets_declared_as_doubles_each_time_given(calls):
    aetprobe.histogram("lat", buckets=[0.005, 1, 2.5, float("inf")], agent="coder").observe(2)
    aetprobe.histogram("lat", agent="coder").observe(3)
    aetprobe.histogram_buckets("lat", (0.005, 1, 2.5))
    sent = [(c[0], c[1], list(c[2][:c[3]]), c[3]) if c[0] == "histogram_buckets" else c
            for c in calls]
    assert sent == [("histogram_buckets", b"lat", [0.005, 1.0, 2.5], 3),
                    ("observe", b"lat", b"agent=coder", 2000000),
                    ("observe", b"lat", b"agent=coder", 3000000),
                    ("histogram_buckets", b"lat", [0.005, 1.0, 2.5], 3)]


@pytest.mark.parametrize("buckets", [
    [], [float("inf")], list(range(1, 18)), [1, float("nan")], [float("-inf"), 1], [1, 9.1e12],
    [2, 1], [1, 1], [1, 1.0000001], [1, float("inf"), 2]])
def test_invalid_histogram_buckets_raise_and_send_nothing(calls, buckets):
    with pytest.raises(ValueError):
        aetprobe.histogram("lat", buckets=buckets)
    assert calls == []


@needs_library
def test_the_library_refuses_what_the_binding_refuses():
    lib = ctypes.CDLL(LIBRARY)
    fn = lib.aet_probe_histogram_buckets
    fn.restype, fn.argtypes = aetprobe._SIGNATURES_2_LATER["histogram_buckets"]
    for b, rc in (([0.005, 1, 2.5], 0), (list(range(1, 17)), 0), (list(range(1, 18)), -1),
                  ([1, 1.0000001], -1), ([2, 1], -1), ([1, float("nan")], -1)):
        assert fn(b"lat", (ctypes.c_double * len(b))(*b), len(b)) == rc, b
