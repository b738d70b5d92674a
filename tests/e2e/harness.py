"""Drives the real collector against the real reference workload.

Everything here runs real processes: build/aet-collector loads its BPF
programs into the running kernel, attaches to the workload's PID, and is
scraped over HTTP.
"""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
# AET_COLLECTOR: another build of the collector to test (make test-asan).
COLLECTOR = os.environ.get("AET_COLLECTOR") or os.path.join(BUILD, "aet-collector")
# AET_SANITIZED=1: that build runs under AddressSanitizer, whose shadow
# memory and quarantine of freed blocks (256 MiB) make its RSS say nothing
# of the collector's own: the tests skip their memory bounds.
SANITIZED = bool(os.environ.get("AET_SANITIZED"))
# AET_BPF_BUILD=compat: the collector loads the BPF build for kernels 5.8
# to 5.11 (make test-compat), as auto would there.
BPF_BUILD = ["--bpf-build", os.environ["AET_BPF_BUILD"]] if os.environ.get("AET_BPF_BUILD") else []
LIBRARY = os.path.join(BUILD, "libaetprobe.so")
WORKLOAD = os.path.join(ROOT, "tests", "workload", "aet_workload.py")
PYTHON = "/usr/bin/python3"  # Debian's interpreter: the reference one

STATUSES = ("success", "failure", "timeout", "cancelled")
LABEL_MAX = 63
# How long a wait for something that takes milliseconds on an idle machine
# may last before it is a failure: generous, since the machines that run
# these are shared and loaded (make test-load).
WAIT_S = 30
# How long the collector may take to load, verify and attach its programs:
# about 3 s on this 2-vCPU VM with other work on it, up to 12.5 s measured
# beside make test-load's hogs.
START_S = 60


def require_root():
    """BPF needs root. In CI a missing privilege is a failure, elsewhere a loud skip."""
    import pytest

    if os.geteuid() == 0:
        return
    reason = "end-to-end tests load BPF programs and need root"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip("SKIPPED LOUDLY: " + reason)


# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print
# when they find something (build/asan/aet-collector): a test whose
# collector printed one fails, whatever its exit status.
_SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: |SUMMARY: \w+Sanitizer")


def sanitizer_report(stderr):
    """The sanitizer report in a collector's stderr, or None."""
    m = _SANITIZER_REPORT.search(stderr or "")
    if not m:
        return None
    start = stderr.rfind("\n", 0, max(0, m.start() - 200)) + 1
    return stderr[start:start + 6000]


def check_sanitizers(stderr):
    report = sanitizer_report(stderr)
    assert report is None, "sanitizer report from the collector:\n" + report


def wait_until(cond, what, timeout=WAIT_S, interval=0.05):
    """Polls cond() until it returns a true value, and returns that value;
    fails after timeout seconds, saying what did not happen. A test waits
    for what it needs with this, never with a sleep that stands for it."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %g s waiting for: %s" % (timeout, what))
        time.sleep(interval)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def python_library(module, name):
    """The file of library name (as mapped() matches it) that Python maps
    once it imports module: the one to copy, replace or compare with."""
    out = subprocess.run([PYTHON, "-c", "import %s; print(open('/proc/self/maps').read())"
                          % module], capture_output=True, text=True, check=True).stdout
    return next(line.split()[-1] for line in out.splitlines()
                if os.path.basename(line.split()[-1]).startswith(name + "."))


def mapped(pid, name):
    """Whether process pid maps a file named name, or name + ".xxx" (as the
    collector looks for it in /proc/PID/maps)."""
    for line in _read("/proc/%d/maps" % pid).splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6:
            continue
        base = fields[5].removesuffix(" (deleted)").rsplit("/", 1)[-1]
        if base == name or base.startswith(name + "."):
            return True
    return False


def wait_loaded(pid, library, comm, timeout=WAIT_S):
    """Waits until process pid runs comm (its last exec done: setpriv, say,
    execs the command it wraps) and the dynamic loader has mapped library
    in it, by /proc/PID/comm and /proc/PID/maps."""
    def loaded():
        stat = _read("/proc/%d/stat" % pid)
        if not stat or stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            raise AssertionError("process %d exited before it loaded %s" % (pid, library))
        # comm first: once it is comm's, the maps read after it are too
        return _read("/proc/%d/comm" % pid).strip() == comm and mapped(pid, library)
    wait_until(loaded, "process %d (%s) to map %s" % (pid, comm, library), timeout)


def fd_links(pid):
    """{descriptor: what it refers to} of process pid, as /proc/PID/fd's
    links read (one closed between the listing and its readlink is left
    out)."""
    fds, out = "/proc/%d/fd" % pid, {}
    for fd in os.listdir(fds):
        try:
            out[int(fd)] = os.readlink(os.path.join(fds, fd))
        except FileNotFoundError:
            continue
    return out


def fdinfo(pid):
    """The /proc/PID/fdinfo of each descriptor pid holds, as dicts of
    stripped strings (one closed meanwhile is left out)."""
    for fd in os.listdir("/proc/%d/fdinfo" % pid):
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                yield {k: v.strip() for k, v in (line.split(":", 1) for line in f if ":" in line)}
        except OSError:
            continue


def map_memlock(pid):
    """{map id: memlock bytes} of the BPF maps pid holds, each once."""
    return {int(i["map_id"]): int(i.get("memlock", "0")) for i in fdinfo(pid) if "map_id" in i}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_label(value):
    """What the collector must print for a raw label value (see user/expo.h)."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    raw = raw.split(b"\0", 1)[0][:LABEL_MAX]
    if len(raw) == LABEL_MAX:
        raw = _drop_cut_sequence(raw)
    out = []
    i = 0
    while i < len(raw):
        n = _utf8_len(raw, i)
        if n:
            out.append(raw[i:i + n].decode("utf-8"))
            i += n
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def labels(**kw):
    """A sample's label set as by_labels() keys it, from raw label values."""
    return frozenset((k, render_label(v)) for k, v in kw.items())


def _utf8_len(raw, i):
    """Length of the valid UTF-8 sequence at raw[i], or 0."""
    for n in (1, 2, 3, 4):
        try:
            raw[i:i + n].decode("utf-8")
            return n
        except UnicodeDecodeError:
            continue
    return 0


def _drop_cut_sequence(raw):
    """Drops a multi-byte sequence that the 63-byte bound cut short."""
    for back in (1, 2, 3):
        if len(raw) < back:
            break
        lead = raw[-back]
        if lead & 0xC0 == 0x80:
            continue  # a continuation byte: look further back
        need = 2 if lead & 0xE0 == 0xC0 else 3 if lead & 0xF0 == 0xE0 else \
            4 if lead & 0xF8 == 0xF0 else 1
        return raw[:-back] if need > back else raw
    return raw


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def _unescape(s):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], s)


def parse_exposition(text):
    """Returns ({(name, frozenset(labels)): value}, {family: type})."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "unparseable exposition line: %r" % line
        labels = {}
        if m.group(3):
            pos = 0
            body = m.group(3)
            while pos < len(body):
                lm = _LABEL.match(body, pos)
                assert lm, "bad labels in %r" % line
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
        key = (m.group(1), frozenset(labels.items()))
        assert key not in samples, "duplicate series %r" % line
        samples[key] = float(m.group(4))
    return samples, types


def select(samples, name, **labels):
    """The samples of one metric name whose labels include labels."""
    want = set(labels.items())
    return {dict(k[1]).__repr__(): v for k, v in samples.items()
            if k[0] == name and want <= k[1]}


def by_labels(samples, name):
    """{frozenset(labels): value} of one metric name."""
    return {k[1]: v for k, v in samples.items() if k[0] == name}


class Workload:
    """The reference workload, started and held until go()."""

    def __init__(self, tmp_path, *args, user=None, env=None, python=PYTHON, suffix=""):
        """python: the interpreter (a link to it, to give the process another
        name); suffix: of the truth file and work directory, for several."""
        self.truth_path = os.path.join(str(tmp_path), "truth%s.json" % suffix)
        cmd = [python, WORKLOAD, "--wait", "--truth", self.truth_path,
               "--dir", os.path.join(str(tmp_path), "work" + suffix), *args]
        e = dict(os.environ, AETPROBE_LIBRARY=LIBRARY)
        e.update(env or {})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=e, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), "workload did not start: %r %s" % (
            line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.pid = int(line.split()[1])

    def go(self, timeout=120):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        _, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, "workload failed: %s" % err
        with open(self.truth_path) as f:
            return json.load(f)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class Collector:
    """build/aet-collector attached to a pid (None: follow mode, args say
    --comm or --exe), serving on a free port."""

    def __init__(self, pid, *args, wrap=(), env=None, stdout=subprocess.PIPE, wait_ready=True):
        """wrap: a command the collector runs under (unshare, setpriv, ...).
        env: variables to set in its environment (None: to remove).
        stdout: where its standard output goes (a file, for much output).
        wait_ready: False to return once it answers at all (started disabled)."""
        self.stopped = None
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        e = dict(os.environ)
        for name, value in (env or {}).items():
            if value is None:
                e.pop(name, None)
            else:
                e[name] = value
        # A test that names its build keeps it; the others take the run's.
        build = [] if "--bpf-build" in args else BPF_BUILD
        self.proc = subprocess.Popen(
            [*wrap, COLLECTOR, *(["--pid", str(pid)] if pid else []),
             "--listen", "127.0.0.1:%d" % self.port, *build, *args],
            stdout=stdout, stderr=subprocess.PIPE, text=True, env=e)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("collector exited %d: %s" % (
                    self.proc.returncode, self.proc.stderr.read()))
            try:
                return self.get("/ready")[0] == 200 or not wait_ready and self.get("/health")[0]
            except OSError:
                return False
        wait_until(up, "the collector ready (/ready 200)" if wait_ready else
                   "the collector answering", START_S)

    def get(self, path, method="GET", headers=None):
        """Returns (status, headers, body bytes); HTTP errors are answers too."""
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def metrics(self):
        status, headers, body = self.get("/metrics")
        assert status == 200, body
        return body.decode("utf-8")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the collector (once); returns (exit status, stderr). Fails
        when its stderr holds a sanitizer report, or when it has not exited
        timeout seconds after sig (then it is killed)."""
        if self.stopped is None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                _, err = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _, err = self.proc.communicate()
                self.stopped = (None, err)
                raise AssertionError("collector still running %d s after signal %d: %s"
                                     % (timeout, sig, err))
            self.stopped = (self.proc.returncode, err)
            check_sanitizers(err)
        return self.stopped


def heartbeat(col):
    """When the collector's main loop last ticked, on this host's
    CLOCK_MONOTONIC (time.monotonic()): (earliest, latest) it can have been,
    from /health's last_tick_seconds_ago (to the millisecond) and the times
    the request was sent and answered."""
    t0 = time.monotonic()
    body = col.get("/health")[2]
    t1 = time.monotonic()
    ago = json.loads(body)["last_tick_seconds_ago"]
    return t0 - ago - 0.001, t1 - ago + 0.001


def wait_ticks(col, n=1, after=None, timeout=WAIT_S):
    """Waits until n whole ticks of the collector's main loop (every second:
    the target sampled, its CPU and memory, dead begins expired; also after
    each switch) have run after the time after (time.monotonic(); default
    now). /status has no tick counter: a tick is seen by the heartbeat of
    /health, and a tick began after `after` when the one before it ended
    after it, so n whole ticks are n + 1 heartbeats."""
    after = time.monotonic() if after is None else after
    seen = []  # (earliest, latest) of each heartbeat seen after `after`

    def ticked():
        earliest, latest = heartbeat(col)
        if earliest > after and (not seen or earliest > seen[-1][1]):
            seen.append((earliest, latest))
        return len(seen) > n
    wait_until(ticked, "%d whole tick(s) of the collector's main loop" % n, timeout)


def attached_programs(col):
    """How many programs the collector says it attached (/status): the
    probes, the process programs, the file programs, SQLite's, HTTP's,
    Python's, the custom metrics'."""
    st = json.loads(col.get("/status")[2])
    return (sum(p["attached"] for p in st["probes"]) + st["processes"]["attached"] +
            st["files"]["attached"] + sum(p["attached"] for p in st["sqlite"]["probes"]) +
            st["http"]["attached"] + st["python"]["attached"] + st["custom"]["attached"])


def run_collector(*args, timeout=30, **kw):
    """Runs the collector expecting it to exit; returns CompletedProcess."""
    r = subprocess.run([COLLECTOR, *args], capture_output=True, text=True,
                       timeout=timeout, **kw)
    check_sanitizers(r.stderr)
    return r


PROGRAM_NAMES = {"cycle_begin", "cycle_end", "task_begin", "task_end", "agent_begin",
                 "agent_end", "event", "span_begin", "span_end", "trace_context", "prepare_v2", "prepare_v2_ret", "prepare_v3",
                 "prepare_v3_ret", "step", "step_ret", "reset", "finalize", "gc_start",
                 "gc_done"}


def our_programs():
    """{id: name} of the BPF programs with this project's names now loaded."""
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True,
                         text=True, check=True).stdout

    def ours(name):
        return name in PROGRAM_NAMES or name.startswith(("enter_", "exit_", "follow_"))
    return {p["id"]: p["name"] for p in json.loads(out) if ours(p.get("name", ""))}


def programs_of(pid):
    """Ids of the BPF programs process pid has attached (its perf events:
    uprobes and tracepoints). Unlike a difference of our_programs(), blind
    to another collector started meanwhile on the same host."""
    out = subprocess.run(["bpftool", "perf", "show", "--json"], capture_output=True,
                         text=True, check=True).stdout
    return {e["prog_id"] for e in json.loads(out or "[]") if e.get("pid") == pid}


def programs_left(ids, timeout=10):
    """Which of the programs ids are still loaded, once the kernel has freed
    what was released (a program outlives its last link by an RCU grace
    period or a deferred put). Other collectors on the host do not count."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(set(ids) & set(our_programs()))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def programs_added(before, timeout=10):
    """Programs loaded since the snapshot before (an our_programs() result)
    that are still there once released ones are freed."""
    deadline = time.monotonic() + timeout
    while True:
        added = sorted(set(our_programs()) - set(before))
        if not added or time.monotonic() > deadline:
            return added
        time.sleep(0.1)


def promtool_check(text):
    """Runs `promtool check metrics` on an exposition; returns (ok, output).
    Only exit 0 passes: a parse error (exit 1) fails, and so does any of its
    lint findings (exit 3)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    return r.returncode == 0, r.stdout + r.stderr


def gunzip(body):
    return gzip.decompress(body)


if __name__ == "__main__":
    sys.exit("a helper module of the end-to-end tests; run make test")
