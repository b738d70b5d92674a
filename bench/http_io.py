"""An HTTP(S) request of a followed process: what one small request made
with http.client costs the client, nothing attached, with empty programs
on the points the http family uses (bench-floor-http, attached to the
client's pid), and under each collector given (attached to the client's
pid, metrics only), side by side, alternately, ROUNDS rounds.

    /usr/bin/python3 bench/http_io.py ROUNDS "A: COLLECTOR [OPTION...]" ["B: ..."]

For instance the family against the same collector without it:
    bench/http_io.py 7 "collector: build/aet-collector --disable sqlite,files" \\
        "detached: build/aet-collector --disable sqlite,files,http"

A server process (CPU 0, with the collector) answers HTTP on 127.0.0.1 and
HTTPS on localhost (a certificate made at run time); the client (CPU 1,
the probe library preloaded: the collector's probes family needs it) POSTs
64 bytes and reads a 256-byte answer, REQUESTS times on one kept-alive
connection and REQUESTS / 10 times on a new connection each, over HTTP and
HTTPS; and, apart (the column SSL_free), calls SSL_free(NULL) REQUESTS * 10
times (ctypes): one probe hit a call, what the first instruction of an SSL
function costs to probe. A second client, not followed, does the same under each
configuration: what a process using libssl that is not followed pays.

Prints each configuration's median us per request (wall and the client's
CPU), what it adds over nothing attached, its ratio to the floor, and the
ratio of what it adds to what the floor adds (the goal: <= 1.3x; the
ratio of the two medians of per-round differences)."""
import http.client
import http.server
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(os.path.dirname(HERE), "build")
LIB = os.path.join(BUILD, "libaetprobe.so")
PYTHON = "/usr/bin/python3"
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "4000"))
KINDS = ("http", "https", "http-new", "https-new", "SSL_free")
BODY = b"{" + b"x" * 62 + b"}"
ANSWER = b"y" * 256
SSL_FUNCS = ("SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex", "SSL_shutdown", "SSL_free")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The answer in one write (flushed after do_POST), sent at once: its
    # head and body apart would wait for the client's delayed ACK (40 ms).
    wbufsize = 65536
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args):
        pass


def serve(cert, key, handler=Handler):
    """The server: HTTP and HTTPS, a thread per connection, each request
    answered by handler; prints its ports and serves until stdin ends."""
    import threading
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    for srv in (plain, tls):
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ports %d %d" % (plain.server_address[1], tls.server_address[1]), flush=True)
    sys.stdin.read()


def client(http_port, https_port, cafile):
    """The measured client: "KIND N" on stdin, N requests, prints
    "done WALL_US CPU_US" per request."""
    ctx = ssl.create_default_context(cafile=cafile)  # libssl mapped from here on
    print("pid %d" % os.getpid(), flush=True)

    def connect(kind):
        if kind.startswith("https"):
            return http.client.HTTPSConnection("localhost", https_port, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", http_port)

    def once(conn):
        conn.request("POST", "/v1/bench?q=1", body=BODY,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        if r.status != 200 or len(r.read()) != len(ANSWER):
            sys.exit("bench client: bad answer")

    import ctypes
    ssl_free = ctypes.CDLL("libssl.so.3").SSL_free  # the one _ssl maps
    ssl_free.argtypes = [ctypes.c_void_p]
    for line in sys.stdin:
        kind, n = line.split()
        n = int(n)
        if kind == "SSL_free":  # SSL_free(NULL): a probe hit and a return, nothing else
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                ssl_free(None)
            t1, c1 = time.perf_counter(), time.process_time()
            print("done %.3f %.3f" % ((t1 - t0) * 1e6 / n, (c1 - c0) * 1e6 / n), flush=True)
            continue
        conn = None
        if not kind.endswith("-new"):
            conn = connect(kind)
            once(conn)  # the connection (and handshake) outside the measure
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            if conn:
                once(conn)
            else:
                c = connect(kind)
                once(c)
                c.close()
        t1, c1 = time.perf_counter(), time.process_time()
        if conn:
            conn.close()
        print("done %.3f %.3f" % ((t1 - t0) * 1e6 / n, (c1 - c0) * 1e6 / n), flush=True)


def free_listen():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


def libssl_of(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if "/libssl.so.3" in line:
                return line.split(None, 5)[5].strip()
    sys.exit("bench: the client maps no libssl.so.3")


def first_instructions(lib):
    """Each SSL function's first instruction: a uprobe on a 5-byte NOP is
    optimized, any other instruction is emulated or stepped out of line."""
    syms = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                          check=True).stdout
    addr = {}
    for line in syms.splitlines():
        f = line.split()
        if len(f) == 3 and f[2].split("@")[0] in SSL_FUNCS:
            addr[f[2].split("@")[0]] = int(f[0], 16)
    out = []
    for fn in SSL_FUNCS:
        dis = subprocess.run(["objdump", "-d", "--start-address=%d" % addr[fn],
                              "--stop-address=%d" % (addr[fn] + 8), lib],
                             capture_output=True, text=True, check=True).stdout
        ins = next(line.split("\t")[2].strip() for line in dis.splitlines()
                   if line.strip().startswith("%x:" % addr[fn]))
        out.append("%s: %s" % (fn, " ".join(ins.split())))
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        return serve(*sys.argv[2:4])
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        return client(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if os.geteuid() != 0:
        sys.exit("bench: loads BPF programs: run as root")
    rounds = int(sys.argv[1])
    runs = [(a.split(":", 1)[0], a.split(":", 1)[1].split()) for a in sys.argv[2:]]
    sys.path.insert(0, HERE)
    import run as bench_run  # the machine facts, printed as make bench does
    print("aet-collector http bench, %s" % time.strftime("%Y-%m-%d %H:%M"))
    bench_run.machine_facts()
    tmp = tempfile.mkdtemp(prefix="aet-bench-http-")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    srv = subprocess.Popen(["taskset", "-c", "0", PYTHON, __file__, "--serve", cert, key],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ports = srv.stdout.readline().split()[1:]
    clients = {}
    for who in ("followed", "other"):
        c = subprocess.Popen(["taskset", "-c", "1", PYTHON, __file__, "--client", *ports, cert],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, LD_PRELOAD=LIB))
        clients[who] = (c, int(c.stdout.readline().split()[1]))
    pid = clients["followed"][1]
    lib = libssl_of(pid)
    print("  libssl: %s; first instructions:" % lib)
    print("    " + "; ".join(first_instructions(lib)))

    def run(who, kind, n):
        c = clients[who][0]
        c.stdin.write("%s %d\n" % (kind, n))
        c.stdin.flush()
        f = c.stdout.readline().split()
        return float(f[1]), float(f[2])

    def run_all():
        out = {}
        for who in ("followed", "other"):
            run(who, "https", 50)  # the first requests after an attach pay for it
            for kind in KINDS:
                out[who, kind] = run(who, kind, {"http-new": REQUESTS // 10,
                                                 "https-new": REQUESTS // 10,
                                                 "SSL_free": REQUESTS * 10}.get(kind, REQUESTS))
        return out

    counted = {}

    def attached(cmd, ready, name=None, listen=None):
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, AET_TRACING_ENABLED="false"))
        seen = ""
        for line in p.stdout if ready == "attached" else p.stderr:
            seen += line
            if ready in line:
                break
        else:
            sys.exit("%s did not attach: %s" % (" ".join(cmd), seen))
        v = run_all()
        if listen:  # what the collector counted: the family really observed them
            with urllib.request.urlopen("http://%s/metrics" % listen) as r:
                counted.setdefault(name, []).append(sum(
                    float(line.rsplit(None, 1)[1]) for line in r.read().decode().splitlines()
                    if line.startswith("aet_http_client_requests_total{")))
        if ready == "attached":
            p.stdin.close()
        else:
            p.terminate()
        p.wait()
        return v

    names = ["none", "floor"] + [name for name, _ in runs]
    res = {k: [] for k in names}
    run_all()
    for _ in range(rounds):
        res["none"].append(run_all())
        res["floor"].append(attached([os.path.join(BUILD, "bench-floor-http"), "--pid",
                                      str(pid)], "attached"))
        for name, cmd in runs:
            listen = free_listen()
            res[name].append(attached(["taskset", "-c", "0", *cmd, "--pid", str(pid),
                                       "--listen", listen], "attached to pid", name, listen))
    for c, _ in clients.values():
        c.stdin.close()
        c.wait()
    srv.stdin.close()
    srv.wait()
    for f in (cert, key):
        os.unlink(f)
    os.rmdir(tmp)

    def med(k, who, kind, i):
        return statistics.median(x[who, kind][i] for x in res[k])

    def added(k, who, kind, i):
        return statistics.median(x[who, kind][i] - n[who, kind][i]
                                 for n, x in zip(res["none"], res[k]))

    print("HTTP(S) requests, POST of %d bytes, answer of %d, us per request, median of %d "
          "rounds of %d (%d on a new connection each)"
          % (len(BODY), len(ANSWER), rounds, REQUESTS, REQUESTS // 10))
    for who, title in (("followed", "the followed client"),
                       ("other", "a client not followed (the others attached to the first)")):
        print(" %s" % title)
        for i, what in ((0, "wall"), (1, "client CPU")):
            print("  %-20s" % what + "".join("%11s" % k for k in KINDS))
            for k in names:
                print("  %-20s" % k + "".join("%11.1f" % med(k, who, kind, i)
                                               for kind in KINDS))
            print("  added over none (median of per-round differences)")
            for k in names[1:]:
                print("  %-20s" % k + "".join("%11.1f" % added(k, who, kind, i)
                                               for kind in KINDS))
            if who == "other":
                print("  / none (median of per-round ratios)")
                for k in names[1:]:
                    print("  %-20s" % k + "".join("%10.3fx" % statistics.median(
                        x[who, kind][i] / n[who, kind][i] for n, x in zip(res["none"], res[k]))
                        for kind in KINDS))
    print(" the followed client, against the floor (medians of per-round ratios)")
    for i, what in ((0, "wall"), (1, "client CPU")):
        for name, _ in runs:
            print("  %-20s" % ("%s, %s" % (name, what)) + "".join("%10.3fx" % statistics.median(
                x["followed", kind][i] / f["followed", kind][i]
                for f, x in zip(res["floor"], res[name])) for kind in KINDS) + "   / floor")
            # The added costs are tens of us against a noise of as much
            # some rounds: a per-round ratio of them can divide by ~0.
            print("  %-20s" % "" + "".join("%10.3fx" % (
                added(name, "followed", kind, i) / added("floor", "followed", kind, i))
                for kind in KINDS) + "   added / floor's added (goal <= 1.3x)")
    # run_all()'s requests: 50 + 1 to warm, then 1 + REQUESTS on each kept-alive connection
    made = 51 + 2 * (1 + REQUESTS) + 2 * (REQUESTS // 10)
    for name, _ in runs:
        print("  %-20s counted %s of the %d requests of a round (aet_http_client_requests_total)"
              % (name, " ".join("%d" % c for c in counted[name]), made))
    if len(runs) == 2:
        (a, _), (b, _) = runs
        for i, what in ((0, "wall"), (1, "client CPU")):
            print("  %-20s" % ("%s / %s, %s" % (a, b, what)) + "".join(
                "%10.3fx" % statistics.median(x["followed", kind][i] / y["followed", kind][i]
                                              for x, y in zip(res[a], res[b])) for kind in KINDS))


if __name__ == "__main__":
    main()
