"""make demo, as a new user runs it: in a terminal, stopped with Ctrl-C.

Ctrl-C is a 0x03 written to the terminal (a pty here), which the kernel
turns into SIGINT for the terminal's foreground process group, as a real
one does. Every path must leave nothing behind: no /tmp/aet-demo.*
directory, no workload or collector process, no BPF program.
"""
import glob
import os
import pty
import select
import socket
import subprocess
import time
import urllib.error
import urllib.request

from harness import ROOT, by_labels, free_port, parse_exposition, programs_left, programs_of, \
    wait_until

START_S = 120  # make's up-to-date check, the warm round, the collector's load
VERBS = ("select", "insert", "update", "delete", "begin", "commit", "rollback")


def demo_dirs():
    return set(glob.glob("/tmp/aet-demo.*"))


def pids_with(text):
    """Pids of the processes whose command line holds text."""
    found = set()
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.add(int(d[6:]))
        except OSError:
            pass
    return found - {os.getpid()}


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Terminal:
    """make demo in a new session on a pty, as a shell runs a command."""

    def __init__(self, *args, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(ROOT)
            if env:
                os.environ.update(env)
            os.execvp("make", ["make", "-s", "--no-print-directory", "demo", *args])
        self.out = b""
        self.status = None

    def read(self, timeout=0.1):
        """Takes what make demo printed within timeout; False once every
        writer has closed the terminal (EIO)."""
        if select.select([self.fd], [], [], timeout)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return False
            self.out += chunk
            return bool(chunk)
        return True

    def text(self):
        return self.out.decode(errors="replace")

    def wait_for(self, needle, timeout=START_S):
        def seen():
            alive = self.read()
            if needle in self.text():
                return True
            assert alive, "make demo ended before printing %r:\n%s" % (needle, self.text())
            return False
        wait_until(seen, "make demo to print %r" % needle, timeout, interval=0)

    def ctrl_c(self):
        os.write(self.fd, b"\x03")

    def wait(self, timeout=60):
        deadline = time.monotonic() + timeout
        while self.status is None:
            self.read()
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
            elif time.monotonic() > deadline:
                os.kill(self.pid, 9)
                raise AssertionError("make demo still running %d s after Ctrl-C:\n%s"
                                     % (timeout, self.text()))
        while select.select([self.fd], [], [], 0)[0] and self.read(0):
            pass
        os.close(self.fd)
        return self.status


def test_ctrl_c_exits_0_and_leaves_nothing():
    before = demo_dirs()
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    term = Terminal("LISTEN=127.0.0.1:%d" % port)
    try:
        term.wait_for("Ctrl-C stops both")
        # Printed only once ready: /ready is 200 at once.
        assert get(url + "/ready")[0] == 200
        made = demo_dirs() - before
        assert len(made) == 1, made
        work = made.pop()
        assert work in term.text()
        collector = pids_with("--file-root\0%s" % work)
        workload = pids_with("--dir\0%s/work" % work)
        assert len(collector) == 1 and len(workload) == 1, (collector, workload)
        loaded = programs_of(collector.copy().pop())
        assert loaded

        # Attached late, the statements prepared before: real verbs.
        def verbs():
            samples, _ = parse_exposition(get(url + "/metrics")[1])
            ops = {dict(k)["operation"] for k, v in
                   by_labels(samples, "aet_db_operations_total").items() if v}
            tasks = sum(by_labels(samples, "aet_tasks_total").values())
            return tasks and set(VERBS) <= ops and ops
        wait_until(verbs, "the demo's SQL verbs in /metrics", 60)
    finally:
        term.ctrl_c()
        status = term.wait()
    out = term.text()
    assert status == 0, out
    assert "Error" not in out and "***" not in out, out
    assert demo_dirs() - before == set()
    wait_until(lambda: not pids_with(work), "the demo's processes to exit", 20)
    assert programs_left(loaded) == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "still serving"


def run_demo(*args, env=None, timeout=START_S):
    return subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "demo", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_port_taken_is_said_at_once():
    before = demo_dirs()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        r = run_demo("LISTEN=127.0.0.1:%d" % port)
        took = time.monotonic() - t0
    assert r.returncode != 0
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("demo: ")]
    assert len(line) == 1, r.stderr
    assert "cannot serve on 127.0.0.1:%d: address already in use" % port in line[0]
    assert "make demo LISTEN=ADDR:PORT" in line[0]
    assert "workload" not in r.stdout, "the workload was started: %s" % r.stdout
    assert demo_dirs() - before == set()
    print("port taken: make demo exited %d in %.2f s" % (r.returncode, took))


def test_collector_failure_leaves_nothing():
    # An invalid variable: the collector refuses to start (exit 2).
    before = demo_dirs()
    r = run_demo("LISTEN=127.0.0.1:%d" % free_port(), env={"AET_METRICS_ENABLED": "maybe"})
    assert r.returncode != 0
    assert "AET_METRICS_ENABLED" in r.stderr
    assert "demo: the collector exited with status 2" in r.stderr, r.stderr
    assert demo_dirs() - before == set()
    assert not pids_with("/tmp/aet-demo."), "a process of the demo is left"


def test_not_built_leaves_nothing():
    # What the demo finds when the build did not make the collector.
    before = demo_dirs()
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "demo.py"),
                        "--listen", "127.0.0.1:%d" % free_port()], capture_output=True,
                       text=True, timeout=30,
                       env=dict(os.environ, AET_COLLECTOR="/nonexistent/aet-collector"))
    assert r.returncode == 1
    assert r.stderr.strip() == ("demo: the collector is not built (/nonexistent/aet-collector): "
                                "run make demo, which builds it")
    assert demo_dirs() - before == set()
