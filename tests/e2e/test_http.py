"""The HTTP endpoint's limits: methods, request size, connection limits and
slow clients (slowloris), against the real collector.

Slow clients connect from several loopback addresses (127.0.0.1-8: Linux
routes all of 127/8 to lo), so that both the per-address and the global
connection limits are passed, the scraper sharing its address with some.
"""
import http.client
import os
import select
import socket
import subprocess
import threading
import time

import pytest

from harness import LIBRARY, wait_loaded

READ_PATHS = ("/metrics", "/health", "/ready", "/status", "/")
TIMEOUT = 3  # --http-timeout of the slow-client tests, seconds
SCRAPE_BOUND = 2.0  # seconds a scrape may take while slow clients press


@pytest.fixture
def collector(start):
    """A collector attached to a process that only loaded the probe library."""
    target = subprocess.Popen(["sleep", "300"], env=dict(os.environ, LD_PRELOAD=LIBRARY))
    wait_loaded(target.pid, "libaetprobe.so", "sleep")
    cols = []

    def run(*args):
        col = start.collector(target.pid, *args)
        cols.append(col)
        return col

    yield run
    for col in cols:
        col.stop(9)
    target.kill()
    target.wait()


def raw(port, data, timeout=5):
    """Sends data on a new connection; returns (status, the whole answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got and b"Connection: close" not in got:
                break  # kept alive: the headers are all we need
    status = int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/1.") else None
    return status, got


def scrape(port, timeout=SCRAPE_BOUND + 3):
    """GET /metrics on a new connection; returns (status, seconds)."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    except OSError as e:
        return repr(e), time.monotonic() - t0
    finally:
        c.close()


def test_methods(collector):
    col = collector()
    for path in READ_PATHS:
        for method in ("GET", "HEAD"):
            assert col.get(path, method=method)[0] == 200, (method, path)
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            status, headers, _ = col.get(path, method=method)
            assert status == 405 and headers["Allow"] == "GET, HEAD", (method, path, status)
    assert col.get("/metrics/")[0] == 404
    for method in ("GET", "HEAD", "PUT", "DELETE"):  # the switch: POST only
        status, headers, _ = col.get("/control/disable", method=method)
        assert status == 405 and headers["Allow"] == "POST", (method, status)
    assert col.get("/control/nothing", method="POST")[0] == 404
    # A POST with a body: refused without reading it.
    req = b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    status, answer = raw(col.port, req)
    assert status == 405 and b"Allow: GET, HEAD" in answer


def test_request_size(collector):
    col = collector("--http-max-request-bytes", "8192")
    big = b"a" * 9000
    status, _ = raw(col.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n")
    assert status == 431
    status, _ = raw(col.port, b"GET /metrics?" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414
    # A body on a read endpoint, announced either way: 413, connection closed.
    for framing in (b"Content-Length: 100000\r\n", b"Transfer-Encoding: chunked\r\n"):
        status, answer = raw(col.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + framing +
                             b"\r\n")
        assert status == 413 and b"Connection: close" in answer, answer[:200]
    # Within the limit, and afterwards: served.
    status, _ = raw(col.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000 +
                    b"\r\n\r\n")
    assert status == 200
    assert scrape(col.port)[0] == 200


class SlowClients:
    """Slow clients: each connects, sends a request line, then one header byte
    a second (slowloris), and notes when the collector closes it. With
    reconnect, the closed ones are replaced at each byte, as slowloris does,
    until stop_reconnecting()."""

    def __init__(self, port, n, addrs, reconnect=False, interval=1.0):
        self.port, self.n, self.addrs = port, n, addrs
        self.reconnect, self.interval = reconnect, interval
        self.open = {}  # socket -> time it connected
        self.lifetimes = []  # seconds from connect to the collector's close
        self.refused = 0
        self.running = True
        self.halted = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = 0
        for i in range(n):
            self._connect(i)
        self.thread.start()

    def _connect(self, i):
        s = socket.socket()
        s.bind((self.addrs[i % len(self.addrs)], 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            self.refused += 1
            s.close()
            return
        s.setblocking(False)
        self.open[s] = time.monotonic()
        self.started += 1

    def _closed(self, s):
        self.lifetimes.append(time.monotonic() - self.open.pop(s))
        s.close()

    def _run(self):
        next_byte = time.monotonic() + self.interval
        while True:
            with self.lock:
                if self.halted or not (self.open or self.reconnect and self.running):
                    return
                socks = list(self.open)
            readable, _, _ = select.select(socks, [], [], 0.05)
            with self.lock:
                for s in readable:
                    if s not in self.open:  # given up on by wait_closed()
                        continue
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    if not data:  # closed (an answer would be data: none is due)
                        self._closed(s)
                if time.monotonic() >= next_byte:
                    next_byte += self.interval
                    while self.reconnect and self.running and len(self.open) < self.n:
                        self._connect(self.started)
                    for s in list(self.open):
                        try:
                            s.send(b"X")
                        except BlockingIOError:
                            pass
                        except OSError:
                            self._closed(s)

    def stop_reconnecting(self):
        with self.lock:
            self.running = False

    def wait_closed(self, timeout):
        """Waits for the collector to close every slow client; returns the
        ages in seconds of those it left open (closed here)."""
        self.thread.join(timeout)
        with self.lock:
            self.halted = True
            now = time.monotonic()
            left = sorted(round(now - t, 1) for t in self.open.values())
            for s in list(self.open):
                s.close()
            self.open.clear()
        return left


def test_slow_clients_closed_after_timeout(collector):
    """A client sending a byte every half second still has --http-timeout
    seconds to complete its request: libmicrohttpd's own timeout counts idle
    time, which it resets."""
    col = collector("--http-timeout", str(TIMEOUT))
    slow = SlowClients(col.port, 8, ["127.0.0.1", "127.0.0.2"], interval=0.5)
    left = slow.wait_closed(TIMEOUT + 5)
    assert not left, "slow clients still connected, their ages: %s" % left
    assert slow.refused == 0 and len(slow.lifetimes) == 8
    # closed by the deadline (checked every 0.25 s), not before it; the
    # upper bound leaves room for a loaded machine
    assert all(TIMEOUT - 0.2 <= t <= TIMEOUT + 2.5 for t in slow.lifetimes), slow.lifetimes
    # A kept-alive connection idle past the timeout is closed too.
    c = http.client.HTTPConnection("127.0.0.1", col.port, timeout=10)
    c.request("GET", "/health")
    r = c.getresponse()
    r.read()
    assert r.status == 200 and not r.will_close
    sock = c.sock
    t0 = time.monotonic()
    sock.settimeout(TIMEOUT + 3)
    assert sock.recv(1) == b""
    assert TIMEOUT - 0.2 <= time.monotonic() - t0 <= TIMEOUT + 2.5
    c.close()


def test_slow_clients_do_not_stall_scrapes(collector):
    """Twice --http-max-connections slow clients from eight addresses, closed
    ones replaced at once, while /metrics is scraped from one of them: every
    scrape answers 200 within SCRAPE_BOUND seconds."""
    col = collector("--http-timeout", str(TIMEOUT))
    max_conns, per_ip = 64, 16  # the defaults
    addrs = ["127.0.0.%d" % i for i in range(1, 9)]
    slow = SlowClients(col.port, 2 * max_conns, addrs, reconnect=True)
    assert len(addrs) * per_ip >= 2 * max_conns
    results = []
    deadline = time.monotonic() + TIMEOUT + 3
    while time.monotonic() < deadline:
        results.append(scrape(col.port))
        time.sleep(0.1)  # a scraper's pace, over the period the slow clients press
    slow.stop_reconnecting()
    bad = [r for r in results if r[0] != 200 or r[1] > SCRAPE_BOUND]
    assert not bad, "%d of %d scrapes failed or were slow: %s" % (len(bad), len(results), bad[:5])
    assert len(results) >= 10
    # Slow clients were held while the scrapes went on (made room for, or
    # timed out), and none outlives the timeout once no more come.
    assert slow.started > 2 * max_conns
    left = slow.wait_closed(TIMEOUT + 5)
    assert not left, "slow clients still connected, their ages: %s" % left
    assert max(slow.lifetimes) <= TIMEOUT + 2.5, max(slow.lifetimes)
    code, err = col.stop()
    assert code == 0, err
