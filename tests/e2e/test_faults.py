"""Faults (docs/DESIGN.md, 9. Failure model): what the target, the receiver, scrapers and
the kernel's ring buffer can do to the collector, and what it does then.

Each test asserts the outcome and records its figure: printed (make
test-faults runs them with -s) and appended to build/faults.txt, from which
bench/RESULTS.md's "Faults" section is copied. Timing bounds are loose: the
machines that run these are shared and loaded.

The target restarted (follow mode) is not here: it belongs with follow mode.
"""
import collections
import http.client
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from harness import (BUILD, SANITIZED, attached_programs, by_labels, parse_exposition,
                     programs_left, wait_ticks, wait_until)
from otlp import Receiver, wait_for
from test_files import expected_counts, file_counts
from test_metrics import compare
from test_spans import (check_ids, expected_counts_by_kind, otel_env, registry,
                        release, rss_bytes, span_metrics, stop_loop)

FIGURES = os.path.join(BUILD, "faults.txt")


def record(name, **figures):
    """Prints a test's figures and appends them to build/faults.txt."""
    if SANITIZED:  # build/asan/aet-collector: slower, and its memory its own
        figures["collector"] = "asan"
    line = "%s: %s" % (name, json.dumps(figures, sort_keys=True))
    print("\nFIGURE " + line)
    with open(FIGURES, "a") as f:
        f.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), line))


# -- bench-probe-hit: a target that calls the probes exactly as told --

class ProbeHit:
    """build/bench-probe-hit (bench/probe_hit.c): "agents N" runs N tasks of
    N distinct agents; "N" N task pairs of agent coder, then N events."""

    def __init__(self):
        self.proc = subprocess.Popen([os.path.join(BUILD, "bench-probe-hit")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = int(self.proc.stdout.readline().split()[1])

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def run(self, line):
        """Sends a command and waits for its answer."""
        self.send(line)
        answer = self.proc.stdout.readline()
        assert answer, "bench-probe-hit exited"
        return answer.strip()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def probe_hit():
    targets = []

    def make():
        t = ProbeHit()
        targets.append(t)
        return t
    yield make
    for t in targets:
        t.kill()


def aet_counts(samples):
    """The target's counts in an exposition: every aet_ family but the
    gauges of the target itself (up, CPU, memory)."""
    skip = ("aet_target_up", "aet_cpu_usage_percent", "aet_memory_usage_bytes",
            "aet_collector_")
    return {k: v for k, v in samples.items() if k[0].startswith("aet_")
            and not k[0].startswith(skip)}


def total(samples, name, **labels):
    want = set(labels.items())
    return sum(v for k, v in by_labels(samples, name).items() if want <= k)


# -- a: the target killed --

def test_target_killed_with_sigkill(start, probe_hit):
    """SIGKILL in the middle of a loop of probe calls: the collector stays
    up and healthy, /ready fails on target_alive, aet_target_up{pid} is 0,
    and what was counted before the kill stays, exactly."""
    hit = probe_hit()
    col = start.collector(hit.pid)
    up = ("aet_target_up", frozenset({("pid", str(hit.pid))}))
    assert hit.run("agents 300") == "done"
    assert hit.run("1000").startswith("pair ")
    hit.run("leak 7")  # begun, never ended
    s, _ = parse_exposition(col.metrics())
    assert s[up] == 1
    assert total(s, "aet_tasks_total") == 1300
    assert total(s, "aet_tasks_total", agent="coder") == 1000
    assert total(s, "aet_events_total") == 1000
    assert total(s, "aet_active_tasks") == 7

    # Mid-run: a loop of 50M task pairs (about a minute), killed once its
    # first tasks are counted.
    hit.send("50000000")

    def loop_counted():
        samples, _ = parse_exposition(col.metrics())
        return total(samples, "aet_tasks_total", agent="coder") > 1000
    wait_until(loop_counted, "the first tasks of the loop counted")
    os.kill(hit.pid, signal.SIGKILL)
    t_kill = time.monotonic()
    hit.proc.wait()

    def gone():
        samples, _ = parse_exposition(col.metrics())
        return samples if samples[up] == 0 else None
    s = wait_for(gone, 15, interval=0.05)
    noticed = time.monotonic() - t_kill
    assert s, "aet_target_up{pid} still 1 15 s after SIGKILL"
    code, _, body = col.get("/ready")
    checks = {c["name"]: c for c in json.loads(body)["checks"]}
    assert code == 503 and checks["target_alive"]["ok"] is False, body
    assert col.get("/health")[0] == 200
    st = json.loads(col.get("/status")[2])
    assert st["target"]["alive"] is False

    # Counts made before the loop: exact. The loop's tasks: some, and the
    # events after the loop: none.
    mid = total(s, "aet_tasks_total", agent="coder") - 1000
    assert total(s, "aet_tasks_total") - mid == 1300
    assert all(v == 1 for k, v in by_labels(s, "aet_tasks_total").items()
               if dict(k)["agent"] != "coder")
    assert total(s, "aet_events_total") == 1000
    assert mid > 0, "the loop ran no task before the kill"
    assert set(by_labels(s, "aet_collector_unmatched_total").values()) == {0}
    # The begins it never ended are freed with it (the tick that sees it
    # gone): the leaked ones, and the loop's pair cut in half if any.
    assert total(s, "aet_active_tasks") == 0
    active = total(s, "aet_collector_expired_total", kind="task")
    assert 7 <= active <= 8

    # Kept: nothing changes afterwards, and the collector keeps serving.
    # The idle period is what is tested; the main loop ticked in it.
    idle = time.monotonic()
    time.sleep(3)
    wait_ticks(col, 2, after=idle)
    assert col.proc.poll() is None
    s2, _ = parse_exposition(col.metrics())
    assert aet_counts(s2) == aet_counts(s)
    assert s2[up] == 0 and col.get("/health")[0] == 200 and col.get("/ready")[0] == 503
    code, err = col.stop()
    assert code == 0, err
    record("target_sigkill", before_kill_tasks=1300, before_kill_events=1000,
           tasks_in_killed_loop=int(mid), active_tasks_after=int(active),
           up_0_after_s=round(noticed, 2))


# -- e: ring buffer overflow --

@pytest.mark.parametrize("ring", [4096, None], ids=["ring_4k", "ring_default"])
def test_ring_buffer_overflow_is_counted(start, probe_hit, ring):
    """A burst of task spans into a ring of one page: what did not fit is
    counted in aet_collector_spans_dropped_total{reason="ring_full"}, and
    produced = read from the ring + ring_full, exactly. Then everything read
    is accounted for by the exporter and arrives."""
    n = 20000
    rx = Receiver()
    try:
        hit = probe_hit()
        args = ("--span-ring-size", str(ring)) if ring else ()
        col = start.collector(hit.pid, *args,
                              env=otel_env(rx, OTEL_TRACES_SAMPLER="always_on"))
        t0 = time.monotonic()
        assert hit.run("agents %d" % n) == "done"
        burst_s = time.monotonic() - t0

        def counts():
            samples, _ = parse_exposition(col.metrics())
            got = total(samples, "aet_collector_spans_total", kind="task")
            full = total(samples, "aet_collector_spans_dropped_total", reason="ring_full")
            return samples, got, full
        assert wait_for(lambda: sum(counts()[1:]) == n, 10), counts()[1:]
        samples, received, ring_full = counts()
        assert total(samples, "aet_tasks_total") == n  # the metrics lose nothing
        kernel = json.loads(col.get("/status")[2])["tracing"]["kernel"]
        assert kernel["no_thread_state"] == 0 and kernel["ring_full"] == ring_full
        if ring:
            assert ring_full > 0, "a one-page ring took a burst of %d spans" % n

        def accounted():
            exported, dropped = span_metrics(col)
            return exported + sum(v for r, v in dropped.items() if r != "ring_full") == received
        assert wait_for(accounted, 30, interval=0.2), span_metrics(col)
        exported, dropped = span_metrics(col)
        assert wait_for(lambda: len(rx.spans) == exported, 10)
        check_ids(rx.spans)
        assert rx.violations == []
        code, err = col.stop()
        assert code == 0, err
    finally:
        rx.stop()
    record("ring_overflow", ring_bytes=ring or 1 << 20, produced=n, burst_ms=round(burst_s * 1e3),
           read_from_ring=int(received), ring_full=int(ring_full), exported=int(exported),
           export_dropped={r: int(v) for r, v in dropped.items() if v and r != "ring_full"})


# -- c: a scrape flood --

class Flood:
    """threads clients scraping /metrics in a loop, each on a kept-alive
    connection (as Prometheus does), until stopped or max_scrapes each;
    a failed request is counted and its connection opened again. Without
    keepalive, a new connection for each scrape; source: the address it
    connects from (127.0.0.0/8 is all loopback)."""

    def __init__(self, col, threads, max_scrapes=10000, keepalive=True, source="127.0.0.1"):
        self.col, self.max, self.keepalive, self.source = col, max_scrapes, keepalive, source
        self.lock = threading.Lock()
        self.latencies, self.errors = [], collections.Counter()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        conn = None
        for _ in range(self.max):
            if self.done.is_set():
                break
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.col.port, timeout=15,
                                                      source_address=(self.source, 0))
                t = time.monotonic()
                conn.request("GET", "/metrics")
                r = conn.getresponse()
                body = r.read()
                dt = time.monotonic() - t
                with self.lock:
                    if r.status == 200 and body.endswith(b"\n"):
                        self.latencies.append(dt)
                    else:
                        self.errors["HTTP %d" % r.status] += 1
                if not self.keepalive or r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errors[type(e).__name__] += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.01)  # a pause before the next connection: a client's pace
        if conn:
            conn.close()

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(30)
        assert not any(t.is_alive() for t in self.threads)
        lat = sorted(self.latencies)
        return lat, dict(self.errors)


def quantile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def test_scrape_flood_loses_no_count(start, tmp_path):
    """32 clients scrape /metrics as fast as they can, on kept-alive
    connections, while the reference workload runs: the counts are exact
    against its truth, a scrape answers within a second at p99 even on a
    loaded machine, and a scraper from another address is never turned away.
    The flood's own connections past --http-max-per-ip (16) are closed to
    make room for its new ones: counted as its errors, not a failure."""
    wl = start.workload("--seed", "7", "--threads", "4", "--tasks", "1000", "--work-ms", "5")
    col = start.collector(wl.pid, "--file-root", registry(tmp_path))
    flood = Flood(col, 32)
    # Prometheus, from another address than the flood's: one scrape at a
    # time, a new connection each. (From the flood's own address it would
    # share the flood's --http-max-per-ip.)
    prom = Flood(col, 1, keepalive=False, source="127.0.0.2")
    flood_t0 = time.monotonic()

    def under_way():  # the flood under way before the work starts
        with flood.lock, prom.lock:
            return len(flood.latencies) >= 32 and prom.latencies
    wait_until(under_way, "32 scrapes of the flood and one of the other scraper answered")
    t0 = time.monotonic()
    truth = wl.go()
    work_s = time.monotonic() - t0
    lat, errors = flood.stop()
    prom_lat, prom_errors = prom.stop()
    flood_s = time.monotonic() - flood_t0
    assert col.proc.poll() is None
    samples, _ = parse_exposition(col.metrics())
    compare(samples, truth)
    assert file_counts(samples) == expected_counts(truth)
    assert len(lat) > 100, (len(lat), errors)
    scrapes = samples[("aet_collector_scrapes_total", frozenset())]
    assert scrapes >= len(lat), (scrapes, len(lat))
    p50, p99 = quantile(lat, 0.5), quantile(lat, 0.99)
    assert p99 < 1.0, (p50, p99, lat[-1])
    assert prom_errors == {} and len(prom_lat) > 10, (len(prom_lat), prom_errors)
    assert quantile(prom_lat, 0.99) < 1.0, prom_lat[-5:]
    assert col.get("/health")[0] == 200
    code, err = col.stop()
    assert code == 0, err
    record("scrape_flood", clients=32, scrapes=len(lat), errors=errors,
           lone_scraper={"scrapes": len(prom_lat), "errors": prom_errors,
                         "p99_ms": round(quantile(prom_lat, 0.99) * 1e3, 1)},
           scrapes_per_s=round(len(lat) / flood_s), p50_ms=round(p50 * 1e3, 1),
           p99_ms=round(p99 * 1e3, 1), max_ms=round(lat[-1] * 1e3, 1),
           series=sum(1 for k in samples if not k[0].startswith("process_")),
           workload_s=round(work_s, 1))


# -- d: SIGTERM under load --

UPROBE_EVENTS = "/sys/kernel/tracing/uprobe_events"


def bpftool(*args):
    out = subprocess.run(["bpftool", *args, "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out) if out.strip() else []


def kernel_objects(pid):
    """What the kernel holds for the collector pid: {"perf": its perf events
    (uprobes, tracepoints), "progs": ids of the programs on them, "links":
    ids of the links to those, "maps": ids of the maps they use}. By pid:
    another collector on the host (another test run) does not count."""
    perf = [e for e in bpftool("perf", "show") if e.get("pid") == pid]
    prog_ids = {e["prog_id"] for e in perf}
    maps = set()
    for p in bpftool("prog", "show"):
        if p["id"] in prog_ids:
            maps.update(p.get("map_ids", ()))
    links = {k["id"] for k in bpftool("link", "show") if k.get("prog_id") in prog_ids}
    return {"progs": prog_ids, "links": links, "perf": perf, "maps": maps}


def maps_left(ids, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(set(ids) & {m["id"] for m in bpftool("map", "show")})
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def uprobe_events():
    try:
        with open(UPROBE_EVENTS) as f:
            return set(f.read().splitlines())
    except FileNotFoundError:  # tracefs not mounted: the collector mounts it
        return set()


def test_sigterm_under_load_leaves_nothing_attached(start, tmp_path):
    """Under the workload at full speed, spans exported and 8 clients
    scraping, SIGTERM: exit 0 within the flush bound, and afterwards no
    program, link, perf event (uprobe or tracepoint), map or uprobe_events
    entry of the collector remains."""
    rx = Receiver()
    try:
        events0 = uprobe_events()
        wl = start.workload("--loop", "--pause", "0", "--tasks", "50", "--threads", "4")
        col = start.collector(wl.pid, "--file-root", registry(tmp_path),
                              env=otel_env(rx, OTEL_TRACES_SAMPLER="always_on"))
        release(wl)
        flood = Flood(col, 8)
        assert wait_for(lambda: len(rx.spans) > 1000, 20), "no load"
        held = kernel_objects(col.proc.pid)
        progs = held["progs"]
        # probes, processes, files, SQLite, HTTP, Python (its USDT probes), custom
        assert len(progs) == attached_programs(col) == 10 + 2 + 59 + 9 + 19 + 2 + 5, progs
        # HTTP's shared exits: one program on 4 send and 4 receive
        # tracepoints, one on poll and ppoll, one on SSL_read and
        # SSL_read_ex, SSL_write and SSL_write_ex, SSL_shutdown and SSL_free
        assert len(held["links"]) == len(held["perf"]) == len(progs) + 3 + 3 + 1 + 1 + 1 + 1
        assert held["maps"]
        s, _ = parse_exposition(col.metrics())
        tasks_before = total(s, "aet_tasks_total")
        assert tasks_before > 0

        t = time.monotonic()
        code, err = col.stop(signal.SIGTERM)
        exit_s = time.monotonic() - t
        assert code == 0, err
        assert exit_s < 10, exit_s
        _, flood_errors = flood.stop()
        assert programs_left(progs) == []
        assert maps_left(held["maps"]) == []
        assert {k["id"] for k in bpftool("link", "show")} & held["links"] == set()
        assert uprobe_events() <= events0
        assert wl.proc.poll() is None  # the target ran through it
        stop_loop(wl)
    finally:
        rx.stop()
    record("sigterm_under_load", exit_s=round(exit_s, 2), programs=len(progs),
           links=len(held["links"]), perf_events=len(held["perf"]), maps=len(held["maps"]),
           left_after_exit=0, spans_received=len(rx.spans), tasks_counted=int(tasks_before))


# -- b: the OTLP receiver down, then slow --

PHASE_S = 30


def watch(col, seconds, samples):
    """Samples the exporter's queue, RSS and /health every 0.5 s for seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s, _ = parse_exposition(col.metrics())
        samples.append({"queued": s[("aet_collector_spans_queued", frozenset())],
                        "rss": rss_bytes(col.proc.pid), "health": col.get("/health")[0]})
        time.sleep(0.5)


def recovery(receivers, since_ns, timeout=30):
    """Seconds until a span begun after since_ns (the receiver's return)
    arrives, counted from then."""
    t = time.monotonic() - (time.time_ns() - since_ns) / 1e9

    def arrived():
        return any(s["start"] >= since_ns for rx in receivers for s in rx.spans)
    assert wait_for(arrived, timeout, interval=0.05), "no new span %d s after recovery" % timeout
    return time.monotonic() - t


def drops(col):
    return {r: int(v) for r, v in span_metrics(col)[1].items() if v}


def test_receiver_down_then_slow(start, tmp_path):
    """The receiver down (its port closed) for 30 s, back, then answering
    each request 3 s late for 30 s, then back to normal, while the workload
    runs: the export queue stays within OTEL_BSP_MAX_QUEUE_SIZE (2048, the
    default), RSS stays bounded, what could not be sent is counted by
    reason, new spans arrive soon after each recovery, decodable and never
    twice, and in the end every span is either exported or counted dropped."""
    max_queue = 2048  # OTEL_BSP_MAX_QUEUE_SIZE's default, as /status says
    rx = Receiver()
    receivers = [rx]
    try:
        wl = start.workload("--loop", "--pause", "0.05", "--tasks", "20",
                            "--tasks-per-cycle", "5", "--threads", "2")
        col = start.collector(wl.pid, "--file-root", registry(tmp_path), env=otel_env(rx))
        export = json.loads(col.get("/status")[2])["tracing"]["export"]
        assert export["max_queue"] == max_queue and export["max_batch"] == 512, export
        release(wl)
        assert wait_for(lambda: rx.spans, 15), "no span before the fault"
        port = rx.port
        rx.stop()  # down: connections refused
        down, slow = [], []
        watch(col, PHASE_S, down)
        drops_down = drops(col)
        rx = Receiver(port=port)
        receivers.append(rx)
        recover_down = recovery(receivers, time.time_ns())

        rx.set_mode("slow", 3)
        watch(col, PHASE_S, slow)
        drops_slow = drops(col)
        arrived_slow = len(rx.spans)
        rx.set_mode("ok")
        recover_slow = recovery(receivers, time.time_ns())

        truth = stop_loop(wl)
        want = sum(expected_counts_by_kind(truth).values())

        def accounted():
            exported, dropped = span_metrics(col)
            return exported + sum(dropped.values()) == want
        assert wait_for(accounted, 30, interval=0.2), (span_metrics(col), want)
        exported, dropped = span_metrics(col)
        spans = [s for r in receivers for s in r.spans]
        assert exported == len(spans) > 0
        check_ids(spans)  # nothing sent twice
        assert all(r.violations == [] for r in receivers)  # every request decoded
        assert dropped["rejected"] == dropped["shutdown"] == dropped["ring_full"] == 0
        for phase in (down, slow):
            assert max(p["queued"] for p in phase) <= max_queue
            assert all(p["health"] == 200 for p in phase)
            assert SANITIZED or max(p["rss"] for p in phase) < 200 << 20
        assert drops_down.get("queue_full", 0) + drops_down.get("retries_exhausted", 0) > 0
        assert sum(drops_slow.values()) > sum(drops_down.values())  # the slow phase lost too
        assert arrived_slow > 0  # slow is not down: some got through
        assert recover_down < 15 and recover_slow < 15, (recover_down, recover_slow)
        code, err = col.stop()
        assert code == 0, err
    finally:
        for r in receivers:
            r.stop()
    record("receiver_down_then_slow", phase_s=PHASE_S, queue_bound=max_queue,
           max_queued_down=int(max(p["queued"] for p in down)),
           max_queued_slow=int(max(p["queued"] for p in slow)),
           max_rss_mib=round(max(p["rss"] for p in down + slow) / 2**20, 1),
           dropped_after_down=drops_down,
           dropped_during_slow={r: v - drops_down.get(r, 0) for r, v in drops_slow.items()},
           arrived_during_slow=arrived_slow,
           recover_after_down_s=round(recover_down, 2),
           recover_after_slow_s=round(recover_slow, 2),
           spans_total=want, exported=int(exported),
           dropped_total={r: int(v) for r, v in dropped.items() if v})
