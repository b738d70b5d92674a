"""Spans: what the collector exports over OTLP/HTTP (and prints with the
console exporter) against the workload's ground truth.

The collector takes its tracing configuration from the OTEL_* environment;
these tests point OTEL_EXPORTER_OTLP_ENDPOINT at an otlp.Receiver and
compare the spans that arrive with the truth's "spans" section: every cycle,
task, agent request and custom span, and every file and SQL operation, each
under its parent (a file or SQL operation of a request under the request;
those of the orchestrator, outside any request, are roots).
"""
import collections
import gzip
import json
import math
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from harness import (SANITIZED, Collector, Workload, by_labels, parse_exposition,
                     require_root, wait_until)
from otlp import Receiver, pb2, wait_for
from test_files import expected_counts, file_counts
from test_metrics import compare

UNSET, ERROR = 0, 2  # Status.code
INTERNAL = 1  # Span.kind
SAMPLED, HAS_IS_REMOTE, IS_REMOTE = 0x1, 0x100, 0x200  # Span.flags
NAMES = {"cycle": "aet.cycle", "task": "aet.task", "agent": "aet.agent_request"}
ID_ATTR = {"cycle": "aet.cycle.id", "task": "aet.task.id", "agent": "aet.request.id",
           "custom": "aet.span.id"}
KINDS = ("cycle", "task", "agent", "custom", "file", "db")
FD_OPS = ("read", "write", "fsync")  # file.name (the file's name), else file.path
DROP_REASONS = {"ring_full", "queue_full", "rejected", "retries_exhausted", "shutdown"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TIME_SLACK_NS = 1_000_000  # a child's times within its parent's, give or take


# -- the collector's environment and a traced run --

def otel_env(receiver=None, **extra):
    """The collector's environment: none of the caller's tracing variables,
    the receiver as endpoint, a short batch delay, then extra."""
    env = {k: None for k in os.environ
           if k.startswith(("OTEL_", "AET_TRACING")) or k == "ENVIRONMENT"}
    env["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    if receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
    env.update(extra)
    return env


def registry(tmp_path):
    """The workload's registry: file operations count there only (--file-root)."""
    return os.path.join(str(tmp_path), "work", "registry")


def traced_run(start, tmp_path, *args, env, collector_args=(), **kw):
    """Runs the workload to its end under a collector; returns what a test needs."""
    wl = start.workload(*args)
    with open("/proc/%d/comm" % wl.pid) as f:
        comm = f.read().strip()
    col = start.collector(wl.pid, "--file-root", registry(tmp_path), *collector_args,
                          env=env, **kw)
    t0 = time.time_ns()
    truth = wl.go()
    return SimpleNamespace(wl=wl, col=col, truth=truth, comm=comm, t0=t0, t1=time.time_ns())


def release(wl):
    """Lets a --wait workload start without waiting for its end."""
    wl.proc.stdin.write("go\n")
    wl.proc.stdin.flush()


def stop_loop(wl):
    """Stops a --loop workload (between cycles) and returns its truth."""
    wl.proc.send_signal(signal.SIGTERM)
    _, err = wl.proc.communicate(timeout=60)
    assert wl.proc.returncode == 0, err
    with open(wl.truth_path) as f:
        return json.load(f)


def span_metrics(col):
    """(aet_collector_spans_exported_total, {reason: dropped}) of a collector
    (or of an exposition's text)."""
    samples, types = parse_exposition(col if isinstance(col, str) else col.metrics())
    for family in ("aet_collector_spans_exported_total", "aet_collector_spans_dropped_total"):
        assert types.get(family) == "counter", "no counter " + family
    exported = samples[("aet_collector_spans_exported_total", frozenset())]
    dropped = {dict(k)["reason"]: v
               for k, v in by_labels(samples, "aet_collector_spans_dropped_total").items()}
    assert set(dropped) == DROP_REASONS, dropped
    return exported, dropped


def wait_sent(col):
    """Waits until every span the collector has read from the ring is
    exported or counted dropped, none is queued, and no more has been read
    for a quarter of a second (the ring is drained every millisecond; a
    batch leaves 200 ms after its first span, OTEL_BSP_SCHEDULE_DELAY)."""
    last = {}

    def sent():
        samples, _ = parse_exposition(col.metrics())
        read = sum(by_labels(samples, "aet_collector_spans_total").values())
        done = samples.get(("aet_collector_spans_exported_total", frozenset()), 0) + sum(
            v for k, v in by_labels(samples, "aet_collector_spans_dropped_total").items()
            if dict(k)["reason"] != "ring_full")
        queued = samples.get(("aet_collector_spans_queued", frozenset()), 0)
        now = time.monotonic()
        if last.get("read") != read:
            last.update(read=read, since=now)
        return done == read and queued == 0 and now - last["since"] >= 0.25
    wait_until(sent, "every span read from the ring exported or counted dropped")


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) * 1024


# -- the truth --

def expected_counts_by_kind(truth):
    """{kind: spans} the workload's run must give at always_on."""
    s = truth["spans"]
    reqs = s["requests"]
    return {"cycle": len(s["cycles"]), "task": len(s["tasks"]), "agent": len(reqs),
            "custom": sum(len(r["custom"]) for r in reqs),
            "file": sum(r["files"] for r in reqs) + s["root_files"],
            "db": sum(r["sql"] for r in reqs) + s["root_sql"]}


def tree_size(truth, cycle_id):
    """Spans in the tree of one cycle."""
    s = truth["spans"]
    tasks = {t["id"] for t in s["tasks"] if t["cycle"] == cycle_id}
    reqs = [r for r in s["requests"] if r["task"] in tasks]
    return 1 + len(tasks) + sum(1 + len(r["custom"]) + r["files"] + r["sql"] for r in reqs)


def kind_of(span):
    name, attrs = span["name"], span["attributes"]
    for kind, n in NAMES.items():
        if name == n:
            return kind
    if "aet.span.id" in attrs:
        return "custom"
    if name.startswith("file."):
        return "file"
    if attrs.get("db.system.name") == "sqlite":
        return "db"
    return "unknown"


def count_kinds(spans):
    got = dict.fromkeys(KINDS, 0)
    got.update(collections.Counter(kind_of(s) for s in spans))
    return got


def file_key(op):
    """A file operation of the truth as its span must show it."""
    name = op["operation"]
    attr = "file.name" if name in FD_OPS else "file.path"
    value = os.path.basename(op["path"]) if name in FD_OPS else op["path"]
    size = op["bytes"] if name in ("read", "write") else None
    return ("file." + name, name, attr, value, size, op["error"])


def file_key_of_span(s):
    a = s["attributes"]
    name = a.get("aet.file.operation")
    attr = "file.name" if name in FD_OPS else "file.path"
    size = a.get("aet.file.bytes") if name in ("read", "write") else None
    return (s["name"], name, attr, a.get(attr), size, a.get("error.type"))


def sql_key(op):
    verb = op["operation"].upper()
    return (verb, verb, op["status"] == "error")


def sql_key_of_span(s):
    a = s["attributes"]
    return (s["name"], a.get("db.operation.name"), s["status_code"] == ERROR)


# -- checks of the spans received --

def check_ids(spans):
    """16-byte trace ids, 8-byte span ids, never zero; span ids unique; sampled."""
    ids = collections.Counter(s["span_id"] for s in spans)
    assert [i for i, n in ids.items() if n > 1] == []
    for s in spans:
        assert len(s["trace_id"]) == 32 and int(s["trace_id"], 16), s
        assert len(s["span_id"]) == 16 and int(s["span_id"], 16), s
        assert s["parent_span_id"] == "" or (len(s["parent_span_id"]) == 16
                                             and int(s["parent_span_id"], 16)), s
        assert s["flags"] & SAMPLED, s


def check_time(span, run):
    assert run.t0 - 10**9 <= span["start"] <= span["end"] <= run.t1 + 10**9, span


def check_probe_span(span, kind, status, thread, **attrs):
    """A cycle, task, agent request or custom span: attributes and status."""
    a = span["attributes"]
    if kind in NAMES:
        assert span["name"] == NAMES[kind]
    assert a.get("aet.status") == status, span
    assert a.get("thread.id") == thread, span
    for k, v in attrs.items():
        assert a.get(k) == v, (k, span)
    if status == "success":
        assert span["status_code"] == UNSET, span
    else:
        assert (span["status_code"], span["status_message"]) == (ERROR, status), span


def check_child(child, parent):
    assert child["parent_span_id"] == parent["span_id"], (child, parent)
    assert child["trace_id"] == parent["trace_id"], (child, parent)
    assert child["start"] >= parent["start"] - TIME_SLACK_NS, (child, parent)
    assert child["end"] <= parent["end"] + TIME_SLACK_NS, (child, parent)


class Forest:
    """The spans received, indexed: by application id and by parent."""

    def __init__(self, spans):
        self.spans = spans
        self.by_id = collections.defaultdict(dict)  # kind -> {application id: span}
        self.kids = collections.defaultdict(list)  # span id -> child spans
        for s in spans:
            kind = kind_of(s)
            if kind in ID_ATTR:
                app_id = s["attributes"].get(ID_ATTR[kind])
                assert isinstance(app_id, int), s
                assert app_id not in self.by_id[kind], "two %s spans of id %d" % (kind, app_id)
                self.by_id[kind][app_id] = s
            if s["parent_span_id"]:
                self.kids[s["parent_span_id"]].append(s)

    def get(self, kind, app_id):
        span = self.by_id[kind].get(app_id)
        assert span, "no %s span of id %d" % (kind, app_id)
        return span

    def roots(self, kind):
        return [s for s in self.spans if kind_of(s) == kind and not s["parent_span_id"]]


def ids_of(items, attr=None):
    """A multiset of ids: of the spans items (their attribute attr), or ids."""
    return collections.Counter(i["attributes"].get(attr) if attr else i for i in items)


def check_cycle_tree(forest, truth, cycle, traceparent=None):
    """The whole tree of one cycle, exactly as the truth says; returns its size."""
    s = truth["spans"]
    tasks = {t["id"]: t for t in s["tasks"]}
    requests = collections.defaultdict(list)
    for r in s["requests"]:
        requests[r["task"]].append(r)

    cs = forest.get("cycle", cycle["id"])
    check_probe_span(cs, "cycle", cycle["status"], cycle["thread"])
    assert cs["kind"] == INTERNAL, cs
    if traceparent:
        _, trace_id, parent_id, _ = traceparent.split("-")
        assert (cs["trace_id"], cs["parent_span_id"]) == (trace_id, parent_id), cs
        assert cs["flags"] & (HAS_IS_REMOTE | IS_REMOTE) == HAS_IS_REMOTE | IS_REMOTE, cs
    else:
        assert cs["parent_span_id"] == "", cs
    # The orchestrator does nothing else inside a cycle: its children are its tasks.
    assert ids_of(forest.kids[cs["span_id"]], "aet.task.id") == ids_of(cycle["tasks"]), cs
    size = 1
    for task_id in cycle["tasks"]:
        t = tasks[task_id]
        ts = forest.get("task", task_id)
        check_probe_span(ts, "task", t["status"], t["thread"], **{
            "aet.agent": t["agent"], "aet.mode": t["mode"]})
        check_child(ts, cs)
        assert ids_of(forest.kids[ts["span_id"]], "aet.request.id") == \
            ids_of(r["id"] for r in requests[task_id]), ts
        size += 1
        for r in requests[task_id]:
            rs = forest.get("agent", r["id"])
            check_probe_span(rs, "agent", r["status"], r["thread"], **{
                "aet.agent": r["agent"], "aet.operation": r["operation"]})
            check_child(rs, ts)
            kids = forest.kids[rs["span_id"]]
            by_kind = collections.defaultdict(list)
            for k in kids:
                by_kind[kind_of(k)].append(k)
                check_child(k, rs)
            assert set(by_kind) <= {"custom", "file", "db"}, kids
            assert len(by_kind["custom"]) == len(r["custom"]), r["id"]
            for c in r["custom"]:
                span = forest.get("custom", c["id"])
                assert span["parent_span_id"] == rs["span_id"]
                assert span["name"] == c["name"]
                check_probe_span(span, "custom", "success", r["thread"], **c["attributes"])
            assert len(by_kind["file"]) == r["files"], r["id"]
            assert collections.Counter(map(file_key_of_span, by_kind["file"])) == \
                collections.Counter(map(file_key, r["file_ops"])), r["id"]
            assert len(by_kind["db"]) == r["sql"], r["id"]
            assert collections.Counter(map(sql_key_of_span, by_kind["db"])) == \
                collections.Counter(map(sql_key, r["sql_ops"])), r["id"]
            size += 1 + len(kids)
    return size


def check_file_and_db_spans(spans):
    """What every file and database span carries, whoever its parent."""
    for s in spans:
        a = s["attributes"]
        if kind_of(s) == "file":
            op = a.get("aet.file.operation")
            assert s["name"] == "file." + str(op), s
            assert isinstance(a.get("thread.id"), int), s
            assert (s["status_code"] == ERROR) == ("error.type" in a), s
        elif kind_of(s) == "db":
            assert isinstance(a.get("thread.id"), int), s
            assert "db.query.text" not in a, s  # only with --span-sql-text
            assert ("db.response.status_code" in a) == (s["status_code"] == ERROR), s


def check_roots(forest, truth, exact=True):
    """File and SQL operations outside any request: root spans. exact: all
    of them (else, when sampled by ratio, some)."""
    s = truth["spans"]
    files = collections.Counter(map(file_key_of_span, forest.roots("file")))
    want_files = collections.Counter(map(file_key, s["root_file_ops"]))
    dbs = collections.Counter(map(sql_key_of_span, forest.roots("db")))
    want_dbs = collections.Counter(map(sql_key, s["root_sql_ops"]))
    if exact:
        assert files == want_files
        assert dbs == want_dbs
    else:
        assert files <= want_files and dbs <= want_dbs
    codes = {}
    for op in s["root_sql_ops"]:
        if op["status"] == "error":
            # The SQLite result code: as a number or a name, primary or extended.
            code, name = op["code"], op["code_name"]
            codes.update(dict.fromkeys((str(code), str(code & 0xff), name,
                                        "_".join(name.split("_")[:2]))))
    for span in forest.roots("db"):
        if span["status_code"] == ERROR:
            assert span["attributes"]["db.response.status_code"] in codes, span
    return sum(files.values()) + sum(dbs.values())


def check_resource(spans, run, **want):
    resources = {json.dumps(s["resource"], sort_keys=True) for s in spans}
    assert len(resources) == 1, resources
    r = spans[0]["resource"]
    assert r.get("service.instance.id"), r
    assert r.get("host.name") == socket.gethostname(), r
    assert r.get("process.pid") == run.wl.pid, r
    assert r.get("process.executable.name") == run.comm, r
    assert r.get("telemetry.sdk.name"), r
    for k, v in want.items():
        assert r.get(k) == v, (k, r)


def all_spans(receiver, truth, timeout=20):
    """Waits for every span the truth says; returns them."""
    total = sum(expected_counts_by_kind(truth).values())
    wait_for(lambda: len(receiver.spans) >= total, timeout)
    spans = receiver.spans
    assert count_kinds(spans) == expected_counts_by_kind(truth)
    return spans


# -- the receiver itself --

@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.stop()


def post(url, body, headers, timeout=5):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_receiver_decodes_its_schema(receiver):
    m = pb2()
    req = m.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "aet"
    ss = rs.scope_spans.add()
    ss.scope.name = "aet-collector"
    s = ss.spans.add()
    s.trace_id, s.span_id, s.parent_span_id = bytes(range(1, 17)), b"\x01" * 8, b"\x02" * 8
    s.name, s.kind = "aet.task", m.Span.SPAN_KIND_INTERNAL
    s.start_time_unix_nano, s.end_time_unix_nano = 1 << 60, (1 << 60) + 5
    for key, field, value in (("aet.task.id", "int_value", 7), ("aet.agent", "string_value", "x"),
                              ("ok", "bool_value", True), ("ratio", "double_value", 0.5)):
        kv = s.attributes.add()
        kv.key = key
        setattr(kv.value, field, value)
    kv = s.attributes.add()
    kv.key = "list"
    kv.value.array_value.values.add().int_value = 3
    s.status.code, s.status.message = m.Status.STATUS_CODE_ERROR, "timeout"
    s.flags = 0x301
    e = s.events.add(time_unix_nano=1 << 60, name="open")
    e.attributes.add(key="k").value.string_value = "v"
    s.dropped_events_count = 2
    ss.spans.add(trace_id=b"\xff" * 16, span_id=b"\x03" * 8, name="root")
    body = req.SerializeToString()
    url = receiver.url + "/v1/traces"
    ctype = {"Content-Type": "application/x-protobuf"}

    status, headers, answer = post(url, gzip.compress(body),
                                   dict(ctype, **{"Content-Encoding": "gzip", "X-Test": "a b"}))
    assert status == 200 and headers["Content-Type"] == "application/x-protobuf"
    m.ExportTraceServiceResponse().ParseFromString(answer)
    got = receiver.spans
    assert got[0] == {
        "trace_id": "0102030405060708090a0b0c0d0e0f10", "span_id": "01" * 8,
        "parent_span_id": "02" * 8, "trace_state": "", "name": "aet.task", "kind": INTERNAL,
        "start": 1 << 60, "end": (1 << 60) + 5,
        "attributes": {"aet.task.id": 7, "aet.agent": "x", "ok": True, "ratio": 0.5,
                       "list": [3]},
        "status_code": ERROR, "status_message": "timeout", "flags": 0x301,
        "events": [{"time": 1 << 60, "name": "open", "attributes": {"k": "v"}}],
        "dropped_events": 2, "resource": {"service.name": "aet"}, "scope": "aet-collector"}
    assert (got[1]["parent_span_id"], got[1]["status_code"], got[1]["flags"]) == ("", UNSET, 0)
    [r] = receiver.requests
    assert r["gzip"] and r["headers"]["x-test"] == "a b" and r["answer"] == 200

    # Uncompressed; 503 for two requests, then 200 again.
    receiver.set_mode("fail", 2)
    assert [post(url, body, ctype)[0] for _ in range(3)] == [503, 503, 200]
    assert len(receiver.spans) == 4 and not receiver.requests[-1]["gzip"]
    assert receiver.answered(503) == 2 and receiver.violations == []

    # Hang: never answered until the mode changes; nothing kept from it.
    receiver.set_mode("hang")
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post(url, body, ctype, timeout=0.3)
    assert wait_for(lambda: len(receiver.requests) == 5, 2)
    assert receiver.requests[-1]["answer"] is None
    receiver.set_mode("ok")
    assert post(url, body, ctype)[0] == 200 and len(receiver.spans) == 6

    # What OTLP/HTTP does not allow is recorded.
    assert post(url, body, {"Content-Type": "application/json"})[0] == 415
    assert post(receiver.url + "/v1/logs", body, ctype)[0] == 404
    assert len(receiver.violations) == 2

    # A request hanging does not hold up the end.
    receiver.set_mode("hang")
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post(url, body, ctype, timeout=0.3)
    t = time.monotonic()
    receiver.stop()
    assert time.monotonic() - t < 2


# -- always_on: one run, several views --

@pytest.fixture(scope="module")
def always_on(tmp_path_factory):
    """4 threads, 100 tasks, the first cycle joining TRACEPARENT; the
    collector with a service name, resource attributes and an environment."""
    require_root()
    tmp_path = tmp_path_factory.mktemp("always_on")
    rx = Receiver()
    wl = Workload(tmp_path, "--seed", "21", "--threads", "4", "--tasks", "100",
                  "--traceparent", TRACEPARENT)
    col = None
    try:
        with open("/proc/%d/comm" % wl.pid) as f:
            comm = f.read().strip()
        col = Collector(wl.pid, "--file-root", registry(tmp_path), env=otel_env(
            rx, OTEL_TRACES_SAMPLER="always_on", OTEL_SERVICE_NAME="aet-e2e",
            OTEL_RESOURCE_ATTRIBUTES="team=agents,aet.test=spans%20e2e", ENVIRONMENT="e2e"))
        t0 = time.time_ns()
        truth = wl.go()
        run = SimpleNamespace(wl=wl, col=col, truth=truth, comm=comm, t0=t0, t1=time.time_ns())
        total = sum(expected_counts_by_kind(truth).values())
        wait_for(lambda: len(rx.spans) >= total, 20)
        run.metrics = col.metrics()
        run.health = col.get("/health")[0]
        run.exit = col.stop()
        run.spans, run.requests, run.violations = rx.spans, rx.requests, list(rx.violations)
        yield run
    finally:
        if col:
            col.stop(signal.SIGKILL)
        wl.kill()
        rx.stop()


def test_every_span_of_the_run_arrives(always_on):
    run = always_on
    assert run.exit[0] == 0, run.exit[1]
    want = expected_counts_by_kind(run.truth)
    assert want["task"] == 100 and min(want.values()) > 0
    assert count_kinds(run.spans) == want
    exported, dropped = span_metrics(run.metrics)
    assert exported == len(run.spans)
    assert dropped == dict.fromkeys(DROP_REASONS, 0)
    assert run.health == 200


def test_trees_match_the_truth(always_on):
    run = always_on
    spans = run.spans
    check_ids(spans)
    for s in spans:
        check_time(s, run)
    forest = Forest(spans)
    joined = set(run.truth["spans"]["joined"])
    assert len(joined) == 1
    size = 0
    for cycle in run.truth["spans"]["cycles"]:
        size += check_cycle_tree(forest, run.truth, cycle,
                                 TRACEPARENT if cycle["id"] in joined else None)
    size += check_roots(forest, run.truth)
    assert size == len(spans)  # nothing else
    check_file_and_db_spans(spans)
    # The work made errors of both kinds, and failed tasks.
    assert any(s["attributes"].get("error.type") == "ENOENT" for s in spans)
    assert {t["status"] for t in run.truth["spans"]["tasks"]} > {"success"}
    assert any(t["handoff"] for t in run.truth["spans"]["tasks"])


def test_resource_and_transport(always_on):
    run = always_on
    check_resource(run.spans, run, **{
        "service.name": "aet-e2e", "deployment.environment.name": "e2e", "team": "agents",
        "aet.test": "spans e2e"})
    assert run.violations == []
    assert run.requests and all(r["gzip"] and r["answer"] == 200 for r in run.requests)
    assert all(r["headers"]["content-type"] == "application/x-protobuf" for r in run.requests)


def test_metrics_stay_exact_with_tracing(always_on):
    samples, _ = parse_exposition(always_on.metrics)
    compare(samples, always_on.truth)
    assert file_counts(samples) == expected_counts(always_on.truth)


# -- sampling --

def check_sampled(spans, truth, sampled):
    """The trees of the sampled cycles whole, nothing of the others; root
    file and db spans (each its own trace) some of them. Returns the number
    of root spans."""
    check_ids(spans)
    forest = Forest(spans)
    cycles = {c["id"]: c for c in truth["spans"]["cycles"]}
    size = sum(check_cycle_tree(forest, truth, cycles[c]) for c in sampled)
    roots = check_roots(forest, truth, exact=False)
    assert size + roots == len(spans)
    return roots


def test_unsampled_traceparent_is_followed(start, tmp_path, receiver):
    """parentbased_always_on (the default): a cycle joining a trace whose
    parent was not sampled is not sampled, nor anything under it."""
    tp = TRACEPARENT[:-2] + "00"
    run = traced_run(start, tmp_path, "--seed", "4", "--tasks", "30", "--threads", "2",
                     "--traceparent", tp, env=otel_env(receiver))
    s = run.truth["spans"]
    assert len(s["cycles"]) == 3 and len(s["joined"]) == 1
    total = sum(expected_counts_by_kind(run.truth).values())
    # Everything but the joined cycle's tree.
    wait_for(lambda: len(receiver.spans) >= total - tree_size(run.truth, s["joined"][0]), 15)
    assert run.col.stop()[0] == 0
    spans = receiver.spans
    assert set(Forest(spans).by_id["cycle"]) == {c["id"] for c in s["cycles"]} - set(s["joined"])
    assert check_sampled(spans, run.truth, Forest(spans).by_id["cycle"]) == \
        s["root_files"] + s["root_sql"]
    assert 0 < len(spans) < total


def test_ratio_sampler_keeps_whole_trees(start, tmp_path, receiver):
    run = traced_run(start, tmp_path, "--seed", "9", "--tasks", "400", "--tasks-per-cycle", "4",
                     "--threads", "4", "--work-ms", "0.2", env=otel_env(
                         receiver, OTEL_TRACES_SAMPLER="traceidratio",
                         OTEL_TRACES_SAMPLER_ARG="0.5"))
    n = len(run.truth["spans"]["cycles"])
    assert n == 100
    wait_sent(run.col)  # what is sampled has been sent
    assert run.col.stop()[0] == 0
    spans = receiver.spans
    sampled = set(Forest(spans).by_id["cycle"])
    bound = 5 * math.sqrt(n * 0.25)
    assert 0 < len(sampled) < n and abs(len(sampled) - n / 2) <= bound, len(sampled)
    roots = check_sampled(spans, run.truth, sampled)
    s = run.truth["spans"]
    m = s["root_files"] + s["root_sql"]
    assert abs(roots - m / 2) <= 5 * math.sqrt(m * 0.25) + 1, (roots, m)


@pytest.mark.parametrize("setting", [
    {"OTEL_TRACES_SAMPLER": "always_off"},
    {"AET_TRACING_ENABLED": "false"},
    {"OTEL_SDK_DISABLED": "true"},
], ids=["always_off", "aet_tracing_disabled", "sdk_disabled"])
def test_no_spans_when_off(start, tmp_path, receiver, setting):
    run = traced_run(start, tmp_path, "--seed", "2", "--tasks", "60", "--threads", "2",
                     env=otel_env(receiver, **setting))
    if "OTEL_TRACES_SAMPLER" not in setting:
        status = json.loads(run.col.get("/status")[2])
        assert status["tracing"]["enabled"] is False, status.get("tracing")
    wait_sent(run.col)  # had any span been made, it would have been sent
    samples, _ = parse_exposition(run.col.metrics())
    compare(samples, run.truth)
    assert file_counts(samples) == expected_counts(run.truth)
    assert samples.get(("aet_collector_spans_exported_total", frozenset()), 0) == 0
    assert run.col.stop()[0] == 0
    assert receiver.spans == []


def test_short_io_is_not_a_span(start, tmp_path, receiver):
    run = traced_run(start, tmp_path, "--seed", "3", "--tasks", "60", "--threads", "2",
                     env=otel_env(receiver), collector_args=("--span-min-io-us", "1000000"))
    want = dict(expected_counts_by_kind(run.truth), file=0, db=0)
    wait_for(lambda: len(receiver.spans) >= sum(want.values()), 15)
    samples, _ = parse_exposition(run.col.metrics())
    assert file_counts(samples) == expected_counts(run.truth)
    assert run.col.stop()[0] == 0
    assert count_kinds(receiver.spans) == want


# -- export failures --

def test_failed_exports_are_retried(start, tmp_path, receiver):
    receiver.set_mode("fail", 3)
    run = traced_run(start, tmp_path, "--seed", "6", "--tasks", "60", "--threads", "2",
                     env=otel_env(receiver))
    spans = all_spans(receiver, run.truth, timeout=40)
    check_ids(spans)  # no span twice
    assert receiver.answered(503) == 3
    exported, dropped = span_metrics(run.col)
    assert exported == len(spans)
    assert dropped == dict.fromkeys(DROP_REASONS, 0)
    assert run.col.stop()[0] == 0


HANG_ENV = {"OTEL_EXPORTER_OTLP_TIMEOUT": "500", "OTEL_BSP_EXPORT_TIMEOUT": "2000",
            "OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16"}


def test_hanging_receiver_drops_and_recovers(start, tmp_path, receiver):
    receiver.set_mode("hang")
    wl = start.workload("--loop", "--pause", "0.05", "--tasks", "20", "--tasks-per-cycle", "5",
                        "--threads", "2")
    col = start.collector(wl.pid, "--file-root", registry(tmp_path),
                          env=otel_env(receiver, **HANG_ENV))
    release(wl)

    def lost():
        dropped = span_metrics(col)[1]
        return dropped["queue_full"] + dropped["retries_exhausted"]
    assert wait_for(lost, 15, interval=0.2), span_metrics(col)
    assert col.get("/health")[0] == 200
    assert SANITIZED or rss_bytes(col.proc.pid) < 200 << 20
    assert receiver.spans == []

    receiver.set_mode("ok")
    assert wait_for(lambda: receiver.spans, 10), "no span after the receiver recovered"
    truth = stop_loop(wl)
    total = sum(expected_counts_by_kind(truth).values())

    def accounted():
        exported, dropped = span_metrics(col)
        return exported + sum(dropped.values()) == total
    assert wait_for(accounted, 15, interval=0.2), (span_metrics(col), total)
    exported, dropped = span_metrics(col)
    spans = receiver.spans
    assert exported == len(spans) > 0
    check_ids(spans)
    assert dropped["rejected"] == dropped["shutdown"] == 0
    assert col.get("/health")[0] == 200
    assert SANITIZED or rss_bytes(col.proc.pid) < 200 << 20
    assert col.stop()[0] == 0


def test_sigterm_while_the_receiver_hangs(start, tmp_path, receiver):
    receiver.set_mode("hang")
    run = traced_run(start, tmp_path, "--seed", "8", "--tasks", "20",
                     env=otel_env(receiver, **HANG_ENV))
    assert wait_for(lambda: receiver.requests, 5)  # an export is under way, unanswered
    t = time.monotonic()
    code, err = run.col.stop()
    assert time.monotonic() - t < 10
    assert code == 0, err


# -- exporters and their options --

def test_console_exporter(start, tmp_path):
    out = tmp_path / "console.jsonl"
    with open(out, "w") as f:
        run = traced_run(start, tmp_path, "--seed", "12", "--tasks", "30", "--threads", "2",
                         env=otel_env(OTEL_EXPORTER_CONSOLE="true"), stdout=f)
        total = sum(expected_counts_by_kind(run.truth).values())
        wait_for(lambda: out.read_text().count("\n") >= total, 10)
        assert run.col.stop()[0] == 0
    keys = {"trace_id", "span_id", "parent_span_id", "name", "kind", "start_time_unix_nano",
            "end_time_unix_nano", "status", "attributes"}
    spans = []
    for line in out.read_text().splitlines():
        obj = json.loads(line)
        assert keys <= set(obj), obj
        assert {"code", "message"} <= set(obj["status"]), obj
        spans.append({"name": obj["name"], "attributes": obj["attributes"],
                      "trace_id": obj["trace_id"], "span_id": obj["span_id"],
                      "parent_span_id": obj["parent_span_id"] or ""})
    assert count_kinds(spans) == expected_counts_by_kind(run.truth)
    by_id = {s["span_id"]: s for s in spans}
    assert len(by_id) == len(spans)
    for s in spans:
        if s["parent_span_id"]:
            assert by_id[s["parent_span_id"]]["trace_id"] == s["trace_id"], s


def test_exporter_options(start, tmp_path, receiver):
    """Custom headers, no compression, the default service name, and the
    SQL text of database spans (--span-sql-text)."""
    run = traced_run(start, tmp_path, "--seed", "14", "--tasks", "30", env=otel_env(
        receiver, OTEL_EXPORTER_OTLP_HEADERS="x-aet-test=hello%20world,x-tenant=acme",
        OTEL_EXPORTER_OTLP_COMPRESSION="none"), collector_args=("--span-sql-text",))
    spans = all_spans(receiver, run.truth)
    assert run.col.stop()[0] == 0
    check_resource(spans, run, **{"service.name": "aet"})
    assert "deployment.environment.name" not in spans[0]["resource"]
    assert receiver.violations == []
    for r in receiver.requests:
        assert not r["gzip"] and r["headers"].get("content-encoding", "identity") == "identity"
        assert (r["headers"].get("x-aet-test"), r["headers"].get("x-tenant")) == (
            "hello world", "acme"), r["headers"]
    db = [s for s in spans if kind_of(s) == "db"]
    texts = [s["attributes"].get("db.query.text") for s in db]
    assert texts and all(texts), texts
    assert any(t.startswith("INSERT INTO facts (task, agent, key") for t in texts)
    assert all(t.split()[0] == s["name"] for t, s in zip(texts, db))
