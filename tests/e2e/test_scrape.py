"""/metrics at 100k series while spans flow: two scrapers at once, and a
client that asks for /metrics and does not read its answer, all get every
series with its exact value; meanwhile the span consumer keeps draining
(it looks up the same label sets the scrapes render): spans reach the OTLP
receiver during the scrapes, and every task ended then arrives, with its
agent, none dropped. (bench-probe-hit makes the series and the tasks.)"""
import http.client
import socket
import threading
import time

from harness import SANITIZED, by_labels, parse_exposition
from otlp import Receiver, wait_for
from test_spans import otel_env

N = 100000
SCRAPE_S = 3.0  # how long the two scrapers go on
SCRAPE_BOUND = 10.0 if SANITIZED else 2.0  # seconds one scrape may take
GAP_BOUND = 2.0  # seconds without a span reaching the receiver, batches every 0.2 s
BATCH = 100  # tasks per "threads 1 N" command


# bench-probe-hit's "series N": event types s_0000000 ... once each.
EVENTS = b"".join(b'aet_events_total{event_type="s_%07d"} 1\n' % i for i in range(N))


def check_events(body):
    """Every one of the N event types once, each counted once, and no other."""
    assert body.count(b"\naet_events_total{") == N, body.count(b"\naet_events_total{")
    assert b"\n" + EVENTS in body


class Tasks(threading.Thread):
    """Has the target end BATCH tasks (agent "thread_0") at a time until stopped."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target, self.ended, self.stop = target, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.target.stdin.write("threads 1 %d\n" % BATCH)
            self.target.stdin.flush()
            assert self.target.stdout.readline().strip() == "done"
            self.ended += BATCH
            time.sleep(0.01)


def scraper(port, until, out):
    """Scrapes on one kept-alive connection until the monotonic time until."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < until:
        t0 = time.monotonic()
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read()
        out.append((t0, time.monotonic(), r.status, body))
    conn.close()


def task_spans(rx):
    return [s for s in rx.spans if s["name"] == "aet.task"]


def test_scrapes_at_100k_series_run_together_and_spans_keep_draining(start, target, request):
    rx = Receiver()
    request.addfinalizer(rx.stop)
    # --http-timeout: the client that does not read keeps its answer that long.
    col = start.collector(target.pid_, "--max-series", str(N + 16), "--http-timeout", "60",
                          env=otel_env(rx))
    target.stdin.write("series %d\n" % N)
    target.stdin.flush()
    assert target.stdout.readline().strip() == "done"
    check_events(col.metrics().encode())  # the label sets read once

    tasks = Tasks(target)
    tasks.start()
    assert wait_for(lambda: task_spans(rx), 10), "no span before the scrapes"
    # Asks for the exposition, then reads nothing until the scrapers are done.
    # (A small SO_RCVBUF would make reading it afterwards take minutes.)
    stuck = socket.create_connection(("127.0.0.1", col.port))
    stuck.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")

    until = time.monotonic() + SCRAPE_S
    results = [[], []]
    scrapers = [threading.Thread(target=scraper, args=(col.port, until, r)) for r in results]
    for t in scrapers:
        t.start()
    arrivals, last = [], 0  # (time, task spans received) each time the count grew
    while any(t.is_alive() for t in scrapers):
        n = len(task_spans(rx))
        if n != last:
            arrivals.append((time.monotonic(), n))
            last = n
        time.sleep(0.02)
    for t in scrapers:
        t.join()
    tasks.stop.set()
    tasks.join()

    print("\nscrapes: %s, the slowest %.3f s; task spans %d by the end of the scrapes" % (
        [len(r) for r in results], max(t1 - t0 for r in results for t0, t1, _, _ in r), last))
    # Both scrapers scraped, every answer whole and exact, none slow.
    for r in results:
        assert len(r) >= 2, len(r)
        for t0, t1, status, body in r:
            assert status == 200
            assert t1 - t0 < SCRAPE_BOUND, t1 - t0
            check_events(body)
    # Spans arrived all along the scrapes: no gap longer than the bound.
    times = [s for s, _ in arrivals if s < until]
    assert len(times) >= 2, arrivals
    edges = [min(r[0][0] for r in results)] + times + [until]
    gaps = [b - a for a, b in zip(edges, edges[1:])]
    assert max(gaps) < GAP_BOUND, gaps

    # The client that did not read gets its answer whole once it does.
    stuck.settimeout(30)
    answer = b""
    while chunk := stuck.recv(1 << 16):
        answer += chunk
    stuck.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]
    check_events(answer.split(b"\r\n\r\n", 1)[1])

    # Every task ended reaches the receiver, under its agent; none dropped.
    assert wait_for(lambda: len(task_spans(rx)) >= tasks.ended, 20), \
        (len(task_spans(rx)), tasks.ended)
    spans = task_spans(rx)
    assert len(spans) == tasks.ended
    assert all(s["attributes"].get("aet.agent") == "thread_0" for s in spans)
    s, _ = parse_exposition(col.metrics())
    assert sum(by_labels(s, "aet_collector_spans_dropped_total").values()) == 0
    assert by_labels(s, "aet_tasks_total")[frozenset({
        ("agent", "thread_0"), ("mode", "generation"), ("status", "success")})] == tasks.ended
    code, err = col.stop()
    assert code == 0, err
