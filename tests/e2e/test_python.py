"""The python family: the target's CPython garbage collections, from the
USDT probes gc__start and gc__done of its interpreter, against the
workload's own count of them (--gc: gc.callbacks, every collection after the
go line, forced or not).

The probes' semaphores are in the interpreter's memory: raised while the
family is attached, so CPython runs the probes' code, and back to zero when
it is not (detached, or disabled), so the interpreter pays nothing. An
interpreter without the probes (Debian's python3.11 with its SDT notes
removed) is said so in /status and by --check, and the collector starts.

The audit probe is attached with --audit only (its semaphore stays 0
without): its events the filter matches are counted by name, exactly as the
workload's own audit hook counts them (--audit). With tracing, each is an
event of the agent request span open on its thread, with its first argument
when an ASCII str, cut at 127 bytes: decoded from the OTLP bytes received.
"""
import json
import os
import re
import subprocess

import pytest

from harness import (LIBRARY, PYTHON, ROOT, WAIT_S, by_labels, free_port, parse_exposition,
                     run_collector, wait_until)
from otlp import Receiver, wait_for
from test_check import check, families
from test_spans import otel_env, wait_sent

BUCKETS = 17  # the other families' 16 bounds and +Inf
GENERATIONS = ("0", "1", "2")
GC_PROBES = ("gc__start", "gc__done")
# What the workload's requests raise: subprocess.Popen, socket.connect and
# open matched; socket.__new__ and socket.getaddrinfo, raised by the same
# calls, not (nor os.remove, os.rename of the files they work on).
AUDIT = "subprocess,socket.connect,open"


def python_status(col):
    status, _, body = col.get("/status")
    assert status == 200
    return json.loads(body)["python"]


def per_generation(samples, name):
    return {dict(k)["generation"]: v for k, v in by_labels(samples, name).items()}


def semaphores(pid, probes=GC_PROBES):
    """{probe: value} of the semaphores of the python:PROBE probes in
    process pid's interpreter, read from its memory."""
    exe = os.readlink("/proc/%d/exe" % pid)
    notes = subprocess.run(["readelf", "-nW", exe], capture_output=True, text=True,
                           check=True).stdout
    sems = {name: addr for name, addr in
            re.findall(r"Name: (\w+)\n.*Semaphore: (0x[0-9a-f]+)", notes) if name in probes}
    assert set(sems) == set(probes), notes
    loads = subprocess.run(["readelf", "-lW", exe], capture_output=True, text=True,
                           check=True).stdout
    first_vaddr = int(re.search(r"^\s+LOAD\s+\S+\s+(0x[0-9a-f]+)", loads, re.M).group(1), 16)
    with open("/proc/%d/maps" % pid) as f:
        start = next(int(line.split("-")[0], 16) for line in f
                     if line.split()[-1] == exe and int(line.split()[2], 16) == 0)
    base = start - first_vaddr
    out = {}
    with open("/proc/%d/mem" % pid, "rb") as mem:
        for name, addr in sems.items():
            mem.seek(base + int(addr, 16))
            out[name] = int.from_bytes(mem.read(2), "little")
    return out


def check_gc(samples, truth):
    """Every generation a series; collections, objects and the pause
    histogram's count exactly the truth's."""
    want = {g: truth[g]["collections"] for g in GENERATIONS}
    assert all(want.values()), "the workload forces each generation: %s" % truth
    assert per_generation(samples, "aet_python_gc_collections_total") == want
    assert per_generation(samples, "aet_python_gc_collected_objects_total") == {
        g: truth[g]["collected"] for g in GENERATIONS}
    assert per_generation(samples, "aet_python_gc_pause_seconds_count") == want
    sums = per_generation(samples, "aet_python_gc_pause_seconds_sum")
    for g in GENERATIONS:
        series = sorted((float(dict(k)["le"]), v)
                        for k, v in by_labels(samples, "aet_python_gc_pause_seconds_bucket").items()
                        if dict(k)["generation"] == g)
        assert len(series) == BUCKETS
        assert [v for _, v in series] == sorted(v for _, v in series), "not cumulative"
        assert series[-1] == (float("inf"), want[g])
        assert 0 < sums[g] < 10 * want[g], g


def test_gc_counted_exactly(start):
    wl = start.workload("--gc", "--threads", "4", "--tasks", "60")
    col = start.collector(wl.pid)
    st = python_status(col)
    assert st["interpreter"] == "/proc/%d/exe" % wl.pid and st["usdt"] is True
    assert (st["programs"], st["attached"]) == (2, 2)
    assert semaphores(wl.pid, GC_PROBES + ("audit",)) == {
        "gc__start": 1, "gc__done": 1, "audit": 0}
    assert st["audit"] == [] and st["probes"] == ["python:gc__start", "python:gc__done"]
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    assert types["aet_python_gc_pause_seconds"] == "histogram"
    assert "aet_python_audit_events_total" not in types
    check_gc(samples, truth["gc"])
    assert python_status(col)["unstarted_collections"] == 0


def test_the_interpreter_pays_nothing_unattached(start):
    wl = start.workload("--gc", "--tasks", "1")
    assert semaphores(wl.pid) == {"gc__start": 0, "gc__done": 0}
    col = start.collector(wl.pid, "--disable", "python")
    assert python_status(col) == {"interpreter": None, "usdt": False,
                                  "error": "disabled (--disable)", "programs": 0,
                                  "attached": 0}
    assert semaphores(wl.pid) == {"gc__start": 0, "gc__done": 0}
    assert "aet_python_" not in col.metrics()
    col.stop()
    col = start.collector(wl.pid)
    assert semaphores(wl.pid) == {"gc__start": 1, "gc__done": 1}
    col.stop()
    wait_until(lambda: semaphores(wl.pid) == {"gc__start": 0, "gc__done": 0},
               "the semaphores lowered at detach")


def test_an_interpreter_without_usdt_is_said_so(start, tmp_path):
    bare = os.path.join(str(tmp_path), "python3")
    subprocess.run(["objcopy", "--remove-section", ".note.stapsdt",
                    os.path.realpath(PYTHON), bare], check=True)
    wl = start.workload("--gc", "--tasks", "1", python=bare)
    col = start.collector(wl.pid)
    st = python_status(col)
    assert st["interpreter"] is None and st["usdt"] is False and st["attached"] == 0
    assert "has no USDT probes python:gc__start" in st["error"], st
    assert bare in st["error"]
    assert "aet_python_" not in col.metrics()
    col.stop()
    code, rep = check("--pid", str(wl.pid))
    fam = families(rep)["python"]
    assert code == 0 and not fam["attaches"] and "has no USDT probes" in fam["detail"]
    r = run_collector("--pid", str(wl.pid), "--require", "python", "--listen",
                      "127.0.0.1:%d" % free_port())
    assert r.returncode == 2 and "has no USDT probes" in r.stderr, r.stderr


def audit_counts(samples):
    return {dict(k)["event"]: v
            for k, v in by_labels(samples, "aet_python_audit_events_total").items()}


def test_audit_events_counted_exactly(start):
    wl = start.workload("--audit", AUDIT, "--threads", "2", "--tasks", "20")
    col = start.collector(wl.pid, "--audit", AUDIT)
    st = python_status(col)
    assert st["audit"] == AUDIT.split(",") and st["probes"][-1] == "python:audit"
    assert (st["programs"], st["attached"]) == (3, 3)
    assert semaphores(wl.pid, GC_PROBES + ("audit",)) == {
        "gc__start": 1, "gc__done": 1, "audit": 1}
    whole = wl.go()
    truth, requests = whole["audit"], len(whole["spans"]["requests"])
    matched, others = truth["matched"], truth["others"]
    assert requests >= 20  # 1 to 3 a task
    assert matched["subprocess.Popen"] == matched["socket.connect"] == requests
    assert matched["open"] >= 3 * requests  # the long path's and the registry's
    assert others["socket.__new__"] >= requests and others["socket.getaddrinfo"] >= requests
    samples, types = parse_exposition(col.metrics())
    assert types["aet_python_audit_events_total"] == "counter"
    assert audit_counts(samples) == matched
    assert python_status(col)["audit_overflow"] == 0


def test_audit_filter_matches_names_and_their_parts_before_a_dot(start):
    """"socket" matches every socket.* event, "sub" nothing, "socket.conn"
    nothing; the rest of the events, not matched, are nowhere."""
    wl = start.workload("--audit", "socket,sub,socket.conn", "--tasks", "10")
    col = start.collector(wl.pid, "--audit", "socket,sub,socket.conn")
    truth = wl.go()["audit"]
    assert set(truth["matched"]) == {"socket.connect", "socket.__new__", "socket.getaddrinfo"}
    assert "subprocess.Popen" in truth["others"]
    samples, _ = parse_exposition(col.metrics())
    assert audit_counts(samples) == truth["matched"]


def test_audit_refused(start):
    for bad in ("", "a,", ".socket", "socket.", "a b", "x" * 64, ",".join("e%d" % i
                                                                        for i in range(17))):
        r = run_collector("--pid", "1", "--audit", bad)
        assert r.returncode == 2 and "invalid value" in r.stderr and "--audit" in r.stderr, (
            bad, r.stderr)


@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.stop()


def test_audit_events_are_span_events(start, receiver):
    wl = start.workload("--audit", AUDIT, "--threads", "2", "--tasks", "20")
    col = start.collector(wl.pid, "--audit", AUDIT,
                          env=otel_env(receiver, OTEL_TRACES_SAMPLER="always_on"))
    assert python_status(col)["audit_argument"] is True
    whole = wl.go()
    requests = whole["spans"]["requests"]
    wait_for(lambda: sum(s["name"] == "aet.agent_request" for s in receiver.spans)
             >= len(requests), WAIT_S)
    wait_sent(col)
    spans = {s["attributes"]["aet.request.id"]: s for s in receiver.spans
             if s["name"] == "aet.agent_request"}
    long_args = 0
    for r in requests:
        span = spans[r["id"]]
        want = [(name, None if arg is None else arg[:127]) for name, arg in r["audit"]]
        got = [(e["name"], e["attributes"].get("python.audit.argument"))
               for e in span["events"]]
        assert got == want, r["id"]
        assert all(span["start"] <= e["time"] <= span["end"] for e in span["events"])
        assert all(len(e["attributes"]) == (a is not None) for e, (_, a) in
                   zip(span["events"], want))
        assert span["dropped_events"] == 0
        long_args += sum(a is not None and len(a) == 127 for _, a in got)
        assert ("subprocess.Popen", "/bin/true") in got and ("socket.connect", None) in got
    assert long_args == len(requests)  # the file opened by a path of more than 127 bytes
    others = [e for s in receiver.spans if s["name"] != "aet.agent_request"
              for e in s["events"]]
    in_spans = sum(len(s["events"]) for s in spans.values()) + len(others)
    samples, _ = parse_exposition(col.metrics())
    assert samples[("aet_collector_span_events_total", frozenset())] == in_spans
    assert sum(by_labels(samples, "aet_collector_span_events_dropped_total").values()) == 0
    assert in_spans <= sum(whole["audit"]["matched"].values())


# One agent request raising 300 audit events of its own (sys.audit), on a
# line; then "done".
MANY_EVENTS = r"""
import sys
sys.path.insert(0, sys.argv[1])
import aetprobe
assert aetprobe.available, aetprobe.error
print("READY", flush=True)
sys.stdin.readline()
with aetprobe.agent(1, "many", "audit"):
    for i in range(300):
        sys.audit("aet.test", "argument %d" % i)
print("done", flush=True)
sys.stdin.readline()
"""


def test_span_events_past_the_bounds_are_counted(start, receiver):
    """256 events wait for their span at most, the rest counted table_full;
    32 go with the span, the rest its dropped_events_count and too_many;
    every one is counted in the metric."""
    child = subprocess.Popen([PYTHON, "-c", MANY_EVENTS, os.path.join(ROOT, "probe", "python")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, AETPROBE_LIBRARY=LIBRARY))
    start.stops.append(child.kill)
    assert child.stdout.readline() == "READY\n"
    col = start.collector(child.pid, "--audit", "aet",
                          env=otel_env(receiver, OTEL_TRACES_SAMPLER="always_on"))
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline() == "done\n"
    wait_for(lambda: any(s["name"] == "aet.agent_request" for s in receiver.spans), WAIT_S)
    [span] = [s for s in receiver.spans if s["name"] == "aet.agent_request"]
    assert [e["attributes"] for e in span["events"]] == [
        {"python.audit.argument": "argument %d" % i} for i in range(32)]
    assert {e["name"] for e in span["events"]} == {"aet.test"}
    assert span["dropped_events"] == 256 - 32
    samples, _ = parse_exposition(col.metrics())
    assert audit_counts(samples) == {"aet.test": 300}
    assert samples[("aet_collector_span_events_total", frozenset())] == 32
    assert {dict(k)["reason"]: v for k, v in by_labels(
        samples, "aet_collector_span_events_dropped_total").items()} == {
        "table_full": 300 - 256, "span_not_seen": 0, "too_many": 256 - 32}
