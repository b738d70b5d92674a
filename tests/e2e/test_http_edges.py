"""The http family at its edges: a libssl replaced on disk under the running
target (an OpenSSL update), and HTTP/2, counted as connections and bytes
only. Each target is a small script of its own, with the probe library
preloaded, that waits for the collector before it calls."""
import json
import os
import shutil
import socket
import subprocess
import threading

from harness import LIBRARY, PYTHON, by_labels, parse_exposition, python_library
from httpd import Servers

REPLACED = r'''
import os, ssl, sys, urllib.request
lib, tls_url, cafile, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=cafile)
os.unlink(lib)  # what a package upgrade does to the file the process mapped
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
for i in range(n):
    urllib.request.urlopen(tls_url + "/ok", context=ctx).read()
print("DONE", flush=True)
sys.stdin.readline()
'''

H2 = r'''
import os, socket, sys
port = int(sys.argv[1])
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"x" * 100)
got = b""
while len(got) < 50:
    got += s.recv(50 - len(got))
s.close()
print("DONE", flush=True)
sys.stdin.readline()
'''


class Script:
    """A target running one of the scripts above: started, READY read."""

    def __init__(self, code, *args, env=None):
        self.proc = subprocess.Popen([PYTHON, "-c", code, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ, LD_PRELOAD=LIBRARY, **(env or {})))
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), line
        self.pid = self.proc.pid

    def run(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "DONE"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def status(col):
    return json.loads(col.get("/status")[2])["http"]


def test_libssl_replaced_on_disk_is_still_observed(start, tmp_path):
    libdir = tmp_path / "lib"
    libdir.mkdir()
    system = python_library("ssl", "libssl.so")
    copy = libdir / os.path.basename(system)
    shutil.copy(system, copy)
    servers = Servers(str(tmp_path / "httpd"))
    try:
        target = Script(REPLACED, str(copy), servers.tls_url, servers.cafile, "9",
                        env={"LD_LIBRARY_PATH": str(libdir)})
        start.stops.append(target.kill)
        with open("/proc/%d/maps" % target.pid) as f:
            assert "%s (deleted)" % copy in f.read()
        col = start.collector(target.pid)
        st = status(col)
        assert st["deleted"] is True and "/map_files/" in st["tls_library"], st
        assert st["attached"] == st["programs"] == 19, st
        target.run()
        s, _ = parse_exposition(col.metrics())
        got = {tuple(sorted(dict(k).items())): v
               for k, v in by_labels(s, "aet_http_client_requests_total").items()}
        assert got == {(("error_type", ""), ("method", "GET"), ("server_address", "localhost"),
                        ("status_code", "200")): 9}, got
    finally:
        servers.stop()


def test_http2_is_counted_as_connections_and_bytes(start):
    """A connection whose first bytes are HTTP/2's preface: one connection
    and its bytes, no request."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve():  # in the test's process, which is not followed
        conn, _ = srv.accept()
        got = b""
        while len(got) < 124:
            got += conn.recv(124 - len(got))
        conn.sendall(b"y" * 50)
        conn.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        target = Script(H2, str(port))
        start.stops.append(target.kill)
        col = start.collector(target.pid)
        target.run()
        s, _ = parse_exposition(col.metrics())
        assert by_labels(s, "aet_http_client_h2_connections_total") == {frozenset(): 1}
        assert by_labels(s, "aet_http_client_h2_bytes_total") == {frozenset(): 24 + 100 + 50}
        assert not any(by_labels(s, "aet_http_client_requests_total").values())
        assert status(col)["h2_connections"] == 1
    finally:
        srv.close()
        server.join(5)

