"""The server and the client of bench/run.py's genai_stream: streamed
model calls, as an agent's OpenAI client makes them.

    /usr/bin/python3 bench/genai_stream.py --serve CERT KEY PACE_US
    /usr/bin/python3 bench/genai_stream.py --client PLAIN_PORT TLS_PORT CAFILE

The server answers POST /v1/chat/completions with tests/e2e/httpd.py's
model_answer() (OpenAI's shape: 200 content events, the one with the
finish reason, the usage event, [DONE]) as a text/event-stream in chunked
framing, each event a write of its own, PACE_US apart, Nagle off: as a
model server streams, each event comes in a segment of its own and the
client reads each apart (a model's tokens come tens of ms apart; without
the pause the events would pile up and be read several at once, more of
them the slower the client). Plain HTTP on one port, HTTPS on another;
prints "ports PLAIN TLS" and serves until its stdin ends.

The client prints "pid PID", then for each line "KIND N COUNT" on stdin
(KIND http or https) connects, makes one call outside the measure (the
connection and the TLS handshake), then N calls on that kept-alive
connection, and prints "done WALL_US CPU_US READS BYTES GCS": the wall
and CPU time of this process per call, and the garbage collections per
call (the python family's probes); with COUNT 1 also the reads per call of
the response's socket (what the http family's programs run on: a
recvfrom, or an SSL_read_ex and its read()s) and their bytes, else 0:
counting costs, so a measured run does not count.

A call is what an SDK does with a stream: POST the request, then read the
event stream line by line, json.loads() each event, keep the content and
the last usage; each call checks that all 200 chunks and the usage came.
"""
import gc
import http.client
import http.server
import json
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "e2e"))
from httpd import model_answer  # noqa: E402 - the e2e tests' model APIs
import http_io  # noqa: E402 - its server, bench/ being this script's directory

CHUNKS = 200
# input, output, cached input, reasoning: what the final usage event says
TOKENS = (1234, CHUNKS, 1000, 16)
MODEL = "gpt-bench"
PATH = "/v1/chat/completions"
REQUEST = json.dumps({
    "model": MODEL, "stream": True, "stream_options": {"include_usage": True},
    "messages": [{"role": "system", "content": "You are a careful coding agent. " * 8},
                 {"role": "user", "content": "Summarise the change in the diff below. " * 12}],
    "aet_test": {"chunks": CHUNKS, "tokens": list(TOKENS), "usage": True}}).encode()
USAGE = {"prompt_tokens": TOKENS[0], "completion_tokens": TOKENS[1],
         "total_tokens": TOKENS[0] + TOKENS[1],
         "prompt_tokens_details": {"cached_tokens": TOKENS[2]},
         "completion_tokens_details": {"reasoning_tokens": TOKENS[3]}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    pace = 0.0

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        code, stream, events, _ = model_answer(self.path, req)
        if self.path != PATH or code != 200 or not stream:
            self.send_error(400)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for e in events:
            data = e.encode()
            time.sleep(self.pace)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


def serve(cert, key, pace_us):
    Handler.pace = pace_us / 1e6
    http_io.serve(cert, key, Handler)


def call(conn):
    conn.request("POST", PATH, body=REQUEST, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        sys.exit("genai_stream client: status %d" % r.status)
    text, usage = [], None
    for line in r:
        if not line.startswith(b"data: "):
            continue
        data = line[6:].strip()
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        if ev.get("usage"):
            usage = ev["usage"]
        for ch in ev["choices"]:
            if ch["delta"].get("content"):
                text.append(ch["delta"]["content"])
    r.read()  # the end of the chunked body: the connection is reused
    if len(text) != CHUNKS or usage != USAGE:
        sys.exit("genai_stream client: %d chunks, usage %r" % (len(text), usage))


class Counter:
    """Counts the reads of the response's buffered reader (socket.SocketIO
    under http.client), while installed."""

    def __init__(self):
        self.reads = self.bytes = 0
        self.orig = socket.SocketIO.readinto

    def __enter__(self):
        orig = self.orig

        def readinto(sio, b):
            n = orig(sio, b)
            self.reads += 1
            self.bytes += n or 0
            return n
        socket.SocketIO.readinto = readinto
        return self

    def __exit__(self, *exc):
        socket.SocketIO.readinto = self.orig


def gcs():
    return sum(s["collections"] for s in gc.get_stats())


def client(plain_port, tls_port, cafile):
    ctx = ssl.create_default_context(cafile=cafile)  # libssl mapped from here on
    print("pid %d" % os.getpid(), flush=True)
    for line in sys.stdin:
        kind, n, count = line.split()
        n = int(n)
        if kind == "https":
            conn = http.client.HTTPSConnection("localhost", tls_port, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", plain_port)
        call(conn)
        reads = nbytes = 0
        g0, t0, c0 = gcs(), time.perf_counter(), time.process_time()
        if count == "1":
            with Counter() as k:
                for _ in range(n):
                    call(conn)
            reads, nbytes = k.reads / n, k.bytes / n
        else:
            for _ in range(n):
                call(conn)
        t1, c1, g1 = time.perf_counter(), time.process_time(), gcs()
        conn.close()
        print("done %.3f %.3f %.2f %.1f %.3f" % ((t1 - t0) * 1e6 / n, (c1 - c0) * 1e6 / n, reads,
                                                 nbytes, (g1 - g0) / n), flush=True)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        return serve(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        return client(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
