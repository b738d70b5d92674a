"""An OTLP/HTTP traces receiver for the end-to-end tests.

The schema is tests/e2e/otlp_trace.proto (OTLP's field numbers), compiled
with protoc once per test session. Receiver is a real HTTP server on
127.0.0.1: the collector under test POSTs to it, and a test reads what
arrived as plain dicts:

    rx = Receiver()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": rx.url}   # the collector posts to /v1/traces
    ...
    wait_for(lambda: len(rx.spans) >= n, 10)
    rx.set_mode("fail", 3)   # 503 for the next 3 requests, then 200
    rx.set_mode("hang")      # read requests, never answer until the mode changes
    rx.set_mode("slow", 3)   # answer each request 200, but 3 s after it arrived
    rx.stop()
    Receiver(port=rx.port)   # the same address again, once stopped

Spans are kept only from requests answered 200: a request that failed or
hung is one the collector must send again.
"""
import gzip
import importlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "otlp_trace.proto")
PATH = "/v1/traces"
CONTENT_TYPE = "application/x-protobuf"

_pb2 = None


def pb2():
    """The generated module of otlp_trace.proto (compiled on first use)."""
    global _pb2
    if _pb2 is None:
        with tempfile.TemporaryDirectory(prefix="aet-otlp-") as out:
            subprocess.run(["protoc", "--proto_path", HERE, "--python_out", out, PROTO],
                           check=True, capture_output=True, text=True)
            sys.path.insert(0, out)
            try:
                _pb2 = importlib.import_module("otlp_trace_pb2")
            finally:
                sys.path.remove(out)
    return _pb2


def hex_id(raw):
    return raw.hex()


def any_value(v):
    """An AnyValue as a Python value (None when empty)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return getattr(v, which)


def attributes(kvs, problems=None):
    """Repeated KeyValue as a dict; a repeated key is a problem."""
    out = {}
    for kv in kvs:
        if kv.key in out and problems is not None:
            problems.append("attribute %r repeated" % kv.key)
        out[kv.key] = any_value(kv.value)
    return out


def decode(body, problems=None):
    """An ExportTraceServiceRequest (bytes) as a list of span dicts."""
    req = pb2().ExportTraceServiceRequest()
    req.ParseFromString(body)
    spans = []
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes, problems)
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append({
                    "trace_id": hex_id(s.trace_id),
                    "span_id": hex_id(s.span_id),
                    "parent_span_id": hex_id(s.parent_span_id),
                    "trace_state": s.trace_state,
                    "name": s.name,
                    "kind": s.kind,
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attributes(s.attributes, problems),
                    "status_code": s.status.code,
                    "status_message": s.status.message,
                    "flags": s.flags,
                    "events": [{"time": e.time_unix_nano, "name": e.name,
                                "attributes": attributes(e.attributes, problems)}
                               for e in s.events],
                    "dropped_events": s.dropped_events_count,
                    "resource": resource,
                    "scope": ss.scope.name,
                })
    return spans


class Receiver:
    """A threaded OTLP/HTTP receiver. Its state is read under lock, or
    through the copies its properties return."""

    def __init__(self, port=0):
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # the mode changed, or stopping
        self.mode = "ok"
        self.fail_left = None  # "fail": requests still to fail; None: all of them
        self.delay = 0.0  # "slow": seconds before each answer
        self.stopping = False
        self._spans = []
        self._requests = []  # one dict per request: headers, gzip, answer
        self.violations = []  # what the collector did against OTLP/HTTP
        self.connections = set()  # the sockets of the connections open now
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as exporters use it

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver.connections.add(self.connection)

            def finish(self):
                with receiver.lock:
                    receiver.connections.discard(self.connection)
                super().finish()

            def do_POST(self):
                receiver._handle(self)

            def do_GET(self):
                receiver._note("GET %s" % self.path)
                self._answer(405, b"")

            def _answer(self, code, body, content_type=CONTENT_TYPE):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True  # a hung handler never holds up the end
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="otlp-receiver")
        self.thread.start()

    # -- the test's side --

    def set_mode(self, mode, count=None):
        """ok: 200; fail: 503 (for the next count requests, then ok); hang:
        read the request and wait, unanswered, until the mode changes; slow:
        200, count seconds after the request arrived (sooner when the mode
        changes)."""
        assert mode in ("ok", "fail", "hang", "slow"), mode
        with self.lock:
            if mode == "slow":
                self.mode, self.fail_left, self.delay = mode, None, float(count)
            else:
                self.mode, self.fail_left = mode, count
            self.changed.notify_all()

    @property
    def spans(self):
        with self.lock:
            return list(self._spans)

    @property
    def requests(self):
        """[{"headers": {lower-case name: value}, "gzip": bool, "answer": code or None}]"""
        with self.lock:
            return [dict(r) for r in self._requests]

    def answered(self, code):
        return sum(1 for r in self.requests if r["answer"] == code)

    def stop(self):
        """Stops listening and closes the connections open (a kept-alive
        one included): the receiver is gone, as if its process died."""
        with self.lock:
            self.stopping = True
            self.changed.notify_all()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for sock in self.connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- the server's side --

    def _note(self, what):
        with self.lock:
            self.violations.append(what)

    def _handle(self, h):
        headers = {k.lower(): v for k, v in h.headers.items()}
        body = h.rfile.read(int(headers.get("content-length", 0)))
        record = {"headers": headers, "gzip": headers.get("content-encoding") == "gzip",
                  "answer": None}
        with self.lock:
            if self.stopping:  # gone: no answer
                h.close_connection = True
                return
            self._requests.append(record)
        if h.path != PATH:
            self._note("POST to %s" % h.path)
            return h._answer(404, b"")
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != CONTENT_TYPE:
            self._note("Content-Type %r" % headers.get("content-type"))
            return h._answer(415, b"")
        encoding = headers.get("content-encoding", "identity")
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding != "identity":
                raise ValueError("Content-Encoding %r" % encoding)
            problems = []
            spans = decode(body, problems)
        except Exception as e:  # noqa: BLE001 - anything malformed is a violation
            self._note("undecodable request: %s" % e)
            return h._answer(400, b"")
        with self.lock:
            if self.mode == "slow":
                deadline = time.monotonic() + self.delay
                while self.mode == "slow" and not self.stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.changed.wait(left)
            if self.mode == "hang":
                while self.mode == "hang" and not self.stopping:
                    self.changed.wait()
                # Never answered: the client gave up on it; close the connection.
                h.close_connection = True
                return
            if self.mode == "fail":
                if self.fail_left is not None:
                    self.fail_left -= 1
                    if self.fail_left <= 0:
                        self.mode, self.fail_left = "ok", None
                record["answer"] = 503
            else:
                record["answer"] = 200
                self._spans.extend(spans)
                self.violations.extend(problems)
        if record["answer"] == 503:
            return h._answer(503, b"", "text/plain")
        h._answer(200, pb2().ExportTraceServiceResponse().SerializeToString())


def wait_for(predicate, timeout, interval=0.05):
    """Polls predicate until it is true or timeout seconds pass; returns its
    last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
