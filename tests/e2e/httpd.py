#!/usr/bin/python3
"""Local HTTP/1.1 servers for the http family's end-to-end tests.

They run as a process of their own: the workload is the observed target,
and the servers' side of each connection must never be in what it did.
One plain server and one TLS server (Python's ssl, with a certificate made
at test time), both keep-alive (several requests per connection, until the
client closes it or a path below ends it). Each request is logged as a JSON
line (--log): method, target, Host, traceparent, X-AET-Client, the
request body's length, the client's port (its connection) and the time, so
that a test can check the workload's truth against what really arrived.

Paths (the query sets sizes; its other parameters are ignored):
  /ok?n=N             200, Content-Length body of N bytes (default 1234);
                      any method (HEAD: the head only, as for GET)
  /chunked?sizes=A,B  200, Transfer-Encoding: chunked, chunks of A, B, ...
                      bytes (default CHUNKS), trickled: a size line and its
                      data split over several writes with pauses between,
                      so that the client's reads cut across them
  /big?n=N            200, Content-Length N (default BIG), one write
  /notfound /busy /fail   404, 429, 500, small Content-Length bodies (?n=)
  /close?n=N          200, no Content-Length, Connection: close, the body
                      (default 1234) in three writes, delimited by the end
                      of the connection (TLS: a close_notify first)
  /reset              a partial response head, then a reset (SO_LINGER
                      {1, 0}, close)
  /reset-body?length=L&sent=S   the head (Content-Length L), S bytes of the
                      body, then a reset
  /truncated?length=L&sent=S    the head (Content-Length L), S bytes of the
                      body, then a clean end of the connection (TLS: a
                      close_notify first): the client sees EOF before the end
  POST /echo          200 with the request body (read by its Content-Length)
  POST /v1/chat/completions, POST /v1/messages
                      model APIs, OpenAI's and Anthropic's shapes: the JSON
                      request's "aet_test" member says the answer (model_answer())
A request body sent to any other path is read and dropped.

    /usr/bin/python3 tests/e2e/httpd.py --cert C --key K --log FILE
prints "PORTS <plain> <tls>" and serves on 127.0.0.1 until its standard
input ends (its parent gone) or SIGTERM. Servers (below) does all of it
for a test, the certificate included.
"""
import argparse
import gzip
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK_SIZE = 1234
BIG = 300 * 1024
CHUNKS = (5, 300, 8192, 1, 2000, 17)
ERRORS = {"/notfound": (404, 9), "/busy": (429, 11), "/fail": (500, 13)}
TRICKLE_S = 0.002  # the pause between the pieces of a trickled write
RESET_PAUSE_S = 0.05  # the client reads what came before the reset
PARTIAL_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/pl"


MODEL_PATHS = ("/v1/chat/completions", "/v1/messages")


def sse(obj, event=None):
    return "%sdata: %s\n\n" % ("event: %s\n" % event if event else "",
                                 obj if isinstance(obj, str) else json.dumps(obj))


def model_answer(path, req):
    """(status, stream, events, body) of a model API's answer to req, whose
    "aet_test" says: "status" (an error's, else 200), "chunks" (content
    events of a stream), "tokens" [input, output, cached input, reasoning]
    (Anthropic's answer has no reasoning count), "usage" (an OpenAI stream's
    final usage event: the request's stream_options.include_usage).
    The response's model is the request's with "-2025" after it."""
    t = req["aet_test"]
    model, stream = req["model"] + "-2025", req.get("stream", False)
    tin, tout, cached, reasoning = t["tokens"]
    if t.get("status", 200) != 200:
        return t["status"], stream, [], {"error": {"type": "test", "message": "planned"}}
    if path == "/v1/messages":
        usage = {"input_tokens": tin, "output_tokens": tout, "cache_read_input_tokens": cached}
        body = {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "model " * t["chunks"]}],
                "stop_reason": "end_turn", "usage": usage}
        start = {"type": "message_start", "message": dict(
            body, content=[], stop_reason=None,
            usage={"input_tokens": tin, "cache_read_input_tokens": cached, "output_tokens": 1})}
        events = [sse(start, "message_start")]
        events += [sse({"type": "content_block_delta", "index": 0, "delta": {
            "type": "text_delta", "text": "usage "}}, "content_block_delta")
            for _ in range(t["chunks"])]
        events += [sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": tout}}, "message_delta"),
                   sse({"type": "message_stop"}, "message_stop")]
        return 200, stream, events, body
    usage = {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout,
             "prompt_tokens_details": {"cached_tokens": cached},
             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    body = {"id": "c1", "object": "chat.completion", "model": model, "choices": [{
        "index": 0, "message": {"role": "assistant", "content": "model " * t["chunks"]},
        "finish_reason": "stop"}], "usage": usage}
    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": model}
    events = [sse(dict(chunk, choices=[{"index": 0, "delta": {"content": "usage "},
                                        "finish_reason": None}]))
              for _ in range(t["chunks"])]
    events.append(sse(dict(chunk, choices=[{"index": 0, "delta": {},
                                            "finish_reason": "stop"}])))
    if t.get("usage"):
        events.append(sse(dict(chunk, choices=[], usage=usage)))
    events.append(sse("[DONE]"))
    return 200, stream, events, body


def body(n):
    return (b"0123456789abcdef" * (n // 16 + 1))[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aet-httpd"

    def log_message(self, *args):
        pass

    # -- what came --

    def _request(self):
        """Reads the request body; logs the request. Returns (path, query, body)."""
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        self.server.note({"method": self.command, "target": self.path, "path": url.path,
                          "host": self.headers.get("Host"),
                          "traceparent": self.headers.get("traceparent"),
                          "client": self.headers.get("X-AET-Client"),
                          "tls": self.server.context is not None, "body": len(data),
                          "peer": self.client_address[1], "time": time.time()})
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        return url.path, query, data

    def _handle(self):
        path, q, data = self._request()
        head = self.command == "HEAD"
        if path == "/echo" and self.command == "POST":
            return self._answer(200, data)
        if path in MODEL_PATHS and self.command == "POST":
            return self._model(path, json.loads(data))
        if path in ("/ok", "/big"):
            n = int(q.get("n", OK_SIZE if path == "/ok" else BIG))
            return self._answer(200, body(n), head=head, one=path == "/big")
        if path in ERRORS:
            code, n = ERRORS[path]
            return self._answer(code, body(int(q.get("n", n))), head=head)
        if path == "/chunked":
            sizes = [int(s) for s in q["sizes"].split(",")] if "sizes" in q else CHUNKS
            return self._chunked(sizes)
        if path == "/close":
            return self._close_delimited(int(q.get("n", OK_SIZE)))
        if path == "/reset":
            self._write(PARTIAL_HEAD)
            return self._reset()
        if path in ("/reset-body", "/truncated"):
            length, sent = int(q["length"]), int(q["sent"])
            self._head(200, {"Content-Length": length})
            self._write(body(sent))
            return self._reset() if path == "/reset-body" else self._end()
        self._answer(404, body(ERRORS["/notfound"][1]))

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PURGE = do_OPTIONS = _handle

    # -- what goes --

    def _write(self, data):
        self.wfile.write(data)

    def _head(self, code, headers):
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()  # one write of the whole head

    def _answer(self, code, data, head=False, one=False):
        """one: the head and the body in a single write."""
        if one and not head:
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self._headers_buffer.append(b"\r\n")
            self._write(b"".join(self._headers_buffer) + data)
            self._headers_buffer = []
            return
        self._head(code, {"Content-Length": len(data)})
        if not head:
            self._write(data)

    def _trickle(self, *pieces):
        for p in pieces:
            if p:
                self._write(p)
                time.sleep(TRICKLE_S)

    def _chunked(self, sizes):
        self._head(200, {"Transfer-Encoding": "chunked"})
        for i, n in enumerate(sizes):
            size = b"%x\r\n" % n
            data = body(n)
            if i % 2 == 0:  # the size line cut in two, the data in two
                self._trickle(size[:1], size[1:] + data[:n // 2], data[n // 2:] + b"\r\n")
            else:  # the size line with the end of the data before it
                self._trickle(size + data[:-1] if n else size, data[-1:] + b"\r\n")
        self._trickle(b"0\r\n", b"\r\n")

    def _close_delimited(self, n):
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        data = body(n)
        third = n // 3
        self._trickle(data[:third], data[third:2 * third], data[2 * third:])
        self._end()

    def _model(self, path, req):
        """A model API's answer (model_answer()): a JSON body, gzip'd or not,
        or an event stream, one chunk an event; cut: half of the events, then
        a reset; delay: none, the connection closed after that many seconds."""
        t = req["aet_test"]
        if t.get("delay"):  # no answer before the client's timeout: then none
            time.sleep(t["delay"])
            self.close_connection = True
            return
        code, stream, events, obj = model_answer(path, req)
        if code != 200 or not stream:
            data = json.dumps(obj).encode()
            headers = {"Content-Type": "application/json"}
            if t.get("gzip"):
                data = gzip.compress(data)
                headers["Content-Encoding"] = "gzip"
            headers["Content-Length"] = len(data)
            self._head(code, headers)
            return self._write(data)
        self._head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"})
        if t.get("cut"):
            events = events[:len(events) // 2]
        for e in events:
            data = e.encode()
            self._write(b"%x\r\n%s\r\n" % (len(data), data))
        if t.get("cut"):
            return self._reset()
        self._write(b"0\r\n\r\n")

    def _end(self):
        """A clean end of the connection: TLS's close_notify, then a FIN."""
        self.close_connection = True
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            # close_notify, and the FIN right after it: not waiting for the
            # client's close_notify, which would hold the FIN back.
            conn.setblocking(False)
            try:
                conn.unwrap()
            except (OSError, ValueError):
                pass
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _reset(self):
        """A reset: what was written is read first, then SO_LINGER {1, 0}
        and the descriptor closed (detached: no object uses its number)."""
        time.sleep(RESET_PAUSE_S)
        self.close_connection = True
        conn = self.connection
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        os.close(conn.detach())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, context, log):
        self.context = context
        self.log = log
        self.log_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)

    def note(self, entry):
        with self.log_lock:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()

    def finish_request(self, request, client_address):
        """The TLS handshake in the connection's thread, not the accepting one."""
        conn = request
        try:
            if self.context:
                conn = self.context.wrap_socket(request, server_side=True)
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        # A client that went away, a handshake refused: not the tests' business.
        pass


def serve(cert, key, log_path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    log = open(log_path, "a") if log_path else open(os.devnull, "w")
    servers = [Server(None, log), Server(ctx, log)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("PORTS %d %d" % tuple(s.server_address[1] for s in servers), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sys.stdin.read()  # until the parent closes it, or dies


def make_cert(directory):
    """A self-signed certificate for localhost and 127.0.0.1, valid a day:
    (cert, key) paths in directory."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class Servers:
    """The servers, as a process of their own, for one test: plain_url
    (http://127.0.0.1:PORT), tls_url (https://localhost:PORT), cafile (the
    certificate the clients verify with), log() (what arrived)."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.cafile, key = make_cert(directory)
        self.log_path = os.path.join(directory, "httpd.log")
        self.err = open(os.path.join(directory, "httpd.err"), "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.abspath(__file__), "--cert", self.cafile,
             "--key", key, "--log", self.log_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORTS "), "httpd did not start: %r" % line
        self.plain_port, self.tls_port = map(int, line.split()[1:])
        self.plain_url = "http://127.0.0.1:%d" % self.plain_port
        self.tls_url = "https://localhost:%d" % self.tls_port

    def log(self):
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--log")
    args = p.parse_args()
    serve(args.cert, args.key, args.log)


if __name__ == "__main__":
    main()
