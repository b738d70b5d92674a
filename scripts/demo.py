#!/usr/bin/python3
"""make demo: the reference workload running in a loop, then the collector
attached to it, as a user attaches to an AET that has been running.

    make demo                          # serves on 127.0.0.1:9478
    make demo LISTEN=127.0.0.1:9500    # elsewhere

The workload (tests/workload/aet_workload.py --warm) works one round before
the collector comes: its knowledge base open, its statements prepared and
cached, files held open. The collector is started once that is done, and the
addresses are printed once it answers /ready. Ctrl-C stops both, removes the
work directory and exits 0; so do SIGTERM and SIGHUP. Any other end (the
port taken, the collector failing, the workload dying) removes everything
too and exits 1 with one line saying why.

Ctrl-C reaches only the demo's process group: the demo makes it the
terminal's foreground group, so that make, which started it, does not see
the interrupt and report an error; the terminal is handed back at exit.
Needs root (the collector loads BPF programs); stdlib only.
"""
import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTOR = os.environ.get("AET_COLLECTOR") or os.path.join(ROOT, "build", "aet-collector")
LIBRARY = os.path.join(ROOT, "build", "libaetprobe.so")
WORKLOAD = os.path.join(ROOT, "tests", "workload", "aet_workload.py")
PYTHON = "/usr/bin/python3"
# One warm round of 50 tasks at 50 a second: about a second of work before
# the attach, then rounds in a loop.
WORKLOAD_ARGS = ["--warm", "1", "--loop", "--tasks", "50", "--rate", "50", "--threads", "2"]
START_TIMEOUT = 60  # seconds for the warm round, and for the collector's /ready
STOP_TIMEOUT = 20  # seconds each process has to exit once told
PR_SET_PDEATHSIG = 1


class Stop(Exception):
    """SIGINT, SIGTERM or SIGHUP: the user stops the demo."""


class Failed(Exception):
    """The demo cannot go on; the message says why."""


def on_signal(signum, frame):
    raise Stop()


def die_with_parent():
    """In a child before exec: SIGTERM when the demo dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Terminal:
    """Makes the demo's process group the terminal's foreground one (Ctrl-C
    then reaches the demo and its children, not make), and gives it back."""

    def __init__(self):
        self.fd = None
        self.pgrp = None
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return  # no terminal: nothing to take
        try:
            pgrp = os.tcgetpgrp(fd)
            if pgrp != os.getpgrp():  # started in the background: leave it be
                os.close(fd)
                return
            os.setpgid(0, 0)
            self._set(fd, os.getpgrp())
        except OSError:
            os.close(fd)
            return
        self.fd, self.pgrp = fd, pgrp

    @staticmethod
    def _set(fd, pgrp):
        # A background group asking for the terminal gets SIGTTOU.
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(fd, pgrp)
        finally:
            signal.signal(signal.SIGTTOU, old)

    def restore(self):
        if self.fd is None:
            return
        try:
            self._set(self.fd, self.pgrp)
        except OSError:
            pass  # make is gone: nobody to hand it to
        os.close(self.fd)
        self.fd = None


def check_port(listen):
    """Fails at once when ADDR:PORT cannot be bound (taken, or no such address)."""
    host, _, port = listen.rpartition(":")
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    try:
        port = int(port)
        with socket.socket(family) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host.strip("[]"), port))
    except (ValueError, OSError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else "not ADDR:PORT"
        raise Failed("cannot serve on %s: %s: choose another with make demo LISTEN=ADDR:PORT"
                     % (listen, why.lower()))


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Demo:
    def __init__(self, listen):
        self.listen = listen
        self.url = "http://" + listen
        self.dir = None
        self.workload = None
        self.collector = None

    def run(self):
        check_port(self.listen)
        for path, what in ((COLLECTOR, "the collector"), (LIBRARY, "the probe library")):
            if not os.access(path, os.R_OK):
                raise Failed("%s is not built (%s): run make demo, which builds it" % (what, path))
        self.dir = tempfile.mkdtemp(prefix="aet-demo.")
        pid = self.start_workload()
        self.start_collector(pid)
        self.tell(pid)
        while True:
            for name, p in (("the collector", self.collector), ("the workload", self.workload)):
                if p.poll() is not None:
                    raise Failed("%s exited with status %d%s" % (
                        name, p.returncode, self.log_hint(p)))
            time.sleep(0.2)

    def start_workload(self):
        """Starts the workload, lets it warm up, tells it to loop; its pid."""
        log = open(os.path.join(self.dir, "workload.log"), "w")
        self.workload = subprocess.Popen(
            [PYTHON, WORKLOAD, "--dir", os.path.join(self.dir, "work"), *WORKLOAD_ARGS],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            env=dict(os.environ, AETPROBE_LIBRARY=LIBRARY), preexec_fn=die_with_parent)
        log.close()
        print("demo: the reference workload runs a round before the collector comes ...",
              flush=True)
        line = self.workload.stdout.readline()
        if not line.startswith("WARM "):
            self.workload.wait()
            raise Failed("the workload did not start (status %s)%s" % (
                self.workload.returncode, self.log_hint(self.workload)))
        self.workload.stdin.write("go\n")
        self.workload.stdin.flush()
        return int(line.split()[1])

    def start_collector(self, pid):
        """Attaches the collector to pid and waits until /ready answers 200."""
        self.collector = subprocess.Popen(
            [COLLECTOR, "--pid", str(pid), "--listen", self.listen, "--file-root", self.dir],
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.collector.poll() is not None:
                raise Failed("the collector exited with status %d (its message is above)"
                             % self.collector.returncode)
            try:
                if get(self.url + "/ready") == 200:
                    return
            except OSError:
                pass  # not serving yet
            time.sleep(0.1)
        raise Failed("the collector was not ready in %d s: %s/ready says why"
                     % (START_TIMEOUT, self.url))

    def tell(self, pid):
        print("""
aet-collector is attached to the reference workload (pid %(pid)d), which was
already running: its SQL statements were prepared before the attach.

  Scrape:     curl -s %(url)s/metrics
  Look at:    aet_tasks_total and aet_task_duration_seconds (tasks by agent, mode, status)
              aet_db_operations_total (SQL executions by verb: select, insert, ...)
              aet_file_operations_total (the workload's files under %(dir)s)
              aet_collector_probe_attached (what is attached), /status (why)
  Dashboards: dashboards/aet-system-overview.json and the others beside it
              (Grafana: Dashboards > Import; point Prometheus at %(url)s/metrics)
  Spans:      OTEL_EXPORTER_CONSOLE=true make demo prints them as JSON lines
  Stop:       Ctrl-C stops both and removes %(dir)s
""" % {"pid": pid, "url": self.url, "dir": self.dir}, flush=True)

    def log_hint(self, p):
        if p is self.workload and self.dir:
            path = os.path.join(self.dir, "workload.log")
            try:
                with open(path) as f:
                    last = f.read().strip().splitlines()[-1:]
            except OSError:
                last = []
            return ": %s" % last[0] if last else ""
        return ""

    def cleanup(self):
        """Stops the collector (it detaches) and the workload, removes the
        work directory. Runs on every path."""
        for p in (self.collector, self.workload):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (self.collector, self.workload):
            if not p:
                continue
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description="make demo: the collector on the reference workload")
    p.add_argument("--listen", default="127.0.0.1:9478", metavar="ADDR:PORT")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("demo: the collector loads BPF programs: run make demo as root", file=sys.stderr)
        return 1
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    terminal = Terminal()
    demo = Demo(args.listen)
    status = 0
    try:
        demo.run()
    except Stop:
        print("\ndemo: stopping", flush=True)
    except Failed as e:
        print("demo: %s" % e, file=sys.stderr, flush=True)
        status = 1
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        demo.cleanup()
        terminal.restore()
    return status


if __name__ == "__main__":
    sys.exit(main())
