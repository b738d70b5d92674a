"""The http family: HTTP/1.1 client requests of the followed processes,
plain and over TLS, against the workload's truth.

The workload (--http) makes its agent requests call the servers of
httpd.py, a process of its own, through urllib.request (a connection per
call) and a requests.Session (keep-alive): every framing of a response, error
statuses, resets, connections ended before the response's end, POST bodies,
HEAD, a method of no standard (PURGE), traceparent headers. Its truth says
what the family must count (aet_http_client_requests_total, the request
duration histogram's count, aet_http_client_bytes_total: compared exactly)
and which CLIENT span each call must make, under which agent request span.

The workload is followed from its READY line (--wait) or attached to once it
has worked (--warm, as in test_late_attach.py: libssl mapped, TLS and plain
connections kept alive in the session's pool from before the attach, and
reused after it). A process that is not followed calling the same servers
adds nothing; --disable http observes nothing.

Where the spec leaves a case open, the truth reads it so (the workload's
HttpCalls says how each call is counted):
- the duration histogram observes every request counted, failed ones too;
- a response cut by a reset or an end of the connection counts the body
  bytes that came before the cut; a HEAD response's body is none, whatever
  its Content-Length;
- a method of no standard (PURGE) is "_OTHER" in http.request.method, as in
  the metric, and its span is named "HTTP" (OpenTelemetry's rule);
- a reset under TLS is connection_reset (the server reset it) although
  Python's ssl module, through SSL_read_ex, reports it to its caller as an
  end of file.
"""
import collections
import json
import os
import subprocess
import time

import pytest

from harness import (LIBRARY, PYTHON, WAIT_S, by_labels, fd_links, labels, mapped,
                     parse_exposition)
from otlp import wait_for
from test_families import attached, families, uprobe_files
from test_late_attach import LateWorkload, differences
from test_spans import TIME_SLACK_NS, otel_env, wait_sent

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CLIENT = 3  # Span.kind
ERROR = 2  # Status.code
REQUESTS = "aet_http_client_requests_total"
DURATION = "aet_http_client_request_duration_seconds"
BYTES = "aet_http_client_bytes_total"
BUCKETS = 17  # the other families' 16 bounds and +Inf
# The attributes the spec gives a CLIENT span, in the order of span_view().
SPAN_ATTRS = ("http.request.method", "url.path", "server.address", "server.port",
              "http.response.status_code", "error.type", "network.protocol.version")
SECRET = "aet-secret"  # the workload's HTTP_SECRET: in queries and Authorization headers
PATHS = ("/ok", "/chunked", "/big", "/notfound", "/busy", "/fail", "/close", "/reset",
         "/reset-body", "/truncated", "/echo")


def http_args(servers):
    return ("--http", "%s,%s" % (servers.plain_url, servers.tls_url), "--http-ca", servers.cafile)


# -- the truth --

def want_requests(truth):
    out = collections.Counter()
    for r in truth["http"]["requests"]:
        out[labels(method=r["method"], server_address=r["server_address"],
                   status_code=r["status_code"], error_type=r["error_type"])] += r["count"]
    return out


def want_durations(truth):
    out = collections.Counter()
    for r in truth["http"]["requests"]:
        out[labels(method=r["method"], server_address=r["server_address"])] += r["count"]
    return out


def want_bytes(truth):
    out = collections.Counter()
    for r in truth["http"]["bytes"]:
        out[labels(server_address=r["server_address"], direction=r["direction"])] += r["bytes"]
    return out


def check_coverage(truth):
    """The run did what the tests are about: each path on each server, both
    clients on each, the methods, both kinds of failure, traceparents."""
    calls = truth["http"]["calls"]
    addresses = {c["server_address"] for c in calls}
    assert addresses == {"127.0.0.1", "localhost"}, addresses
    seen = {(c["path"], c["server_address"]) for c in calls}
    missing = [(p, a) for p in PATHS for a in addresses if (p, a) not in seen]
    assert not missing, "the workload's draw missed %s" % missing
    assert {(c["client"], c["server_address"]) for c in calls} == {
        (cl, a) for cl in ("urllib", "requests") for a in addresses}
    assert {"GET", "HEAD", "POST", "DELETE", "_OTHER"} <= {c["method"] for c in calls}
    assert {c["error_type"] for c in calls} == {"", "connection_reset", "connection_closed"}
    assert any(c["traceparent"] for c in calls)


def check_server_log(servers, truth):
    """The truth's calls are those that arrived (a check of the workload)."""
    def key(method, target, traceparent):
        return method, target, traceparent
    got = collections.Counter(
        key(e["method"], e["target"], e["traceparent"])
        for e in servers.log() if e["client"] == "workload")
    want = collections.Counter(
        key(c["sent_method"], "/" + c["url"].split("/", 3)[3],
            "00-%s-%s-01" % (c["traceparent"]["trace_id"], c["traceparent"]["span_id"])
            if c["traceparent"] else None)
        for c in truth["http"]["calls"])
    assert got == want, (got - want, want - got)


# -- the metrics --

def mismatches(samples, truth):
    """Every series of the family that is not the truth's (zeros are no series)."""
    out = []
    out += differences(REQUESTS, by_labels(samples, REQUESTS), want_requests(truth))
    out += differences(DURATION + "_count", by_labels(samples, DURATION + "_count"),
                       want_durations(truth))
    out += differences(BYTES, by_labels(samples, BYTES), want_bytes(truth))
    return out


def check_histogram(samples):
    """Each (method, server_address) of the histogram: cumulative buckets
    ending with +Inf at its count; a sum that is a duration."""
    buckets = collections.defaultdict(list)
    for (name, lbls), v in samples.items():
        if name == DURATION + "_bucket":
            d = dict(lbls)
            le = float(d.pop("le"))
            buckets[frozenset(d.items())].append((le, v))
    counts = by_labels(samples, DURATION + "_count")
    sums = by_labels(samples, DURATION + "_sum")
    assert set(buckets) == set(counts) == set(sums), (set(buckets), set(counts), set(sums))
    for k, series in buckets.items():
        series.sort()
        assert len(series) == BUCKETS, (k, series)
        assert [v for _, v in series] == sorted(v for _, v in series), "not cumulative"
        assert series[-1] == (float("inf"), counts[k]), (k, series[-1], counts[k])
        assert 0 <= sums[k] < 60 * max(counts[k], 1), (k, sums[k])


def settled(col, truth, timeout=10):
    """The metrics once they match the truth, or after timeout seconds
    (what the collector has yet to read of its rings has a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        samples, types = parse_exposition(col.metrics())
        wrong = mismatches(samples, truth)
        if not wrong or time.monotonic() > deadline:
            return samples, types, wrong
        time.sleep(0.2)


def check_metrics(col, truth):
    samples, types, wrong = settled(col, truth)
    assert not wrong, "%d series of the http family differ from the workload's truth:\n%s" % (
        len(wrong), "\n".join(wrong))
    assert (types.get(REQUESTS), types.get(DURATION), types.get(BYTES)) == (
        "counter", "histogram", "counter"), types
    check_histogram(samples)
    # No label carries what the family must not read.
    for name, lbls in samples:
        if name.startswith("aet_http_client_"):
            assert not any(SECRET in v or "?" in v for _, v in lbls), (name, lbls)
    return samples


# -- the spans --

def span_name(method):
    """The span's name: the method; "HTTP" for one outside the standard
    set (OpenTelemetry's HTTP client span name), whose
    http.request.method is _OTHER."""
    return "HTTP" if method == "_OTHER" else method


def call_view(c):
    error = c["span_error_type"]
    return (span_name(c["method"]), c["method"], c["path"], c["server_address"],
            c["server_port"], c["status_code"], error, "1.1", "ERROR" if error else "not error")


def span_view(s):
    a = s["attributes"]
    return (s["name"], *(a.get(k) for k in SPAN_ATTRS),
            "ERROR" if s["status_code"] == ERROR else "not error")


def show(views):
    return "; ".join("%s x%d" % (v, n) for v, n in sorted(views.items(), key=str))


def span_problems(spans, truth):
    """What the CLIENT spans got wrong against the truth's calls, as lines."""
    out = []
    calls = truth["http"]["calls"]
    agents = {}
    for s in spans:
        if s["name"] == "aet.agent_request":
            agents[s["attributes"].get("aet.request.id")] = s
    # The database spans are CLIENT spans too (db.system.name).
    http = [s for s in spans if "http.request.method" in s["attributes"]
            or s["kind"] == CLIENT and "db.system.name" not in s["attributes"]]
    not_client = [s for s in http if s["kind"] != CLIENT]
    if not_client:
        out.append("%d http spans are not CLIENT spans, e.g. %s" % (len(not_client),
                                                                    not_client[0]))
    if len(http) != len(calls):
        out.append("%d http spans, the truth %d calls" % (len(http), len(calls)))
    kids = collections.defaultdict(list)
    for s in http:
        kids[s["parent_span_id"]].append(s)
    by_request = collections.defaultdict(list)
    for c in calls:
        by_request[c["request"]].append(c)
    parents = set()
    for request_id, cs in sorted(by_request.items()):
        agent = agents.get(request_id)
        if agent is None:
            out.append("no span of agent request %d, which made %d calls" % (request_id, len(cs)))
            continue
        parents.add(agent["span_id"])
        mine = kids.get(agent["span_id"], [])
        got = collections.Counter(map(span_view, mine))
        want = collections.Counter(map(call_view, cs))
        if got != want:
            out.append("agent request %d: missing %s | not in the truth %s" % (
                request_id, show(want - got) or "-", show(got - want) or "-"))
        for s in mine:
            if s["trace_id"] != agent["trace_id"]:
                out.append("an http span of agent request %d is in trace %s, its parent in %s"
                           % (request_id, s["trace_id"], agent["trace_id"]))
            if not (agent["start"] - TIME_SLACK_NS <= s["start"] <= s["end"]
                    <= agent["end"] + TIME_SLACK_NS):
                out.append("an http span of agent request %d is not within it: %s" % (
                    request_id, span_view(s)))
    orphans = [s for s in http if s["parent_span_id"] not in parents]
    if orphans:
        out.append("%d http spans under no agent request of the truth, e.g. parent %r: %s" % (
            len(orphans), orphans[0]["parent_span_id"], span_view(orphans[0])))
    by_id = {s["span_id"]: s for s in http}
    for c in calls:
        tp = c["traceparent"]
        if not tp:
            continue
        s = by_id.get(tp["span_id"])
        if s is None:
            out.append("no http span of the traceparent's span id %s (%s %s, request %d)" % (
                tp["span_id"], c["method"], c["url"], c["request"]))
            continue
        if s["trace_id"] != tp["trace_id"]:
            out.append("span %s: trace id %s, the traceparent's %s" % (
                tp["span_id"], s["trace_id"], tp["trace_id"]))
        agent = agents.get(c["request"])
        if agent and s["parent_span_id"] != agent["span_id"]:
            out.append("span %s: parent %s, its agent request's span %s" % (
                tp["span_id"], s["parent_span_id"], agent["span_id"]))
        if span_view(s) != call_view(c):
            out.append("span %s: %s, the truth %s" % (tp["span_id"], span_view(s), call_view(c)))
    for s in http:
        a = s["attributes"]
        leaked = [k for k, v in a.items() if isinstance(v, str) and SECRET in v]
        if leaked or "?" in str(a.get("url.path")):
            out.append("span %s carries what is not to be read: %s" % (s["span_id"], a))
    return out


def collect_spans(col, rx, truth):
    """Every span the collector made of the run, once all are sent."""
    n = len(truth["http"]["calls"])
    wait_for(lambda: sum("http.request.method" in s["attributes"] for s in rx.spans) >= n,
             WAIT_S)
    wait_sent(col)
    return rx.spans


def check_spans(col, rx, truth):
    problems = span_problems(collect_spans(col, rx, truth), truth)
    assert not problems, "%d problems with the http spans:\n%s" % (
        len(problems), "\n".join(problems[:60]))


def check_family_attached(col):
    fam = families(col)
    assert "http" in fam, sorted(fam)
    assert fam["http"]["attached"] and not fam["http"]["disabled"], fam["http"]
    assert attached(col).get("http") == 1, attached(col)
    assert any(f.startswith("libssl.so") for f in uprobe_files(col)), uprobe_files(col)


# -- followed from the start --

@pytest.mark.parametrize("threads", [1, 4])
def test_requests_match_ground_truth(start, servers, receiver, threads):
    wl = start.workload("--seed", "31", "--threads", str(threads), "--tasks", "100",
                        "--traceparent", TRACEPARENT, *http_args(servers))
    assert mapped(wl.pid, "libssl.so")  # loaded with ssl, before READY
    col = start.collector(wl.pid, env=otel_env(receiver, OTEL_TRACES_SAMPLER="always_on"))
    check_family_attached(col)
    truth = wl.go()
    check_coverage(truth)
    check_server_log(servers, truth)
    check_metrics(col, truth)
    check_spans(col, receiver, truth)
    code, err = col.stop()
    assert code == 0, err


# -- attached to a workload that has worked --

def established(pid, ports):
    """{local port: remote port} of the TCP connections process pid holds
    to the ports, established."""
    inodes = {link[len("socket:["):-1] for link in fd_links(pid).values()
              if link.startswith("socket:[")}
    out = {}
    for table in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, table)) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, remote = (int(x.rsplit(":", 1)[1], 16) for x in fields[1:3])
                if fields[3] == "01" and fields[9] in inodes and remote in ports:
                    out[local] = remote
    return out


def test_late_attach_counts_exactly_what_follows(start, servers, receiver):
    wl = LateWorkload(start.tmp_path, "--warm", "1", "--seed", "33", "--threads", "2",
                      "--tasks", "100", "--traceparent", TRACEPARENT, *http_args(servers))
    start.stops.append(wl.kill)
    # What a collector attaching now finds: libssl mapped, and kept-alive
    # connections to both servers, their TLS sessions set up.
    assert mapped(wl.pid, "libssl.so")
    ports = {servers.plain_port, servers.tls_port}
    before = established(wl.pid, ports)
    assert set(before.values()) == ports, before
    col = start.collector(wl.pid, "--require", "http",
                          env=otel_env(receiver, OTEL_TRACES_SAMPLER="always_on"))
    check_family_attached(col)
    assert [c["name"] for c in json.loads(col.get("/ready")[2])["checks"]] == [
        "enabled", "target_alive", "http"]
    t_go = time.time()
    truth = wl.go()
    check_coverage(truth)
    # Requests went over connections opened before the attach, to each server.
    reused = {e["tls"] for e in servers.log()
              if e["time"] >= t_go and e["client"] == "workload" and e["peer"] in before}
    assert reused == {False, True}, reused
    check_metrics(col, truth)
    check_spans(col, receiver, truth)
    code, err = col.stop()
    assert code == 0, err


# -- what is not observed --

UNFOLLOWED = r'''
import os, select, ssl, sys, urllib.request
import requests
plain, tls, ca = sys.argv[1:4]
session = requests.Session()
session.trust_env, session.verify = False, ca
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(
    context=ssl.create_default_context(cafile=ca)))
headers = {"X-AET-Client": "unfollowed",
           "traceparent": "00-11111111111111111111111111111111-2222222222222222-01"}
session.get(tls + "/ok", headers=headers).content  # libssl, a connection, before the collector
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
n = 0
while not select.select([sys.stdin], [], [], 0)[0]:  # until stdin ends
    for base in (plain, tls):
        session.get(base + "/chunked", headers=headers).content
        session.post(base + "/echo", data=b"u" * 999, headers=headers).content
        session.request("PURGE", base + "/ok", headers=headers).content
        req = urllib.request.Request(base + "/big", headers=headers)
        with opener.open(req) as r:
            r.read()
        try:
            with opener.open(urllib.request.Request(base + "/notfound", headers=headers)):
                pass
        except urllib.error.HTTPError as e:
            e.read()
        n += 5
print(n, flush=True)
'''


def test_a_process_not_followed_adds_nothing(start, servers, receiver):
    """Another process calling the same servers, with the same libssl, all
    through the run: the family counts the workload's calls only, exactly."""
    other = subprocess.Popen([PYTHON, "-c", UNFOLLOWED, servers.plain_url, servers.tls_url,
                              servers.cafile], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, LD_PRELOAD=LIBRARY))
    start.stops.append(lambda: other.poll() is None and other.kill())
    line = other.stdout.readline()
    assert line.startswith("READY "), (line, other.stderr.read() if other.poll() else "")
    assert mapped(other.pid, "libssl.so")
    wl = start.workload("--seed", "35", "--threads", "2", "--tasks", "100",
                        "--traceparent", TRACEPARENT, *http_args(servers))
    col = start.collector(wl.pid, env=otel_env(receiver, OTEL_TRACES_SAMPLER="always_on"))
    other.stdin.write("go\n")
    other.stdin.flush()
    truth = wl.go()
    out, err = other.communicate(timeout=60)  # its stdin closed: it ends
    assert other.returncode == 0, err
    made = int(out.split()[-1])
    arrived = sum(e["client"] == "unfollowed" for e in servers.log())
    assert made > 0 and arrived >= made, (made, arrived)
    check_metrics(col, truth)
    check_spans(col, receiver, truth)  # its traceparent's trace is in none of them
    assert not any(s["trace_id"] == "1" * 32 for s in receiver.spans)
    code, err = col.stop()
    assert code == 0, err


def test_disabled_observes_nothing(start, servers):
    wl = start.workload("--seed", "37", "--tasks", "40", *http_args(servers))
    col = start.collector(wl.pid, "--disable", "http")
    fam = families(col)["http"]
    assert fam["disabled"] and not fam["attached"], fam
    assert fam["detail"] == "disabled (--disable)", fam
    assert not any(f.startswith("libssl") for f in uprobe_files(col)), uprobe_files(col)
    assert "http" not in attached(col), attached(col)
    truth = wl.go()
    assert truth["http"]["calls"]
    samples, _ = parse_exposition(col.metrics())
    names = {name for name, _ in samples}
    assert not {n for n in names if n.startswith("aet_http_client_")}, names
    assert sum(by_labels(samples, "aet_tasks_total").values()) == sum(
        r["count"] for r in truth["tasks"])
    code, err = col.stop()
    assert code == 0, err


if __name__ == "__main__":
    import sys
    sys.exit("run with pytest (make test)")
