#!/usr/bin/python3
"""The reference AET workload: a deterministic model of AET, and its ground truth.

An orchestrator (the main thread) runs cycles; each cycle hands tasks to a
pool of worker threads and waits for them. A task is handled by an agent in a
mode and makes 1-3 agent requests; each request sleeps (the model call),
writes, reads, renames and deletes files in a registry (DIR/registry) and
reads and writes a SQLite knowledge base (DIR/kb.sqlite). Some requests fail
by raising (TimeoutError, asyncio.CancelledError, AgentError), which the
aetprobe context managers turn into the end status. Everything the workload
tells the probes or does to files and SQL is counted and written with
--truth, so end-to-end tests can compare aet-collector's /metrics with it
exactly.

What happens depends only on --seed and the task's index, never on the
thread count or scheduling: every task draws from its own random.Random.
Durations are the exception; they are measured around the probe calls.

Spans (what a collector exporting traces must make of it): each request
calls the model inside a custom span "model.call"; a worker hands the trace
context on with aetprobe.trace_context("aet:KIND:ID") before it begins a
task (its parent is the cycle) or a request of a task begun on the
orchestrator (its parent is that task), and the orchestrator does so before
each task it begins itself, since the tasks it began before are still open
on its thread; with --traceparent the first cycle
of every round joins that W3C trace. The truth's "spans" section says which
span is whose child and which file and SQL operations each request made
(the rest, on the orchestrator, are roots). It is kept only with --truth.

--warm N models an AET that has run for hours before a collector attaches
to it. Before anything is counted it opens files it holds for its whole
life in DIR/held (an event log written O_APPEND, a state file with a dup of
its descriptor, a read-only corpus), forks a child that inherits the only
descriptor of DIR/held/child.out, and runs N rounds of normal work (round
numbers -N to -1) and one execution of every statement of the work, so the
knowledge base is open and each statement prepared and in Python's sqlite3
statement cache. Then it prints "WARM <pid>" and waits for a line on stdin.
After that line, and only that, is counted: the rounds (numbered from 0, as
without --warm), on the same connection and cached statements; a line to the
event log after each cycle; after each round an fsync of the log, a pwrite
through the dup of the state file, an fsync and a pread through its first
descriptor, and reads of the corpus; and the child's writes, fsync and read
through its inherited descriptor, done once on the go line. The files the
truth counts are those in the registry and in DIR/held ("held_dir"), whose
operations it also gives per file ("held"). As without --warm, the
knowledge base's own page I/O (kb.sqlite, its -wal and -shm) is not in the
truth: a collector compared with it watches those two directories only.

--http BASE_URL[,BASE_URL] (tests/e2e/httpd.py's servers; --http-ca the
certificate of an https one) makes each agent request, after its model call,
make one or two HTTP/1.1 calls (HttpCalls): through urllib.request, a new
connection each, or through one requests.Session shared by the workers,
keep-alive; a mix of the servers' paths drawn from the request's own random
stream (the task's is untouched: the rest of the work is as without --http).
A request of a cycle joining --traceparent's trace may carry a W3C
traceparent of that trace. The truth's "http" section: requests per method
(as a metric shows it), server address, status code and error type, by the
rules of the http family; body bytes per server address and direction; each
call, with the agent request it was made in and the traceparent it sent.
With --warm, the warm-up leaves a kept-alive connection to each server in
the session's pool, reused after the go line; with --genai too, in the model
calls' session, after a model call on each.

--gc forces collections of each generation after each round (gc.collect(0),
(1), (2), each with garbage cycles to find) and counts every collection the
interpreter runs after the go line, forced or not, with gc.callbacks: the
truth's "gc" section gives per generation the collections and the objects
they found unreachable (collected and uncollectable: what the python
family's gc__done probe reports). Automatic collection is off from setup to
the go line and after the truth is taken, and the process then ends with
os._exit(): the interpreter's finalization collects again, without
gc.callbacks, and would be counted by a collector but not by the truth.

--audit FILTER (comma-separated CPython audit event names, matched as the
collector's --audit matches them: an event equal to a name, or whose part
before one of its dots is) makes each agent request, after its model call,
run /bin/true (subprocess.run), connect a socket to a port the workload
listens on (and accept a connection there), and open a file of a path
longer than 127 bytes. An audit hook (sys.addaudithook) counts every event
the interpreter raises after the go line, to the end of the process (the
truth's own file is opened before the truth is written, the work directory
removed before; it ends with os._exit(), as finalization raises events
too): the truth's "audit" section gives the filter, the events it matches
and those it does not, by name; each request's "audit" list the events
matched while its agent request was open on its thread, in order, each
with its first argument when that is an ASCII str (else None).

aetprobe comes from probe/python, and libaetprobe.so from $AETPROBE_LIBRARY,
else build/libaetprobe.so when built. A --dir given is left in place; the
default temporary directory is removed unless --keep.

    /usr/bin/python3 tests/workload/aet_workload.py --threads 4 --truth truth.json
    /usr/bin/python3 tests/workload/aet_workload.py --wait   # prints READY <pid>, waits for a line
    /usr/bin/python3 tests/workload/aet_workload.py --warm 1 --truth truth.json   # WARM <pid>, ...
    /usr/bin/python3 tests/workload/aet_workload.py --loop --rate 50   # a demo target
    /usr/bin/python3 tests/workload/aet_workload.py --truth t.json \
        --http http://127.0.0.1:8080,https://localhost:8443 --http-ca cert.pem
"""
import argparse
import asyncio
import collections
import contextlib
import errno
import gc
import itertools
import json
import os
import queue
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

AGENTS = {
    "planner": ("plan", "decompose", "estimate"),
    "coder": ("write_code", "run_tests"),
    "reviewer": ("review", "comment", "approve"),
}
MODES = ("analysis", "generation", "review")
# With --hostile-labels, the first tasks of every round are handled by these
# agents and they are also sent as event types: a quote, a backslash and a
# newline; bytes that are not UTF-8; 100 bytes of 2-byte characters, so that
# the collector's cut at 63 bytes falls inside a character.
HOSTILE = ('say "hi"\\now\nplease', b"bad\xff\xfeagent", "\u00e9" * 50)
HOSTILE_OPERATIONS = ("probe", "fuzz")
# With --hostile-labels, once a round after its cycles, custom metric calls
# (probe ABI version 2) with names and labels to sanitise, cut or merge:
# (function, name, labels as (key, value) pairs, value).
HOSTILE_CUSTOM = (
    ("counter_add", 'tokens used/\u00fc"', (("9key", "v"), ("\u00e9t\u00e9", "x"),
                                            ("a-b", 'say "hi"\\n'), ("bad", b"\xff\xfe"),
                                            ("__r", "fifth: left out")), 3),
    ("counter_add", "n" * 80, (("agent", "\u00e9" * 50), ("model", "m" * 30)), 1),
    ("counter_add", "tokens-used", (("agent", "coder"), ("model", "model-write_code")), 2),
    ("counter_add", "pairs", (("k", "v"), ("k", "twice"), ("nothing", None)), 1),
    ("gauge_add", "tokens_used", (), 5),  # a counter's name: a conflict, ignored
    ("counter_add", "", (("k", "v"),), 1),  # no name: invalid, ignored
    ("observe", "tokens_per_request", (("operation", "hostile"), ("le", "x")), -0.5),
    ("observe", "tokens_per_request", (("operation", "hostile"), ("le", "x")), 100.0),
)
# Declared at the start of every round (probe ABI version 2,
# aet_probe_histogram_buckets): a histogram with buckets of its own, observed
# by every agent request, values (request id % 13) / 4 that fall on the
# bounds, between them and past the last. With --hostile-labels, after the
# round, declarations the collector ignores and counts: other bounds, a name
# observed with the default buckets, a counter's name.
DECLARED_BUCKETS = ("reply_seconds", (0.005, 0.1, 0.5, 1, 2.5))
HOSTILE_BUCKETS = (("reply_seconds", (1, 2)), ("tokens_per_request", (1, 2)),
                   ("tokens_used", (1,)))

STATUS = {"success": 0, "failure": 1, "timeout": 2, "cancelled": 3}
END_EVENT = {"success": "task_completed", "failure": "task_failed",
             "timeout": "task_timeout", "cancelled": "task_cancelled"}
BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
           1, 2.5, 5, 10, 30, 60)
# (multiple of --work-ms, weight): most agent operations are quick and a few
# slow, so task durations spread over the buckets from 0.1 ms to about 25 ms.
WORK_TIERS = ((0.1, 45), (0.5, 30), (1.5, 17), (5.0, 6), (15.0, 2))
WORK_TIER_MEAN = sum(m * w for m, w in WORK_TIERS) / sum(w for _, w in WORK_TIERS)
# Ids of the deliberate unmatched ends: far above any id the workload begins.
UNMATCHED_BASE = 1 << 63

# The model a request's custom span names: chosen by its operation, so that
# no draw is taken from the task's random stream.
MODEL_OF = "model-%s"

INSERT = "INSERT INTO facts (task, agent, key, value, score) VALUES (?, ?, ?, ?, ?)"
SELECT_TASK = "SELECT key, value, score FROM facts WHERE task = ?"
COUNT = "SELECT count(*) FROM facts"
UPDATE = "UPDATE facts SET score = score + 1 WHERE task = ?"
DELETE = "DELETE FROM facts WHERE key IN (?, ?, ?)"

# --warm: what the child writes through its inherited descriptor (bytes).
CHILD_WRITES = (100, 4096, 7)
# --warm: the corpus held open read-only, and the reads of it each round
# (offset, size), all inside it.
CORPUS_SIZE = 65536
CORPUS_READS = ((0, 4096), (8192, 512), (60000, 5536))


class AgentError(RuntimeError):
    """An agent failed (the planned failures that are neither timeouts nor cancellations)."""


FAILURES = {"failure": AgentError, "timeout": TimeoutError,
            "cancelled": asyncio.CancelledError}


class Stopped(Exception):
    """SIGINT or SIGTERM arrived."""


def text(label):
    """A label as the truth holds it: str, bytes decoded with surrogateescape."""
    return label.decode("utf-8", "surrogateescape") if isinstance(label, bytes) else label


def _bytes(s):
    return s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s


def status_of(exc_type):
    """The status aetprobe gives a block ending with exc_type (for the stand-ins)."""
    if exc_type is None:
        return STATUS["success"]
    if issubclass(exc_type, TimeoutError):
        return STATUS["timeout"]
    return STATUS["failure" if issubclass(exc_type, Exception) else "cancelled"]


def load_aetprobe():
    sys.path.insert(0, os.path.join(ROOT, "probe", "python"))
    built = os.path.join(ROOT, "build", "libaetprobe.so")
    if os.path.exists(built):  # a workload run from the source tree uses the build
        os.environ.setdefault("AETPROBE_LIBRARY", built)
    import aetprobe
    if not aetprobe.available:
        print("aet_workload: probes off:", aetprobe.error, file=sys.stderr)
    return aetprobe


class NoProbe:
    """--no-probe: no observability at all (the benchmarks' baseline)."""

    def _nothing(self, *args):
        pass

    cycle_begin = cycle_end = task_begin = task_end = agent_end = event = _nothing
    trace_context = _nothing

    def task(self, *args):
        return contextlib.nullcontext()

    agent = span = task


class _Scope:
    """aetprobe's context managers, for PromProbe."""

    def __init__(self, begin, end, id, *args):
        self.begin, self.end, self.id, self.args = begin, end, id, args

    def __enter__(self):
        self.begin(self.id, *self.args)

    def __exit__(self, exc_type, exc, tb):
        self.end(self.id, status_of(exc_type))


class PromProbe:
    """--prom-client: the earlier in-process approach, prometheus_client
    metrics kept by the application itself (a benchmark comparison)."""

    def __init__(self):
        try:
            import prometheus_client as pc
        except ImportError:
            sys.exit("aet_workload: --prom-client needs prometheus_client "
                     "(apt-get install python3-prometheus-client)")
        reg = pc.CollectorRegistry()

        def metric(cls, name, labels, **kw):
            return cls(name, name.replace("_", " "), labels, registry=reg, **kw)

        self.tasks = metric(pc.Counter, "aet_tasks_total", ("status", "mode", "agent"))
        self.task_seconds = metric(pc.Histogram, "aet_task_duration_seconds",
                                   ("agent", "mode"), buckets=BUCKETS)
        self.active = metric(pc.Gauge, "aet_active_tasks", ("mode",))
        self.requests = metric(pc.Counter, "aet_agent_requests_total", ("agent", "operation"))
        self.errors = metric(pc.Counter, "aet_agent_errors_total", ("agent", "operation"))
        self.response = metric(pc.Histogram, "aet_agent_response_seconds",
                               ("agent", "operation"), buckets=BUCKETS)
        self.events = metric(pc.Counter, "aet_events_total", ("event_type",))
        self.cycles = metric(pc.Counter, "aet_cycles_total", ("status",))
        self.cycle_seconds = metric(pc.Histogram, "aet_cycle_duration_seconds", (),
                                    buckets=BUCKETS)
        self.files = metric(pc.Counter, "aet_file_operations_total", ("operation", "status"))
        self.status_names = {v: k for k, v in STATUS.items()}
        self.open = {}  # (kind, id) -> (start, labels); dict ops are atomic under the GIL

    def _end(self, kind, id, status):
        """(seconds, labels, status name) of an open operation; None if it never began."""
        begun = self.open.pop((kind, id), None)
        if begun is None:
            return None
        start, labels = begun
        return time.perf_counter() - start, labels, self.status_names.get(status, "failure")

    def cycle_begin(self, id):
        self.open["cycle", id] = (time.perf_counter(), ())

    def cycle_end(self, id, status):
        ended = self._end("cycle", id, status)
        if ended:
            self.cycle_seconds.observe(ended[0])
            self.cycles.labels(ended[2]).inc()

    def task_begin(self, id, agent, mode):
        agent = text(agent)
        self.open["task", id] = (time.perf_counter(), (agent, mode))
        self.active.labels(mode).inc()

    def task_end(self, id, status):
        ended = self._end("task", id, status)
        if ended:
            seconds, (agent, mode), name = ended
            self.active.labels(mode).dec()
            self.tasks.labels(name, mode, agent).inc()
            self.task_seconds.labels(agent, mode).observe(seconds)

    def agent_begin(self, id, agent, operation):
        self.open["agent", id] = (time.perf_counter(), (text(agent), operation))

    def agent_end(self, id, status):
        ended = self._end("agent", id, status)
        if ended:
            seconds, labels, name = ended
            self.requests.labels(*labels).inc()
            self.response.labels(*labels).observe(seconds)
            if name in ("failure", "timeout"):
                self.errors.labels(*labels).inc()

    def event(self, event_type):
        self.events.labels(text(event_type)).inc()

    def file_op(self, operation, status):
        self.files.labels(operation, status).inc()

    def task(self, id, agent, mode):
        return _Scope(self.task_begin, self.task_end, id, agent, mode)

    def agent(self, id, agent, operation):
        return _Scope(self.agent_begin, self.agent_end, id, agent, operation)

    def span(self, *args):  # prometheus_client has no spans
        return contextlib.nullcontext()

    def trace_context(self, context):
        pass


class Tally:
    """Thread-safe ground-truth counters: key -> [count, amount]."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = collections.defaultdict(lambda: [0, 0])

    def add(self, key, amount=0):
        with self._lock:
            entry = self._counts[key]
            entry[0] += 1
            entry[1] += amount

    def rows(self, kind, fields, amount=None, scale=1):
        """The entries of one kind as truth rows, sorted by labels."""
        out = []
        for key, (count, total) in sorted(self._counts.items()):
            if key[0] == kind:
                row = dict(zip(fields, key[1:]), count=count)
                if amount:
                    row[amount] = total * scale
                out.append(row)
        return out


class SpanTruth:
    """The spans a tracing collector must export: the cycles, tasks and
    requests with their children, and which file and SQL operations each
    request made (those made while no request runs on the thread are roots).
    Appending to a list is atomic under the GIL. Kept only when record."""

    def __init__(self, record, traceparent):
        self.record = record
        self.traceparent = traceparent
        self.cycles, self.tasks, self.requests, self.joined = [], [], [], []
        self.http = []  # --http: the calls, each with its request (HttpCalls)
        self.root = {"file_ops": [], "sql_ops": []}
        self.local = threading.local()  # .request: the entry of the request running here

    def add(self, kind, entry):
        if self.record:
            getattr(self, kind).append(entry)

    @contextlib.contextmanager
    def request(self, entry):
        """The file and SQL operations of the block belong to this request."""
        self.add("requests", entry)
        self.local.request = entry
        try:
            yield
        finally:
            self.local.request = None

    def op(self, kind, entry):
        """kind: "file_ops" or "sql_ops"."""
        if self.record:
            (getattr(self.local, "request", None) or self.root)[kind].append(entry)

    def custom(self, entry):
        if self.record:
            self.local.request["custom"].append(entry)

    def truth(self):
        requests = [dict(r, files=len(r["file_ops"]), sql=len(r["sql_ops"]))
                    for r in self.requests]
        return {"cycles": self.cycles, "tasks": self.tasks, "requests": requests,
                "root_files": len(self.root["file_ops"]), "root_sql": len(self.root["sql_ops"]),
                "root_file_ops": self.root["file_ops"], "root_sql_ops": self.root["sql_ops"],
                "joined": self.joined, "traceparent": self.traceparent}


class Held:
    """--warm: the files AET holds open for its whole life, opened before the
    warm-up, and the child that inherited the only descriptor of one of them
    (see the module's docstring). Their operations go through Workload.fs:
    those after the go line are in the truth, with the file's name."""

    def __init__(self, wl):
        self.wl = wl
        self.dir = os.path.join(wl.dir, "held")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.paths = {name: os.path.join(self.dir, name)
                      for name in ("events.log", "state", "corpus", "child.out")}
        with open(self.paths["corpus"], "wb") as f:
            f.write(bytes(range(256)) * (CORPUS_SIZE // 256))
        new = os.O_CREAT | os.O_TRUNC
        self.log = os.open(self.paths["events.log"], os.O_WRONLY | os.O_APPEND | new, 0o644)
        self.state = os.open(self.paths["state"], os.O_RDWR | new, 0o644)
        self.state_dup = os.dup(self.state)  # the same open file, another descriptor
        self.corpus = os.open(self.paths["corpus"], os.O_RDONLY)
        self.child, self.go_w, self.report_r = self._fork()

    def _fork(self):
        """Forks the child; only it keeps a descriptor of child.out. Returns
        (its pid, the pipe that tells it to work, the pipe of its report)."""
        fd = os.open(self.paths["child.out"], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        go_r, go_w = os.pipe()
        report_r, report_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.close(report_r)
            _held_child(fd, go_r, report_w)  # never returns
        for own in (fd, go_r, report_w):
            os.close(own)
        return pid, go_w, report_r

    def fs(self, operation, fn, *args, name):
        return self.wl.fs(operation, fn, *args, path=self.paths[name], held=name)

    def go(self):
        """The go line came: the child works now."""
        os.write(self.go_w, b"g")

    def cycle(self, cycle_id, status):
        """After each cycle: a line to the event log."""
        self.fs("write", os.write, self.log, b"cycle %d %s\n" % (cycle_id, status.encode()),
                name="events.log")

    def round(self, rnd):
        """After each round: the log synced, the state written through the dup,
        synced and read back through the first descriptor, the corpus read."""
        self.fs("fsync", os.fsync, self.log, name="events.log")
        record = (b"round %d tasks %d\n" % (rnd, self.wl.tasks_done)).ljust(64, b".")
        self.fs("write", os.pwrite, self.state_dup, record, 0, name="state")
        self.fs("fsync", os.fsync, self.state, name="state")
        self.fs("read", os.pread, self.state, len(record), 0, name="state")
        for i, (offset, size) in enumerate(CORPUS_READS):
            if i == 0:  # read(2) where lseek(2) left it; lseek is no file operation
                os.lseek(self.corpus, offset, os.SEEK_SET)
                self.fs("read", os.read, self.corpus, size, name="corpus")
            else:
                self.fs("read", os.pread, self.corpus, size, offset, name="corpus")

    def finish(self, remove):
        """Reaps the child and counts what it did (nothing without the go
        line: its pipe ends and it leaves); closes the held files, and with
        remove removes them and their directory (counted)."""
        os.close(self.go_w)
        report = b""
        while True:
            chunk = os.read(self.report_r, 65536)
            if not chunk:
                break
            report += chunk
        os.close(self.report_r)
        _, status = os.waitpid(self.child, 0)
        if status or not report:
            raise RuntimeError("the --warm child failed (wait status %d)" % status)
        for operation, result, size, error in json.loads(report):
            self.wl._count_file(operation, result, size, self.paths["child.out"], error,
                                held="child.out")
        for fd in (self.log, self.state, self.state_dup, self.corpus):
            os.close(fd)
        if remove:
            for name, path in self.paths.items():
                self.fs("unlink", os.unlink, path, name=name)
            self.wl.fs("rmdir", os.rmdir, self.dir)


def _held_child(fd, go_r, report_w):
    """The child of --warm, just forked: waits for a byte on go_r (end of file:
    no go line, it leaves), then writes, fsyncs and reads back through fd, the
    descriptor it inherited, and reports each call as [operation, status,
    bytes, errno name] on report_w (JSON). It touches nothing of the parent's
    threads or locks, and leaves with os._exit."""
    done = []
    try:
        if os.read(go_r, 1):
            calls = [("write", os.write, (fd, b"c" * size)) for size in CHILD_WRITES]
            calls += [("fsync", os.fsync, (fd,)), ("read", os.pread, (fd, 1 << 16, 0))]
            for operation, fn, args in calls:
                try:
                    result = fn(*args)
                except OSError as e:
                    done.append([operation, "error", 0, errno.errorcode.get(e.errno)])
                    continue
                size = len(result) if operation == "read" else result or 0
                done.append([operation, "success", size, None])
        os.write(report_w, json.dumps(done).encode())
    finally:
        os._exit(0)


def work_seconds(rng, mean_ms):
    multiple = rng.choices([m for m, _ in WORK_TIERS], [w for _, w in WORK_TIERS])[0]
    return mean_ms * multiple * rng.uniform(0.7, 1.3) / WORK_TIER_MEAN / 1000


# --http: what the family counts a request under, and what a call may be.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
HTTP_OK_SIZE = 1234  # /ok's body without ?n= (httpd.py's OK_SIZE)
HTTP_SECRET = "aet-secret"  # in some queries and Authorization headers: never to leave the target
HTTP_KINDS = (  # (kind, weight)
    ("ok", 14), ("head", 3), ("chunked", 6), ("big", 3), ("notfound", 4), ("busy", 3),
    ("fail", 3), ("close", 4), ("reset", 3), ("reset_body", 3), ("truncated", 3), ("echo", 8),
    ("purge", 3), ("delete", 2))


class HttpCalls:
    """--http: the calls of an agent request and their truth (see the
    module's docstring). What a call must give is decided by the path, by
    the rules of the http family: a response that came counts with its
    status code and error type ""; one that did not (a reset, an end of the
    connection before the response's end) with status code "" and
    connection_reset or connection_closed. Body bytes are those of the
    decoded content that came: a Content-Length body, a chunked one's chunk
    sizes, a close-delimited one up to the end; of a cut response, what came
    before the cut; a HEAD response's none.

    The client is checked against the plan: a call planned to succeed that
    does not stops the workload. A failed call's exception is caught. /truncated
    is called only through urllib: its TLS close_notify comes just before the
    FIN, and a kept-alive connection might be reused between the two, a
    request no server answers."""

    def __init__(self, wl, bases, cafile):
        import http.client
        import ssl
        import urllib.error
        import urllib.parse
        import urllib.request
        import requests
        self.wl = wl
        self.bases = bases
        self.errors = (OSError, http.client.HTTPException, requests.RequestException)
        self.urllib = urllib
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment
        self.session.verify = cafile if cafile else True
        self.targets = {}
        for base in bases:
            u = urllib.parse.urlsplit(base)
            self.targets[base] = (u.hostname, u.port or {"http": 80, "https": 443}[u.scheme])

    def prime(self):
        """--warm: a kept-alive connection to each server in the pool (not counted)."""
        for base in self.bases:
            self.session.get(base + "/ok", timeout=30).content

    def plan(self, t):
        """The calls of the request running now: drawn from its own stream."""
        rng = random.Random("%s/%d/http" % (t.key, t.request_index))
        calls = []
        for _ in range(rng.randint(1, 2)):
            kind = rng.choices([k for k, _ in HTTP_KINDS], [w for _, w in HTTP_KINDS])[0]
            c = SimpleNamespace(kind=kind, base=rng.choice(self.bases), method="GET", body=None,
                                client="requests" if rng.random() < 0.6 else "urllib",
                                status=200, error="", response=0)
            n = rng.choice((0, rng.randint(1, 6000), rng.randint(1, 100)))
            query = "&q=%s" % HTTP_SECRET if rng.random() < 0.5 else ""
            if kind in ("ok", "head", "purge", "delete"):
                c.method = {"ok": "GET", "head": "HEAD", "purge": "PURGE",
                            "delete": "DELETE"}[kind]
                if kind == "ok" and rng.random() < 0.3:
                    c.target, n = "/ok", HTTP_OK_SIZE
                else:
                    c.target = "/ok?n=%d%s" % (n, query)
                c.response = 0 if kind == "head" else n
                if kind == "purge":
                    c.client = "requests"
            elif kind == "chunked":
                sizes = [rng.randint(1, 5000) for _ in range(rng.randint(1, 6))]
                c.target = "/chunked?sizes=%s" % ",".join(map(str, sizes))
                c.response = sum(sizes)
            elif kind == "big":
                c.response = 300 * 1024 + rng.randint(0, 1000)
                c.target = "/big?n=%d" % c.response
            elif kind in ("notfound", "busy", "fail"):
                c.status = {"notfound": 404, "busy": 429, "fail": 500}[kind]
                c.response = rng.randint(0, 40)
                c.target = "/%s?n=%d" % (kind, c.response)
            elif kind == "close":
                c.target, c.response = "/close?n=%d%s" % (n, query), n
            elif kind == "reset":
                c.target, c.status, c.error = "/reset", None, "connection_reset"
            elif kind in ("reset_body", "truncated"):
                length = rng.randint(2, 20000)
                c.response = rng.randint(1, length - 1)
                c.target = "/%s?length=%d&sent=%d" % (kind.replace("_", "-"), length, c.response)
                c.status = None
                if kind == "reset_body":
                    c.error = "connection_reset"
                else:
                    c.error, c.client = "connection_closed", "urllib"
            elif kind == "echo":
                c.method, c.target = "POST", "/echo"
                c.body = rng.randbytes(n)
                c.response = n
            c.traceparent = None
            if t.trace and rng.random() < 0.5:
                c.traceparent = "00-%s-%016x-01" % (t.trace, rng.getrandbits(63) + 1)
            c.auth = rng.random() < 0.3
            calls.append(c)
        return calls

    def calls(self, t, request_id):
        for c in self.plan(t):
            self._call(c, request_id)

    def _call(self, c, request_id):
        url = c.base + c.target
        headers = {"X-AET-Client": "workload"}
        if c.traceparent:
            headers["traceparent"] = c.traceparent
        if c.auth:
            headers["Authorization"] = "Bearer " + HTTP_SECRET
        status = got = failed = None
        if c.client == "urllib":
            req = self.urllib.request.Request(url, data=c.body, method=c.method, headers=headers)
            try:
                with self.opener.open(req, timeout=30) as r:
                    status, got = r.status, r.read()
            except self.urllib.error.HTTPError as e:
                with e:
                    status, got = e.code, e.read()
            except self.errors as e:
                failed = e
        else:
            try:
                r = self.session.request(c.method, url, data=c.body, headers=headers, timeout=30)
                status, got = r.status_code, r.content
            except self.errors as e:
                failed = e
        if c.status is not None and (failed or status != c.status or len(got) != c.response
                                     or c.kind == "echo" and got != c.body):
            raise RuntimeError("http: %s %s through %s: %s, planned %d with %d bytes" % (
                c.method, url, c.client, repr(failed) if failed else "%d with %d bytes" % (
                    status, len(got)), c.status, c.response))
        address, port = self.targets[c.base]
        method = c.method if c.method in HTTP_METHODS else "_OTHER"
        code = "" if c.status is None else str(c.status)
        request = len(c.body or b"")
        tally = self.wl.tally
        tally.add(("http_requests", method, address, code, c.error))
        tally.add(("http_bytes", address, "request"), request)
        tally.add(("http_bytes", address, "response"), c.response)
        tp = c.traceparent.split("-") if c.traceparent else None
        self.wl.spans.add("http", {
            "request": request_id, "client": c.client, "method": method, "sent_method": c.method,
            "url": url, "path": c.target.split("?", 1)[0], "server_address": address,
            "server_port": port, "status_code": c.status, "error_type": c.error,
            "span_error_type": str(c.status) if c.status and c.status >= 400 else c.error or None,
            "request_bytes": request, "response_bytes": c.response,
            "traceparent": {"trace_id": tp[1], "span_id": tp[2]} if tp else None,
            "thread": threading.get_native_id(),
            "client_saw": repr(failed) if failed else status})

    def truth(self):
        return {"bases": self.bases,
                "requests": self.wl.tally.rows(
                    "http_requests", ("method", "server_address", "status_code", "error_type")),
                "bytes": self.wl.tally.rows("http_bytes", ("server_address", "direction"),
                                            amount="bytes"),
                "calls": self.wl.spans.http}


class GcTruth:
    """--gc: every collection of the interpreter between start() and
    stop(), from gc.callbacks, per generation; automatic collection is off
    outside them."""

    def __init__(self):
        gc.disable()
        self.counting = False
        self.collections = [0] * 3
        self.collected = [0] * 3
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase, info):
        if phase == "stop" and self.counting:
            self.collections[info["generation"]] += 1
            self.collected[info["generation"]] += info["collected"] + info["uncollectable"]

    def start(self):
        self.counting = True
        gc.enable()

    def force(self):
        """A collection of each generation, each with cycles to collect."""
        for generation in range(3):
            for _ in range(10 * (generation + 1)):
                cycle = []
                cycle.append(cycle)
            del cycle
            gc.collect(generation)

    def stop(self):
        gc.disable()
        self.counting = False
        gc.callbacks.remove(self._on_gc)

    def truth(self):
        return {str(g): {"collections": self.collections[g], "collected": self.collected[g]}
                for g in range(3)}


def audit_matches(filter_names, event):
    """Whether the collector's --audit filter matches event: it names the
    event, or the event's part before one of its dots."""
    parts = event.split(".")
    return any(".".join(parts[:i]) in filter_names for i in range(1, len(parts) + 1))


class AuditTruth:
    """--audit: every audit event the interpreter raises between start()
    and the end of the process, from an audit hook (see the module's
    docstring), and the actions that raise some in each agent request."""

    def __init__(self, wl, filter_names):
        self.filter = filter_names
        self.counting = False
        self.lock = threading.Lock()
        self.matched = collections.Counter()
        self.others = collections.Counter()
        self.local = threading.local()  # .events: the agent request's list, or None
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.long_path = os.path.join(wl.dir, "audit-" + "p" * 150)
        sys.addaudithook(self._hook)

    def _hook(self, event, args):
        if not self.counting:
            return
        matched = audit_matches(self.filter, event)
        with self.lock:
            (self.matched if matched else self.others)[event] += 1
        events = getattr(self.local, "events", None)
        if matched and events is not None:
            arg = args[0] if args and isinstance(args[0], str) and args[0].isascii() else None
            events.append([event, arg])

    def start(self):
        self.counting = True

    @contextlib.contextmanager
    def request(self, entry):
        """The events of the block are the agent request's (entry's)."""
        entry["audit"] = self.local.events = []
        try:
            yield
        finally:
            self.local.events = None

    def actions(self):
        """A process, a connection, a file opened by a long path. Each
        thread accepts one connection after its own is made: one is always
        waiting, though maybe another thread's."""
        subprocess.run(["/bin/true"], check=True)
        with socket.create_connection(self.listener.getsockname()):
            conn, _ = self.listener.accept()
            conn.close()
        with open(self.long_path, "w"):
            pass

    def truth(self):
        """Live: what is counted after it is taken is in it when it is written."""
        return {"filter": self.filter, "matched": self.matched, "others": self.others}


class GenaiCalls:
    """--genai: a model call in each agent request, to tests/e2e/httpd.py's
    model APIs (OpenAI's /v1/chat/completions and Anthropic's /v1/messages
    shapes), through urllib.request or a requests.Session: a JSON answer,
    gzip'd or not, an event stream, an error status (429, 500), a stream cut
    by a reset, no answer before the client's timeout. The request's
    "aet_test" member tells the server what to answer, so the truth is the plan: calls per (agent, provider, operation,
    model, status), tokens per (agent, provider, model, token type), the
    successful calls whose usage the answer does not give, the streams
    (each with a first chunk), and each call as its span must say it."""

    TIMEOUT_S = 0.3  # the client's timeout of a call the server does not answer in time
    PROVIDERS = {"/v1/chat/completions": ("openai", "chat", ("gpt-4o-mini", "gpt-test")),
                 "/v1/messages": ("anthropic", "chat", ("claude-test",))}

    def __init__(self, wl, bases, cafile):
        import http.client
        import ssl
        import urllib.request
        import requests
        self.wl = wl
        self.bases = bases
        self.urllib = urllib
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = cafile if cafile else True
        # A stream cut by a reset: urllib's read of its chunks raises
        # IncompleteRead, an HTTPException (not an OSError).
        self.errors = (OSError, http.client.HTTPException, requests.RequestException)

    def prime(self):
        """--warm: a model call through the session to each server, leaving a
        kept-alive connection to each (not counted)."""
        body = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}],
                           "aet_test": {"chunks": 1, "tokens": [1, 1, 0, 0]}}).encode()
        for base in self.bases:
            r = self.session.post(base + "/v1/chat/completions", data=body, timeout=30,
                                  headers={"Content-Type": "application/json"})
            if r.status_code != 200 or not r.content:
                raise RuntimeError("genai: the warm-up call answered %d" % r.status_code)

    def plan(self, t):
        rng = random.Random("%s/%d/genai" % (t.key, t.request_index))
        path = rng.choice(sorted(self.PROVIDERS))
        provider, operation, models = self.PROVIDERS[path]
        tin = rng.randint(5, 500)
        tout = rng.randint(1, 300)
        test = {"chunks": rng.randint(1, 30),
                "tokens": [tin, tout, rng.randint(0, tin), rng.randint(0, tout)]}
        stream = rng.random() < 0.5
        r = rng.random()
        if r < 0.1:
            test["status"] = 429
        elif r < 0.15:
            test["status"] = 500
        elif r < 0.17:
            test["delay"] = self.TIMEOUT_S * 3
        elif stream and provider == "openai" and r < 0.23:
            test["cut"] = True
        if stream and provider == "openai":
            test["usage"] = rng.random() < 0.8
        if not stream:
            test["gzip"] = rng.random() < 0.4
        body = {"model": rng.choice(models), "messages": [
            {"role": "user", "content": "say \"model\": %d" % rng.getrandbits(32)}],
            "stream": stream, "aet_test": test}
        if stream and provider == "openai":
            body["stream_options"] = {"include_usage": test["usage"]}
        # An OpenAI-shaped API served by another provider, known by its host.
        host = "api.groq.com" if provider == "openai" and rng.random() < 0.2 else None
        return SimpleNamespace(base=rng.choice(self.bases), path=path,
                               shape=provider, provider="groq" if host else provider, host=host,
                               operation=operation, body=body, test=test,
                               client="requests" if rng.random() < 0.6 else "urllib")

    def call(self, t, agent):
        c = self.plan(t)
        timeout = self.TIMEOUT_S if c.test.get("delay") else 30
        data = json.dumps(c.body).encode()
        headers = {"Content-Type": "application/json"}
        if c.host:
            headers["Host"] = c.host
        got = status = None
        if c.client == "urllib":
            headers["Accept-Encoding"] = "gzip"
            req = self.urllib.request.Request(c.base + c.path, data=data, headers=headers)
            try:
                with self.opener.open(req, timeout=timeout) as r:
                    status, got = r.status, r.read()
            except self.urllib.error.HTTPError as e:
                with e:
                    status, got = e.code, e.read()
            except self.errors:
                pass
        else:
            try:
                r = self.session.post(c.base + c.path, data=data, headers=headers,
                                      timeout=timeout)
                status, got = r.status_code, r.content
            except self.errors:
                pass
        self._count(c, agent, status, got)

    def _count(self, c, agent, status, got):
        test, tally = c.test, self.wl.tally
        want = test.get("status", 200)
        if test.get("cut"):
            if status is not None and got is not None and b"[DONE]" in got:
                raise RuntimeError("genai: a cut stream came whole")
            outcome = "connection_reset"
        elif test.get("delay"):
            if status is not None:
                raise RuntimeError("genai: a call planned to time out was answered")
            outcome = "timeout"
        elif status != want:
            raise RuntimeError("genai: %s through %s: %r, planned %d" % (
                c.path, c.client, status, want))
        else:
            outcome = "success" if want == 200 else "%dxx" % (want // 100)
        answered = want == 200 and outcome != "timeout"
        model = c.body["model"] + ("-2025" if answered else "")
        tally.add(("genai_requests", agent, c.provider, c.operation, model, outcome))
        if answered and c.body["stream"]:
            tally.add(("genai_streams", c.provider, model))
        call = (agent, c.provider, c.operation, c.body["model"], outcome)
        if outcome != "success":
            tally.add(("genai_calls",) + call + ("", "", -1, -1))
            return
        tokens = dict(zip(("input", "output", "cached_input", "reasoning"), test["tokens"]))
        if c.shape == "anthropic":
            del tokens["reasoning"]
        finish = "end_turn" if c.shape == "anthropic" else "stop"
        if c.body["stream"] and c.shape == "openai" and not test["usage"]:
            tally.add(("genai_calls",) + call + (model, finish, -1, -1))
            tally.add(("genai_missing", "not_given"))
            return
        tally.add(("genai_calls",) + call + (model, finish, tokens["input"], tokens["output"]))
        for kind, n in tokens.items():
            if n:
                tally.add(("genai_tokens", agent, c.provider, model, kind), n)

    def truth(self):
        tally = self.wl.tally
        return {"requests": tally.rows("genai_requests", (
                    "agent", "provider", "operation", "model", "status")),
                "tokens": tally.rows("genai_tokens", ("agent", "provider", "model",
                                                      "token_type"), amount="tokens"),
                "missing": tally.rows("genai_missing", ("reason",)),
                "streams": tally.rows("genai_streams", ("provider", "model")),
                # each call as its span says it: what a failed one said is not compared
                "calls": tally.rows("genai_calls", (
                    "agent", "provider", "operation", "request_model", "status",
                    "response_model", "finish", "input", "output"))}


class Workload:
    def __init__(self, args, probe):
        self.args = args
        self.probe = probe
        self.file_hook = getattr(probe, "file_op", None)
        self.tally = Tally()
        self.gauge_sets = {}  # custom gauges set: (name, labels) -> value
        self.observed = set()  # custom histogram names observed
        self.spans = SpanTruth(args.truth is not None, args.traceparent)
        self.ids = itertools.count(1)  # task, request and cycle ids, unique in the process
        self.queue = queue.Queue()
        self.crash = None  # an unplanned exception in a worker, raised by the orchestrator
        self.kept = []  # registry files left by agents, removed at the end of a round
        self.kb_lock = threading.Lock()  # one connection shared by the workers
        self.rounds = 0
        self.tasks_done = 0
        self.held = None  # --warm: the held files and the child
        self.http = None  # --http: HttpCalls
        self.gc = GcTruth() if args.gc else None
        self.audit = None  # --audit: AuditTruth, made in setup (the directory exists)
        self.genai = None  # --genai: GenaiCalls
        self.joining = None  # the trace id of the cycle being dispatched, when it joins one
        self.own_dir = args.dir is None
        self.dir = args.dir or tempfile.mkdtemp(prefix="aet-workload-")
        self.registry = os.path.join(self.dir, "registry")
        self.db_path = os.path.join(self.dir, "kb.sqlite")

    # -- setup (before READY: none of this is counted) --

    def setup(self):
        shutil.rmtree(self.registry, ignore_errors=True)
        os.makedirs(self.registry)
        self.db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        # The work's SQL texts never appear here: Python caches prepared
        # statements, and a collector attached after READY learns a
        # statement's verb only from a prepare it sees.
        for sql in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                    "DROP TABLE IF EXISTS facts",
                    "CREATE TABLE facts (id INTEGER PRIMARY KEY, task INTEGER NOT NULL,"
                    " agent TEXT NOT NULL, key TEXT NOT NULL UNIQUE, value TEXT, score REAL)",
                    "CREATE INDEX facts_task ON facts (task)"):
            self.db.execute(sql).fetchall()
        if self.args.http:  # its modules, and libssl, loaded before READY
            self.http = HttpCalls(self, self.args.http.split(","), self.args.http_ca)
        if self.args.genai:
            self.genai = GenaiCalls(self, self.args.genai.split(","), self.args.http_ca)
        if self.args.audit:
            self.audit = AuditTruth(self, self.args.audit.split(","))
        self.workers = [threading.Thread(target=self._worker, daemon=True, name="worker-%d" % i)
                        for i in range(self.args.threads)]
        for w in self.workers:
            w.start()

    def warm(self):
        """--warm: what AET did before a collector came (see the module's
        docstring); none of it is in the truth."""
        self.held = Held(self)
        try:
            for k in range(self.args.warm):
                self._round(k - self.args.warm)
            self._prime()
            if self.http:
                self.http.prime()
            if self.genai:
                self.genai.prime()
        finally:
            self.compact()  # files of a round a signal cut short
            self.forget()

    def _prime(self):
        """Every statement of the work once more, so that each is prepared and
        in the statement cache whatever the warm rounds drew."""
        with self.kb_lock:
            self.sql("BEGIN")
            self.sql(INSERT, (0, "orchestrator", "warm", "primer", 0.0))
            self.sql(SELECT_TASK, (0,))
            self.sql(COUNT)
            self.sql(UPDATE, (0,))
            self.sql(DELETE, ("warm", "warma", "warmb"))
            self.sql("COMMIT")
            self.sql("BEGIN")
            self.sql("ROLLBACK")

    def forget(self):
        """The truth starts again from nothing (the workers are idle)."""
        self.tally = Tally()
        self.gauge_sets = {}
        self.observed = set()
        self.spans = SpanTruth(self.args.truth is not None, self.args.traceparent)
        self.rounds = self.tasks_done = 0

    # -- counted operations --

    def emit(self, event_type):
        self.probe.event(event_type)
        self.tally.add(("events", text(event_type)))

    def custom(self, fn, name, labels, value):
        """Custom metric call fn (probe ABI version 2) and its truth: name and
        labels as sent; a label value None is a pair without "="."""
        call = getattr(self.probe, fn, None)
        if call is None:  # --no-probe, --prom-client
            return
        raw = b";".join(_bytes(k) + (b"" if v is None else b"=" + _bytes(v)) for k, v in labels)
        call(name, raw, value)
        key = (text(name), text(raw))
        if fn == "observe":  # in millionths, as the binding sends it
            self.tally.add(("custom_observe",) + key + (round(value * 1000000),))
            self.observed.add(key[0])
        elif fn == "gauge_set":  # the orchestrator's alone: the last is the value
            self.gauge_sets[key] = value
        else:
            self.tally.add(("custom_" + fn,) + key, value)

    def declare(self, name, bounds):
        """Declares the buckets of histogram name, and its truth: the bounds
        in millionths and whether the name was observed before."""
        declare = getattr(self.probe, "histogram_buckets", None)
        if declare is None:  # --no-probe, --prom-client
            return
        declare(name, bounds)
        micros = tuple(int(b * 1000000 + 0.5) for b in bounds)
        self.tally.add(("custom_declare", text(name), micros, text(name) in self.observed))

    def fs(self, operation, fn, *args, path=None, held=None):
        """One syscall (fn is an os function), counted as the collector sees it.
        path: the file of a descriptor (read, write, fsync); else args[0].
        held: the name of a --warm held file, also counted per file."""
        path = args[0] if path is None else path
        try:
            result = fn(*args)
        except OSError as e:
            self._count_file(operation, "error", 0, path, errno.errorcode.get(e.errno), held)
            raise
        size = len(result) if operation == "read" else result if operation == "write" else 0
        self._count_file(operation, "success", size, path, held=held)
        return result

    def _count_file(self, operation, status, size, path, error=None, held=None):
        self.tally.add(("files", operation, status), size)
        if held:
            self.tally.add(("held", held, operation, status), size)
        self.spans.op("file_ops", {"operation": operation, "path": path, "bytes": size,
                                   "error": error})
        if self.file_hook:
            self.file_hook(operation, status)

    def sql(self, statement, params=()):
        """Executes one statement, a SELECT through its last row, counted by
        verb and status."""
        verb = statement.split(None, 1)[0].lower()
        try:
            self.db.execute(statement, params).fetchall()
        except sqlite3.Error as e:
            self.tally.add(("sql", verb, "error"))
            self.spans.op("sql_ops", {"operation": verb, "status": "error",
                                      "code": e.sqlite_errorcode, "code_name": e.sqlite_errorname})
            raise
        self.tally.add(("sql", verb, "success"))
        self.spans.op("sql_ops", {"operation": verb, "status": "success"})

    # -- the orchestrator --

    def run(self):
        rnd = 0
        while True:
            self._round(rnd)
            rnd += 1
            if not self.args.loop:
                return
            interruptible(time.sleep, self.args.pause)

    def _round(self, rnd):
        self.rounds += 1
        self.declare(*DECLARED_BUCKETS)
        self._housekeeping(rnd)
        start = time.monotonic()
        size = self.args.tasks_per_cycle
        for first in range(0, self.args.tasks, size):
            self._cycle(rnd, range(first, min(first + size, self.args.tasks)), start,
                        join=first == 0 and self.args.traceparent is not None)
            interruptible(lambda: None)  # the only point where a signal stops a round
        self.compact()
        self.custom("gauge_set", "last_round", (), rnd)
        if self.args.hostile_labels:
            for fn, name, labels, value in HOSTILE_CUSTOM:
                self.custom(fn, name, labels, value)
            for name, bounds in HOSTILE_BUCKETS:
                self.declare(name, bounds)
        if self.held:
            self.held.round(rnd)
        if self.gc:
            self.gc.force()

    def _housekeeping(self, rnd):
        """Once a round: the deliberate unmatched ends, hostile events, a
        rolled-back transaction and a statement that fails."""
        self.probe.task_end(UNMATCHED_BASE + rnd, STATUS["failure"])
        self.probe.agent_end(UNMATCHED_BASE + rnd, STATUS["failure"])
        self.probe.cycle_end(UNMATCHED_BASE + rnd, STATUS["failure"])
        if self.args.hostile_labels:
            for label in HOSTILE:
                self.emit(label)
        with self.kb_lock:
            self.sql("BEGIN")
            self.sql(INSERT, (0, "orchestrator", "draft/%d" % rnd, "abandoned", 0.0))
            self.sql("ROLLBACK")
            try:
                self.sql(INSERT, (0, None, "orphan/%d" % rnd, "no agent", 0.0))
            except sqlite3.IntegrityError:
                pass  # deliberate: agent is NOT NULL

    def _cycle(self, rnd, indices, round_start, join=False):
        """join: the cycle joins the W3C trace of --traceparent."""
        cycle_id = next(self.ids)
        if join:  # right before the begin: the next root span takes it
            self.probe.trace_context(self.args.traceparent)
            self.spans.add("joined", cycle_id)
        self.joining = self.args.traceparent.split("-")[1] if join else None
        t0 = time.monotonic_ns()
        self.probe.cycle_begin(cycle_id)
        tasks = []
        for i in indices:
            if self.args.rate > 0:
                delay = round_start + i / self.args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            tasks.append(self._dispatch(rnd, i, cycle_id))
        self.queue.join()
        if self.crash:
            raise self.crash
        status = "success" if all(t.outcome == "success" for t in tasks) else "failure"
        self.probe.cycle_end(cycle_id, STATUS[status])
        self.tally.add(("cycles", status), time.monotonic_ns() - t0)
        self.spans.add("cycles", {"id": cycle_id, "status": status,
                                  "tasks": [t.id for t in tasks],
                                  "thread": threading.get_native_id()})
        for t in tasks:
            self.spans.add("tasks", {"id": t.id, "cycle": cycle_id, "agent": text(t.agent),
                                     "mode": t.mode, "status": t.outcome,
                                     "handoff": t.handoff, "thread": t.thread})
        self.emit("cycle_completed")
        self.tasks_done += len(tasks)
        if self.held:
            self.held.cycle(cycle_id, status)

    def _dispatch(self, rnd, i, cycle_id):
        """Plans task i of round rnd from its own random stream and queues it."""
        rng = random.Random("%d/%d/%d" % (self.args.seed, rnd, i))
        agent = rng.choice(list(AGENTS))
        if self.args.hostile_labels and i < len(HOSTILE):
            agent = HOSTILE[i]
        t = SimpleNamespace(id=next(self.ids), rng=rng, agent=agent, mode=rng.choice(MODES),
                            requests=rng.randint(1, 3), outcome="success", fail_at=None,
                            # Real async code ends a task on another thread
                            # than the one that began it: a third do here.
                            handoff=i % 3 == 0, t0=None, cycle=cycle_id, thread=None,
                            # --http: the key of its calls' streams; the trace it joined
                            key="%d/%d/%d" % (self.args.seed, rnd, i), trace=self.joining,
                            request_index=None)
        if rng.random() < self.args.failure_rate:
            r = rng.random()
            t.outcome = "cancelled" if r < 0.2 else "timeout" if r < 0.5 else "failure"
            t.fail_at = rng.randrange(t.requests)
        if t.handoff:
            t.t0 = time.monotonic_ns()
            t.thread = threading.get_native_id()
            # Tasks begun here and not yet ended are open on this thread
            # too: without a context the next would nest under the last.
            self.probe.trace_context("aet:cycle:%d" % cycle_id)
            self.probe.task_begin(t.id, t.agent, t.mode)
            self.emit("task_started")
        self.queue.put(t)
        return t

    def compact(self):
        """Removes the files agents kept (the registry is per round)."""
        while self.kept:
            self.fs("unlink", os.unlink, self.kept.pop())

    # -- the workers --

    def _worker(self):
        while True:
            t = self.queue.get()
            try:
                if t is None:
                    return
                self._task(t)
            except BaseException as e:
                self.crash = e
            finally:
                self.queue.task_done()

    def _task(self, t):
        try:
            if t.handoff:
                try:
                    self._requests(t)
                finally:
                    self.probe.task_end(t.id, STATUS[t.outcome])
            else:
                t.t0 = time.monotonic_ns()
                t.thread = threading.get_native_id()
                # The cycle is open on the orchestrator: its child.
                self.probe.trace_context("aet:cycle:%d" % t.cycle)
                with self.probe.task(t.id, t.agent, t.mode):
                    self.emit("task_started")
                    self._requests(t)
        except tuple(FAILURES.values()):
            pass  # planned: t.outcome already says how the task ended
        self.tally.add(("tasks", text(t.agent), t.mode, t.outcome), time.monotonic_ns() - t.t0)
        self.emit(END_EVENT[t.outcome])

    def _requests(self, t):
        operations = AGENTS.get(t.agent, HOSTILE_OPERATIONS)
        for i in range(t.requests):
            t.request_index = i
            operation = t.rng.choice(operations)
            outcome = t.outcome if i == t.fail_at else "success"
            request_id = next(self.ids)
            entry = {"id": request_id, "task": t.id, "agent": text(t.agent),
                     "operation": operation, "status": outcome,
                     "thread": threading.get_native_id(), "custom": [],
                     "file_ops": [], "sql_ops": []}
            t0 = time.monotonic_ns()
            try:
                with self.spans.request(entry):
                    if t.handoff:  # the task was begun on the orchestrator: its child
                        self.probe.trace_context("aet:task:%d" % t.id)
                    with self.probe.agent(request_id, t.agent, operation):
                        with self.audit.request(entry) if self.audit else \
                                contextlib.nullcontext():
                            self._agent_work(t, request_id, operation, outcome)
            finally:
                self.tally.add(("agent_requests", text(t.agent), operation, outcome),
                               time.monotonic_ns() - t0)

    def _agent_work(self, t, request_id, operation, outcome):
        span_id = next(self.ids)
        model, tokens = MODEL_OF % operation, str(request_id % 1000)
        self.custom("counter_add", "tokens_used", (("agent", t.agent), ("model", model)),
                    request_id % 1000)
        self.custom("gauge_add", "tokens_left", (("agent", t.agent),), -(request_id % 1000))
        self.custom("gauge_add", "open_requests", (), 1)
        self.custom("observe", "tokens_per_request", (("operation", operation),),
                    request_id % 1000 / 1000)
        self.custom("observe", DECLARED_BUCKETS[0], (("agent", t.agent),), request_id % 13 / 4)
        self.spans.custom({"id": span_id, "name": "model.call",
                           "attributes": {"model": model, "tokens": tokens}})
        with self.probe.span(span_id, "model.call", "model=%s;tokens=%s" % (model, tokens)):
            time.sleep(work_seconds(t.rng, self.args.work_ms))  # the model call
        if self.http:
            self.http.calls(t, request_id)
        if self.genai:
            self.genai.call(t, text(t.agent))
        if self.audit:
            self.audit.actions()
        self._files(t.rng, request_id)
        self._knowledge(t, request_id, operation)
        self.custom("gauge_add", "open_requests", (), -1)
        if outcome != "success":
            self.emit("agent_error")
            raise FAILURES[outcome]("planned %s of request %d" % (outcome, request_id))

    def _files(self, rng, request_id):
        """Registry work. One os call is one syscall, and every read or write
        moves the whole buffer at once, so the truth counts syscalls exactly."""
        path = "%s/r%d" % (self.registry, request_id)
        size = rng.randint(64, 16384)
        atomic = rng.random() < 0.3  # publish a whole file: write aside, fsync, rename
        written = path + ".tmp" if atomic else path
        fd = self.fs("open", os.open, written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self.fs("write", os.write, fd, b"x" * size, path=written)
            if atomic or rng.random() < 0.1:
                self.fs("fsync", os.fsync, fd, path=written)
        finally:
            os.close(fd)
        if atomic:
            self.fs("rename", os.rename, path + ".tmp", path)
        fd = self.fs("open", os.open, path, os.O_RDONLY)
        try:
            self.fs("read", os.read, fd, size, path=path)
        finally:
            os.close(fd)
        r = rng.random()
        if r < 0.6:
            self.fs("unlink", os.unlink, path)
            if r < 0.1:
                with contextlib.suppress(FileNotFoundError):  # deliberate: already gone
                    self.fs("unlink", os.unlink, path)
        else:
            self.kept.append(path)
        if rng.random() < 0.1:
            with contextlib.suppress(FileNotFoundError):  # deliberate: never written
                self.fs("open", os.open, path + ".missing", os.O_RDONLY)
        if rng.random() < 0.1:
            self.fs("mkdir", os.mkdir, path + ".d")
            self.fs("rmdir", os.rmdir, path + ".d")

    def _knowledge(self, t, request_id, operation):
        rng = t.rng
        # sqlite3 cannot store a str holding surrogates (from bytes that are not UTF-8).
        agent = t.agent.decode("utf-8", "replace") if isinstance(t.agent, bytes) else t.agent
        key = "r%d" % request_id
        with self.kb_lock:
            if rng.random() < 0.3:  # several facts at once, atomically
                self.sql("BEGIN")
                for suffix in "ab":
                    self.sql(INSERT, (t.id, agent, key + suffix, operation, rng.random()))
                self.sql("COMMIT")
            else:
                self.sql(INSERT, (t.id, agent, key, operation, rng.random()))
            self.sql(SELECT_TASK, (t.id,))
            if rng.random() < 0.2:
                self.sql(COUNT)
            if rng.random() < 0.5:
                self.sql(UPDATE, (t.id,))
            if rng.random() < 0.2:
                self.sql(DELETE, (key, key + "a", key + "b"))

    # -- the end --

    def finish(self):
        """Stops the workers and removes what was left; returns whether the
        work directory is to be removed after the truth is written."""
        for _ in self.workers:
            self.queue.put(None)
        for w in self.workers:
            w.join()
        self.compact()  # files of a round a signal cut short
        remove = self.own_dir and not self.args.keep
        if self.held:
            self.held.finish(remove)
        if remove:
            # Counted: the registry is where a collector watches files.
            self.fs("rmdir", os.rmdir, self.registry)
        self.db.close()
        return remove

    def truth(self, seconds, cpu_seconds):
        durations = dict(amount="duration_sum_s", scale=1e-9)
        held = {} if self.held is None else {
            "warm_rounds": self.args.warm,
            "held_dir": self.held.dir,
            "held": self.tally.rows("held", ("file", "operation", "status"), amount="bytes"),
        }
        return {
            "pid": os.getpid(),
            "seed": self.args.seed,
            "threads": self.args.threads,
            "tasks_per_second": self.tasks_done / seconds if seconds else 0.0,
            # CPU time of all its threads in the run: what the probe and
            # syscall programs, which run in them, take is in it.
            "cpu_seconds": cpu_seconds,
            "cycles": self.tally.rows("cycles", ("status",), **durations),
            "tasks": self.tally.rows("tasks", ("agent", "mode", "status"), **durations),
            "agent_requests": self.tally.rows(
                "agent_requests", ("agent", "operation", "status"), **durations),
            "events": self.tally.rows("events", ("event_type",)),
            "unmatched": dict(dict.fromkeys(("task", "agent", "cycle"), self.rounds), span=0),
            "files": self.tally.rows("files", ("operation", "status"), amount="bytes"),
            "sql": self.tally.rows("sql", ("operation", "status")),
            # Custom metrics (probe ABI version 2), as sent: set is the last
            # gauge_set, add the sum of the gauge_adds; observe rows are
            # per value sent, in millionths.
            "custom": {
                "counter_add": self.tally.rows("custom_counter_add", ("name", "labels"),
                                               amount="value"),
                "gauge_set": [dict(name=n, labels=lb, value=v)
                              for (n, lb), v in sorted(self.gauge_sets.items())],
                "gauge_add": self.tally.rows("custom_gauge_add", ("name", "labels"),
                                             amount="value"),
                "observe": self.tally.rows("custom_observe", ("name", "labels", "micros")),
            },
            # Histogram buckets declared: bounds in millionths, and whether
            # the name had been observed before (then the collector ignores
            # bounds its name does not have already).
            "custom_declared": self.tally.rows(
                "custom_declare", ("name", "micros", "observed_before")),
            "registry_dir": self.registry,
            "db_path": self.db_path,
            "spans": self.spans.truth(),
            **held,
            **({"http": self.http.truth()} if self.http else {}),
            **({"gc": self.gc.truth()} if self.gc else {}),
            **({"genai": self.genai.truth()} if self.genai else {}),
            **({"audit": self.audit.truth()} if self.audit else {}),
        }


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _on_signal(signum, frame):
    raise Stopped()


def interruptible(fn, *args):
    """Runs fn with SIGINT and SIGTERM unblocked. They are blocked everywhere
    else, and in every worker, so a signal stops the workload only between
    cycles, never half-way through a task whose truth would then be wrong."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a pending one raises here
    try:
        return fn(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="worker threads")
    p.add_argument("--tasks", type=int, default=200, help="tasks per round")
    p.add_argument("--tasks-per-cycle", type=int, default=10)
    p.add_argument("--failure-rate", type=float, default=0.15, help="fraction of tasks that fail")
    p.add_argument("--work-ms", type=float, default=0.5,
                   help="mean simulated work of an agent request, in ms")
    p.add_argument("--dir", help="work directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--truth", help="write the ground truth (JSON) to this file")
    p.add_argument("--wait", action="store_true",
                   help='after setup print "READY <pid>" and wait for a line on stdin')
    p.add_argument("--warm", type=int, metavar="N",
                   help="for a collector attached late: before anything is counted, open files"
                   " held for good in DIR/held, fork a child that inherits a descriptor of one,"
                   " run N rounds and every statement once (all prepared and cached); then"
                   ' print "WARM <pid>" and wait for a line on stdin. The truth is of what'
                   " follows the line: the rounds on the same connection and statements, I/O"
                   " through the held descriptors, and the child's through its own (its"
                   ' "held" section: per held file). Not with --wait')
    p.add_argument("--loop", action="store_true", help="repeat rounds until SIGINT/SIGTERM")
    p.add_argument("--pause", type=float, default=0.5, help="seconds between rounds (--loop)")
    p.add_argument("--rate", type=float, default=0, help="at most this many tasks per second")
    p.add_argument("--no-probe", action="store_true", help="do not load aetprobe")
    p.add_argument("--prom-client", action="store_true",
                   help="count in-process with prometheus_client instead (implies --no-probe)")
    p.add_argument("--hostile-labels", action="store_true")
    p.add_argument("--traceparent", metavar="TP",
                   help="a W3C traceparent the first cycle of every round joins")
    p.add_argument("--http", metavar="BASE_URL[,BASE_URL]",
                   help="agent requests make HTTP calls to these servers (tests/e2e/httpd.py)")
    p.add_argument("--genai", metavar="BASE_URL[,BASE_URL]",
                   help="agent requests make a model call to these servers (GenaiCalls)")
    p.add_argument("--http-ca", metavar="FILE",
                   help="the certificate an https server's is checked with")
    p.add_argument("--audit", metavar="FILTER",
                   help="agent requests run a process, connect a socket and open a file;"
                   " every audit event is counted, those FILTER matches by request"
                   " (sys.addaudithook); ends with os._exit()")
    p.add_argument("--gc", action="store_true",
                   help="force collections of each generation after each round and count"
                   " every collection (gc.callbacks); ends with os._exit()")
    args = p.parse_args(argv)
    if args.threads < 1 or args.tasks < 0 or args.tasks_per_cycle < 1:
        p.error("--threads and --tasks-per-cycle must be at least 1, --tasks at least 0")
    if args.warm is not None and (args.warm < 0 or args.wait):
        p.error("--warm N takes N >= 0 and waits on its own (WARM <pid>): not with --wait")
    return args


def main(argv=None):
    args = parse_args(argv)
    for s in STOP_SIGNALS:
        signal.signal(s, _on_signal)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # inherited by the workers
    probe = PromProbe() if args.prom_client else NoProbe() if args.no_probe else load_aetprobe()
    wl = Workload(args, probe)
    wl.setup()
    try:
        if args.warm is not None:
            wl.warm()
            print("WARM %d" % os.getpid(), flush=True)
            interruptible(sys.stdin.readline)  # a line, or end of file
            wl.held.go()
        elif args.wait:
            print("READY %d" % os.getpid(), flush=True)
            interruptible(sys.stdin.readline)  # a line, or end of file
        start, cpu = time.monotonic(), time.process_time()
        if wl.gc:
            wl.gc.start()
        if wl.audit:
            wl.audit.start()
        try:
            wl.run()
        except Stopped:
            pass
        seconds, cpu = time.monotonic() - start, time.process_time() - cpu
    except Stopped:  # before any work (what --warm did is not)
        seconds = cpu = 0.0
        wl.forget()
    remove = wl.finish()
    if wl.gc:
        wl.gc.stop()
    truth = wl.truth(seconds, cpu)
    if remove and wl.audit:  # its events, then the truth file's open, are in the truth
        shutil.rmtree(wl.dir, ignore_errors=True)
        remove = False
    if args.truth:
        with open(args.truth, "w") as f:
            json.dump(truth, f, ensure_ascii=True, indent=1)
    if remove:
        shutil.rmtree(wl.dir, ignore_errors=True)
    print("done: %d tasks in %.3f s (%.1f tasks/s)"
          % (wl.tasks_done, seconds, truth["tasks_per_second"]), file=sys.stderr)
    if wl.gc or wl.audit:  # no finalization: its collections and events are not in the truth
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
