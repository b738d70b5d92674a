"""Runs inside a guest of `make test-kernels` (scripts/kernels/boot.sh), as
root, in the host's root shared read-only: the collector attached to
workloads with exact expected counts, and the probe-hit cost at both
uprobe spots. Prints "AET-RESULT PASS" or "AET-RESULT FAIL reason", and
"AET-FIGURE ..." lines for bench/RESULTS.md, and "AET-CHECK {...}": what
`aet-collector --check --json` says of the guest, first thing (run.sh keeps
it; scripts/kernels/table.py makes the README's table of it).

    guest.py --build native|compat   the BPF build the collector must pick"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import (BUILD, COLLECTOR, LIBRARY, PYTHON, WORKLOAD,  # noqa: E402
                     by_labels, parse_exposition)
from httpd import Servers  # noqa: E402

PORT = 9478
URL = "http://127.0.0.1:%d" % PORT
HIT = os.path.join(BUILD, "bench-probe-hit")
SLOW = 150  # seconds: everything is slower under TCG (6.1 was ready just past 60 s)


class Failed(Exception):
    pass


def get(path):
    try:
        with urllib.request.urlopen(URL + path, timeout=SLOW) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def collector(pid, *args):
    p = subprocess.Popen([COLLECTOR, "--pid", str(pid), "--listen", "127.0.0.1:%d" % PORT,
                          *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + SLOW
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise Failed("collector exited %d: %s" % (
                p.returncode, " | ".join(p.stderr.read().strip().splitlines()[-3:])))
        try:
            if get("/ready")[0] == 200:
                return p
        except OSError:
            pass
        time.sleep(0.2)
    try:  # asked before the kill: after it, the answer is a reset connection
        why = get("/ready")[1].decode()
    except OSError as e:
        why = "/ready: %s" % e
    p.kill()
    raise Failed("collector not ready in %d s: %s" % (SLOW, why))


def stop(p):
    p.terminate()
    try:
        p.wait(SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Failed("collector did not exit on SIGTERM")
    if p.returncode:
        raise Failed("collector exited %d on SIGTERM" % p.returncode)


def samples():
    status, body = get("/metrics")
    if status != 200:
        raise Failed("/metrics answered %d" % status)
    return parse_exposition(body.decode())[0]


def total(s, name):
    return sum(by_labels(s, name).values())


def expect(what, got, want):
    if got != want:
        raise Failed("%s: %r, expected %r" % (what, got, want))


class Hit:
    def __init__(self):
        self.p = subprocess.Popen([HIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        self.pid = int(self.p.stdout.readline().split()[1])

    def say(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().split()

    def close(self):
        self.p.kill()
        self.p.wait()


def probes(build):
    """The native probe path: tasks and events, exactly; both spots."""
    hit = Hit()
    try:
        col = collector(hit.pid)
        st = json.loads(get("/status")[1])
        print("AET-FIGURE build=%s decided_by=%s" % (st["bpf_build"]["build"],
                                                   st["bpf_build"]["decided_by"]))
        expect("the BPF build", st["bpf_build"]["build"], build)
        spot = st["uprobe_spot"]
        print("AET-FIGURE calibration spot=%s nop5_hit_ns=%d push_hit_ns=%d" % (
            spot["spot"], spot["nop5_hit_ns"], spot["push_hit_ns"]))
        print("AET-FIGURE families %s" % " ".join(
            "%s=%s" % (f["name"], "up" if f["attached"] else "down:" + f["detail"])
            for f in st["families"]))
        expect("agents", hit.say("agents 300"), ["done"])
        expect("series", hit.say("series 40"), ["done"])
        s = samples()
        expect("aet_tasks_total", total(s, "aet_tasks_total"), 300)
        expect("aet_events_total", total(s, "aet_events_total"), 40)
        # Two threads in the probes at once, each its own ids and agent: on
        # one CPU (-smp 1) they preempt each other inside the programs.
        n = int(os.environ.get("AET_GUEST_THREAD_TASKS", "5000"))
        expect("threads", hit.say("threads 2 %d" % n), ["done"])
        s = samples()
        tasks = {dict(k)["agent"]: v for k, v in by_labels(s, "aet_tasks_total").items()
                 if dict(k)["agent"].startswith("thread_")}
        expect("aet_tasks_total of two threads", tasks, {"thread_0": n, "thread_1": n})
        expect("aet_collector_unmatched_total{kind=\"task\"}",
               by_labels(s, "aet_collector_unmatched_total").get(
                   frozenset({("kind", "task")}), 0), 0)
        expect("locks not had", json.loads(get("/status")[1])["bpf_build"]["locks_busy"], 0)
        stop(col)
        for where in ("nop5", "push"):
            col = collector(hit.pid, "--uprobe-spot", where)
            hit.say("2000")  # warm
            pair = min(float(hit.say("20000")[1]) for _ in range(3))
            print("AET-FIGURE spot=%s pair_ns=%.0f" % (where, pair))
            stop(col)
    finally:
        hit.close()


def workload():
    """The reference workload: tasks, file and SQLite operations, and its
    HTTP and HTTPS calls to local servers, exactly."""
    tmp = tempfile.mkdtemp()
    truth_path = os.path.join(tmp, "truth.json")
    servers = Servers(os.path.join(tmp, "httpd"))
    wl = subprocess.Popen([PYTHON, WORKLOAD, "--wait", "--truth", truth_path, "--dir",
                           os.path.join(tmp, "work"), "--tasks", "30", "--seed", "3",
                           "--threads", os.environ.get("AET_GUEST_THREADS", "1"),
                           "--http", "%s,%s" % (servers.plain_url, servers.tls_url),
                           "--http-ca", servers.cafile],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ, AETPROBE_LIBRARY=LIBRARY))
    try:
        line = wl.stdout.readline()
        if not line.startswith("READY "):
            raise Failed("workload did not start: %r" % line)
        col = collector(wl.pid, "--file-root", os.path.join(tmp, "work", "registry"))
        wl.stdin.write("go\n")
        wl.stdin.flush()
        wl.communicate(timeout=600)
        with open(truth_path) as f:
            truth = json.load(f)
        s = samples()
        expect("aet_tasks_total", total(s, "aet_tasks_total"),
               sum(r["count"] for r in truth["tasks"]))
        files = {(dict(k)["operation"], dict(k)["status"]): v
                 for k, v in by_labels(s, "aet_file_operations_total").items() if v}
        expect("aet_file_operations_total", files,
               {(r["operation"], r["status"]): r["count"] for r in truth["files"] if r["count"]})
        sql = {}
        for r in truth["sql"]:
            sql[(r["operation"], r["status"])] = sql.get((r["operation"], r["status"]), 0) + r["count"]
        db = {(dict(k)["operation"], dict(k)["status"]): v
              for k, v in by_labels(s, "aet_db_operations_total").items() if v}
        if db != {k: v for k, v in sql.items() if v}:
            st = json.loads(get("/status")[1])["sqlite"]
            print("AET-DEBUG sqlite %s" % json.dumps(st))
        expect("aet_db_operations_total", db, {k: v for k, v in sql.items() if v})
        http = {tuple(dict(k)[n] for n in ("method", "server_address", "status_code",
                                            "error_type")): v
                for k, v in by_labels(s, "aet_http_client_requests_total").items() if v}
        want = {}
        for r in truth["http"]["requests"]:
            key = (r["method"], r["server_address"], r["status_code"], r["error_type"])
            want[key] = want.get(key, 0) + r["count"]
        expect("aet_http_client_requests_total", http, {k: v for k, v in want.items() if v})
        stop(col)
    finally:
        if wl.poll() is None:
            wl.kill()
        servers.stop()


def check(build):
    """aet-collector --check --json, before anything else ran: printed whole;
    it must say that every required family would attach, with the build
    the collector then takes."""
    r = subprocess.run([COLLECTOR, "--check", "--json"], capture_output=True, text=True,
                       timeout=SLOW)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        raise Failed("--check --json exited %d without a report: %s" % (
            r.returncode, r.stderr.strip()[-300:]))
    print("AET-CHECK %s" % json.dumps(report, separators=(",", ":")))
    if r.returncode != 0 or not report["ok"]:
        raise Failed("--check: a required family would not attach: %s" % "; ".join(
            "%s: %s" % (f["name"], f["detail"]) for f in report["families"]
            if f["required"] and not f["attaches"]))
    expect("--check's BPF build", report["bpf_build"]["build"], build)


def native_refused():
    """On a kernel that takes the compat build, --bpf-build native must be
    refused in one line naming what the kernel lacks, exit 2, and load
    nothing."""
    hit = Hit()
    try:
        r = subprocess.run([COLLECTOR, "--pid", str(hit.pid), "--listen",
                            "127.0.0.1:%d" % PORT, "--bpf-build", "native"],
                           capture_output=True, text=True, timeout=SLOW)
        lines = r.stderr.strip().splitlines()
        if r.returncode != 2 or len(lines) != 1 or "needs Linux 5.12" not in lines[0]:
            raise Failed("--bpf-build native: expected a refusal naming the missing feature, "
                         "got exit %d: %s" % (r.returncode, " | ".join(lines)))
        progs = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True)
        if progs.stdout.strip():
            raise Failed("programs left loaded: %s" % progs.stdout)
        print("AET-FIGURE refused %s" % lines[0].split(": ", 1)[1])
    finally:
        hit.close()


def main():
    t0 = time.monotonic()
    build = sys.argv[2] if sys.argv[1:2] == ["--build"] else "native"
    try:
        check(build)
        probes(build)
        if build == "compat":
            native_refused()
        workload()
    except Failed as e:
        print("AET-RESULT FAIL %s" % e)
        return
    except Exception as e:  # a bug of this script is a failure too, with its cause
        print("AET-RESULT FAIL %s: %s" % (type(e).__name__, e))
        return
    print("AET-RESULT PASS (%.0f s in the guest)" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
