#!/usr/bin/python3
"""make bench: the cost of observation, measured side by side in one run.

First the machine facts that move the absolute figures (CPU, kernel,
page-table isolation and mitigations, one uprobe hit on a nop5 and on a
push): the ratios are the claims, the absolutes belong to their machine.

1. Probe hit: bench-probe-hit calls aet_probe_task_begin + task_end (a pair)
   and aet_probe_event in a loop: nothing attached (detached), an empty BPF
   program on the same uprobes (the floor: bench-floor), programs that only
   read what any collector must (the labels and the clock: bench-floor
   --reads), the collector with metrics only, the collector emitting a
   span for every pair (always_on, exported to a local OTLP sink), and the
   collector disabled by its emergency switch (POST /control/disable).
   Interleaved over several rounds; ratios are medians of per-round ratios.
2. Syscalls of a process that is not observed: bench-syscall read()s one
   byte from /dev/zero in a loop with no BPF, with empty programs on the
   collector's tracepoints (the floor: bench-floor-files), and with the
   collector attached to another process; interleaved, per-round ratios.
3. SQLite: a cached select of 1, 10, 100 and 1000 rows executed in a loop
   by Debian's Python (bench/sqlite_loop.py): detached, with empty programs
   on the probe sets of each design considered (bench-floor --sqlite-set),
   and with the collector; what each adds to an execution, and its ratio
   to what it adds to the one-row select.
4. Workload: the reference workload's tasks/s and CPU time per task with no
   observability at all, with the probe library loaded and nothing
   attached, with empty programs on every uprobe and tracepoint the
   collector uses (the floor), with the collector (metrics; spans at 100%
   and at 1%), and with the earlier in-process approach (prometheus_client
   in the workload), interleaved. BENCH_FAMILIES=1 adds the collector
   with --disable sqlite, files and both: each family's share.
   workload_floor (BENCH_ONLY=workload_floor): a floor under the
   collector's share of the workload's CPU found by counting, not timing:
   the uprobe runs a task costs with the collector (bpf_stats' counts),
   each at the cost of a nop5 hit measured here, against a task's CPU
   with the library detached.
5. Footprint: the collector's RSS, CPU and BPF map memory while the
   workload loops on 4 threads and /metrics is scraped every second: each
   map's bytes (/status), their total, and RSS + maps (goal <= 24 MiB).
6. Scrape: /metrics latency (p50, p99) and size with 1k, 10k and 100k
   series of aet_events_total.
7. Spans, collector side: bench-span-drain fills a ring buffer from a BPF
   program on one CPU while the collector's consumer (spanconv + otlp, the
   daemon's code) drains and encodes on the other; spans/s without a drop,
   and gzip throughput beside it.
8. Streamed model calls: a Python client (bench/genai_stream.py, the probe
   library preloaded) makes OpenAI-shaped streamed calls of 200 chunks
   and a usage event, over HTTP and HTTPS, to a local server that sends
   each event apart; detached, on the floor (empty programs on the http
   and files families' points) and with the collector (default families,
   metrics only), alternately: the client's CPU and wall time per call,
   their ratios to detached, the collector's CPU per call, the reads per
   call; the collector's counts checked against the calls made.
"""
import contextlib
import functools
import http.client
import http.server
import signal
import threading
import urllib.request
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import (by_labels, fdinfo, map_memlock, parse_exposition,  # noqa: E402 - the
                     wait_loaded, wait_until)  # e2e tests' helpers
BUILD = os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libaetprobe.so")
PYTHON = "/usr/bin/python3"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_CALLS", "1000000"))
WORKLOAD_TASKS = int(os.environ.get("BENCH_TASKS", "3000"))
FOOTPRINT_SECONDS = int(os.environ.get("BENCH_FOOTPRINT_SECONDS", "30"))
GENAI_CALLS = int(os.environ.get("BENCH_GENAI_CALLS", "40"))
GENAI_PACE_US = int(os.environ.get("BENCH_GENAI_PACE_US", "100"))


# Tracing configurations of the collector (environment).
METRICS_ONLY = {"AET_TRACING_ENABLED": "false"}


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts and discards (the benchmarks' sink)."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_sink():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def spans_env(sink, ratio=None):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % sink.server_address[1],
           "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
           "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4096"}
    if ratio is None:
        env["OTEL_TRACES_SAMPLER"] = "always_on"
    else:
        env.update(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG=str(ratio))
    return env


def start_collector(pid, port, env=METRICS_ONLY, args=()):
    # On CPU 0: the targets of the loops run on CPU 1, and what is measured
    # is what a probe costs them, not the collector's own threads taking
    # their CPU (encoding 650k spans/s takes most of a core).
    p = subprocess.Popen(["taskset", "-c", "0", os.path.join(BUILD, "aet-collector"),
                          "--pid", str(pid),
                          "--listen", "127.0.0.1:%d" % port, *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, **env))
    # "attached to pid" is logged once every probe is attached (a warning,
    # such as no libsqlite3 in the target, may come first).
    seen = ""
    for line in p.stderr:
        seen += line
        if "attached to pid" in line:
            return p
    sys.exit("collector did not attach: " + seen)


def disable(port):
    """The emergency switch: POST /control/disable, then wait until done."""
    req = urllib.request.Request("http://127.0.0.1:%d/control/disable" % port, method="POST")
    urllib.request.urlopen(req).read()
    wait_until(lambda: not json.load(
        urllib.request.urlopen("http://127.0.0.1:%d/status" % port))["enabled"],
        "the collector disabled (/status)")


def stop(p):
    p.terminate()
    p.wait()


def start_floor(pid, *args):
    p = subprocess.Popen([os.path.join(BUILD, "bench-floor"), "--pid", str(pid), "--lib", LIB,
                          *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "attached":
        sys.exit("bench-floor did not attach")
    return p


def stop_floor(p):
    p.stdin.close()
    p.wait()


def probe_hit(sink):
    """A probe call detached, on the floor, with metrics, with a span each."""
    hit = subprocess.Popen(["taskset", "-c", "1", os.path.join(BUILD, "bench-probe-hit")],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid = int(hit.stdout.readline().split()[1])

    def run():
        hit.stdin.write("%d\n" % CALLS)
        hit.stdin.flush()
        f = hit.stdout.readline().split()
        return tuple(float(f[i]) for i in range(1, 11, 2))

    res = {"detached": [], "floor (empty program)": [], "floor + reads (labels, clock)": [],
           "collector, metrics": [], "collector, span per pair": [],
           "compat build, metrics": [], "collector, disabled": []}
    run()  # warm up
    for _ in range(ROUNDS):
        res["detached"].append(run())
        for k, args in (("floor (empty program)", ()),
                        ("floor + reads (labels, clock)", ("--reads",))):
            fl = start_floor(pid, *args)
            res[k].append(run())
            stop_floor(fl)
        for k, env, args in (("collector, metrics", METRICS_ONLY, ()),
                             ("collector, span per pair", spans_env(sink), ()),
                             ("compat build, metrics", METRICS_ONLY, ("--bpf-build", "compat"))):
            col = start_collector(pid, 9599, env, args)
            res[k].append(run())
            stop(col)
        col = start_collector(pid, 9599)
        disable(9599)
        res["collector, disabled"].append(run())
        stop(col)
    hit.stdin.close()
    hit.wait()
    med = {k: tuple(statistics.median(r[i] for r in v) for i in range(5))
           for k, v in res.items()}

    # Each round measures its configurations back to back: the median of
    # the per-round ratios cancels the drift of a shared VM between rounds.
    def ratio(num, den, i):
        return statistics.median(n[i] / d[i] for d, n in zip(res[den], res[num]))

    print("probe hit, ns per call (median of %d rounds of %d calls)" % (ROUNDS, CALLS))
    print("  %-28s %10s %10s %10s %10s %10s" % ("", "begin+end", "event", "counter", "observe",
                                                "declared"))
    for k in res:
        print("  %-28s %10.1f %10.1f %10.1f %10.1f %10.1f" % (k, *med[k]))
    metrics = tuple(ratio("collector, metrics", "floor (empty program)", i) for i in range(5))
    reads = [ratio("floor + reads (labels, clock)", "floor (empty program)", i) for i in (0, 1)]
    span = ratio("collector, span per pair", "collector, metrics", 0)
    print("  %-28s %9.2fx %9.2fx %9.2fx %9.2fx %9.2fx   (goal <= 1.3x)" % (
        "metrics / floor", *metrics))
    print("  %-28s %9.2fx %9.2fx   (what reading alone costs)" % ("reads / floor", *reads))
    print("  %-28s %9.2fx %10s   (goal <= 1.5x)" % ("span / metrics", span, ""))
    compat = [ratio("compat build, metrics", "collector, metrics", i) for i in (0, 1)]
    print("  %-28s %9.2fx %9.2fx   (kernels 5.8 to 5.11)" % ("compat / native metrics", *compat))
    off = [ratio("collector, disabled", "detached", i) for i in (0, 1)]
    print("  %-28s %9.2fx %9.2fx   (nothing attached: 1x)" % ("disabled / detached", *off))
    return med, metrics, span


def syscall_cost():
    sc = subprocess.Popen(["taskset", "-c", "1", os.path.join(BUILD, "bench-syscall")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sc.stdout.readline()
    # The collector observes another process: this one is not a target.
    other = subprocess.Popen(["sleep", "3600"], env=dict(os.environ, LD_PRELOAD=LIB))
    wait_loaded(other.pid, "libaetprobe.so", "sleep")

    def run():
        sc.stdin.write("%d\n" % CALLS)
        sc.stdin.flush()
        return float(sc.stdout.readline().split()[1])

    res = {"none": [], "floor": [], "collector": []}
    run()
    for _ in range(ROUNDS):
        res["none"].append(run())
        fl = subprocess.Popen([os.path.join(BUILD, "bench-floor-files")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
        if fl.stdout.readline().strip() != "attached":
            sys.exit("bench-floor-files did not attach")
        res["floor"].append(run())
        stop_floor(fl)
        col = start_collector(other.pid, 9597)
        res["collector"].append(run())
        stop(col)
    sc.stdin.close()
    sc.wait()
    other.kill()
    other.wait()
    med = {k: statistics.median(v) for k, v in res.items()}
    ratio = statistics.median(c / f for f, c in zip(res["floor"], res["collector"]))
    print("syscall of a process not observed, ns per read() (median of %d rounds of %d)"
          % (ROUNDS, CALLS))
    for k in ("none", "floor", "collector"):
        print("  %-28s %10.1f" % (k, med[k]))
    print("  %-28s %9.3fx   (goal <= 1.2x)" % ("collector / floor", ratio))
    return med, ratio


SQLITE_ROWS = (1, 10, 100, 1000)
# Empty programs on the probe sets of the designs measured (bench-floor
# --sqlite-set): where the traps are is what an execution pays.
SQLITE_FLOORS = (("floor, step+ret+reset", "step"),
                 ("floor, step+reset+ret", "step-reset"),
                 ("floor, bind(entry)+reset+ret", "exec-xol"),
                 ("floor, bind(je)+reset+ret", "exec"))


def bind_offset(lib):
    """Where the collector probes sqlite3_bind_parameter_count() in lib: its
    first "je" after "xor %eax,%eax; test %rdi,%rdi" (user/sqlverb.c's
    sqlverb_branch_offset(), which x86-64 emulates), else its entry."""
    syms = subprocess.run(["readelf", "-W", "--dyn-syms", lib], capture_output=True,
                          text=True, check=True).stdout
    addr = next(int(line.split()[1], 16) for line in syms.splitlines()
                if line.split()[-1:] == ["sqlite3_bind_parameter_count"])
    segs = subprocess.run(["readelf", "-lW", lib], capture_output=True, text=True,
                          check=True).stdout
    for line in segs.splitlines():
        f = line.split()
        if f[:1] == ["LOAD"] and int(f[2], 16) <= addr < int(f[2], 16) + int(f[4], 16):
            with open(lib, "rb") as fh:
                fh.seek(addr - int(f[2], 16) + int(f[1], 16))
                code = fh.read(16)
            break
    at = 4 if code.startswith(b"\xf3\x0f\x1e\xfa") else 0
    at += 2 if code[at:at + 2] == b"\x31\xc0" else 0
    if code[at:at + 3] == b"\x48\x85\xff" and (code[at + 3] == 0x74 or code[at + 3:at + 5] == b"\x0f\x84"):
        return at + 3
    return 0


def sqlite_cost():
    """Selects of 1 to 1000 rows: what each design's empty programs and the
    collector add to an execution, and each row count's added cost over the
    one-row select's (the goal: at most 1.1x)."""
    lp = subprocess.Popen(["taskset", "-c", "1", PYTHON, os.path.join(ROOT, "bench/sqlite_loop.py")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ, LD_PRELOAD=LIB))
    pid = int(lp.stdout.readline().split()[1])
    # About the same time per point: a 1000-row select takes ~30x a 1-row one.
    n = {r: max(CALLS // 20 // (1 + r // 30), 200) for r in SQLITE_ROWS}

    def run_all():
        # A short run first: the first executions after an attach pay for it.
        lp.stdin.write("200 1\n")
        lp.stdin.flush()
        lp.stdout.readline()
        out = {}
        for r in SQLITE_ROWS:
            lp.stdin.write("%d %d\n" % (n[r], r))
            lp.stdin.flush()
            out[r] = float(lp.stdout.readline().split()[1])
        return out

    bind_off = bind_offset(sqlite_of(pid))
    names = ["detached"] + [k for k, _ in SQLITE_FLOORS] + ["collector"]
    res = {k: [] for k in names}
    run_all()
    for _ in range(ROUNDS):
        res["detached"].append(run_all())
        for k, s in SQLITE_FLOORS:
            fl = start_floor(pid, "--sqlite", sqlite_of(pid), "--sqlite-set", s,
                             "--bind-offset", str(bind_off))
            res[k].append(run_all())
            stop_floor(fl)
        col = start_collector(pid, 9596)
        res["collector"].append(run_all())
        stop(col)
    traps = uprobe_runs_per_execution(lp, pid)
    lp.stdin.close()
    lp.wait()
    print("SQLite select from Python, ns per execution (median of %d interleaved rounds)" % ROUNDS)
    print("  %-28s" % "rows" + "".join("%11d" % r for r in SQLITE_ROWS))
    for k in names:
        print("  %-28s" % k + "".join("%11.1f" % statistics.median(x[r] for x in res[k])
                                      for r in SQLITE_ROWS))
    print("  added over detached (median of per-round differences), and / the 1-row select's")
    added = {}
    for k in names[1:]:
        added[k] = {r: statistics.median(x[r] - d[r] for d, x in zip(res["detached"], res[k]))
                    for r in SQLITE_ROWS}
        print("  %-28s" % k + "".join("%11.1f" % added[k][r] for r in SQLITE_ROWS))
        print("  %-28s" % "  / 1 row" + "".join(
            "%10.2fx" % (added[k][r] / added[k][1]) if added[k][1] > 0 else "%11s" % "-"
            for r in SQLITE_ROWS))
    print("  %-28s (goal: the collector's <= 1.10x for every row count)" % "")
    print("  %-28s" % "collector's uprobe runs" + "".join("%11.2f" % traps[r]
                                                         for r in SQLITE_ROWS))
    print("  %-28s (a run of its programs per execution: exact, where times drift)" % "")
    return added


def uprobe_runs(pid):
    """Runs of the uprobe programs (BPF_PROG_TYPE_KPROBE) process pid holds,
    from their fdinfo (counted while kernel.bpf_stats_enabled is 1)."""
    return sum(int(i.get("run_cnt", "0")) for i in fdinfo(pid) if i.get("prog_type") == "2")


def uprobe_runs_per_execution(lp, pid, n=1000):
    """{rows: the collector's uprobe program runs per execution}."""
    stats = "/proc/sys/kernel/bpf_stats_enabled"
    with open(stats) as f:
        was = f.read().strip()
    with open(stats, "w") as f:
        f.write("1")
    col = start_collector(pid, 9596)
    got = {}
    try:
        for r in SQLITE_ROWS:
            before = uprobe_runs(col.pid)
            lp.stdin.write("%d %d\n" % (n, r))
            lp.stdin.flush()
            lp.stdout.readline()
            got[r] = (uprobe_runs(col.pid) - before) / n
    finally:
        stop(col)
        with open(stats, "w") as f:
            f.write(was)
    return got


def start_workload(tmp, *args, truth=True):
    """truth False: the workload keeps no truth, which a --loop run would
    grow for its whole life (its spans, in lists) and slow down by."""
    truth = os.path.join(tmp, "truth.json") if truth else None
    wl = subprocess.Popen([PYTHON, os.path.join(ROOT, "tests/workload/aet_workload.py"),
                           "--wait", *(["--truth", truth] if truth else []),
                           "--dir", os.path.join(tmp, "w"), *args],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True,
                          env=dict(os.environ, AETPROBE_LIBRARY=LIB))
    return wl, int(wl.stdout.readline().split()[1]), truth


def sqlite_of(pid):
    """The libsqlite3 process pid maps."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if "/libsqlite3" in line:
                return line.split(None, 5)[5].strip()
    sys.exit("bench: the workload maps no libsqlite3")


def start_floors(pid):
    """Empty programs on every uprobe and tracepoint the collector uses."""
    files = subprocess.Popen([os.path.join(BUILD, "bench-floor-files")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    if files.stdout.readline().strip() != "attached":
        sys.exit("bench-floor-files did not attach")
    lib = sqlite_of(pid)
    return [files, start_floor(pid, "--sqlite", lib, "--bind-offset", str(bind_offset(lib)))]


def workload_once(tmp, env, args):
    """tasks/s and CPU us per task of one run; env None: no collector,
    "floor": empty programs, else the collector's environment."""
    wl, pid, truth = start_workload(tmp, "--tasks", str(WORKLOAD_TASKS), *args)
    floors = start_floors(pid) if env == "floor" else []
    col = start_collector(pid, 9598, env) if isinstance(env, dict) else None
    wl.stdin.write("go\n")
    wl.stdin.flush()
    wl.wait()
    if col:
        stop(col)
    for fl in floors:
        stop_floor(fl)
    with open(truth) as f:
        t = json.load(f)
    # The CPU time of the workload's threads: the probe and syscall
    # programs run in them, so it counts what observation takes from it.
    return t["tasks_per_second"], t["cpu_seconds"] * 1e6 / WORKLOAD_TASKS


def workload(sink):
    runs = {  # name: (collector environment, "floor" or None; workload arguments)
        "no observability": (None, ["--no-probe"]),
        "library loaded, detached": (None, []),
        "empty programs (floor)": ("floor", []),
        "collector, metrics": (METRICS_ONLY, []),
        "collector, spans at 100%": (spans_env(sink), []),
        "collector, spans at 1%": (spans_env(sink, 0.01), []),
        "in-process prometheus_client": (None, ["--prom-client"]),
    }
    if os.environ.get("BENCH_FAMILIES"):  # where the collector's cost goes, family by family
        for off in ("sqlite", "files", "sqlite,files"):
            runs["collector, --disable " + off] = (dict(METRICS_ONLY, AET_COLLECTOR_DISABLE=off), [])
    res = {k: [] for k in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):
            for k, (env, args) in runs.items():
                res[k].append(workload_once(tmp, env, args))
    base = res["no observability"]
    print("workload (median of %d interleaved runs of %d tasks, 1 thread)"
          % (ROUNDS, WORKLOAD_TASKS))
    print("  %-30s %10s %8s %12s %8s" % ("", "tasks/s", "cost", "CPU us/task", "added"))
    for k in runs:
        # costs against the run of the same round without observability
        cost = statistics.median((b[0] - x[0]) / b[0] * 100 for b, x in zip(base, res[k]))
        cpu = statistics.median((x[1] - b[1]) / b[1] * 100 for b, x in zip(base, res[k]))
        print("  %-30s %10.1f %7.2f%% %12.1f %7.2f%%" % (
            k, statistics.median(t for t, _ in res[k]), cost,
            statistics.median(c for _, c in res[k]), cpu))
    print("  %-30s (goal: metrics <= 1%% of tasks/s, below prometheus_client)" % "")


def progs():
    """{id: bpftool's JSON} of the BPF programs loaded on the host."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"]: p for p in json.loads(out)}


def prog_runs(before):
    """{(type, name): runs} of the programs loaded since progs() gave
    before that ran (Debian's bpftool does not say which process holds
    a program)."""
    runs = {}
    for i, p in progs().items():
        if i not in before and p.get("run_cnt"):
            k = (p["type"], p.get("name", "?"))
            runs[k] = runs.get(k, 0) + p["run_cnt"]
    return runs


def workload_floor():
    """A floor under the workload goal found by counting, not by timing the
    workload (whose CPU a task moves by more than the goal between runs):
    the uprobe program runs a task costs with the collector attached
    (bpf_stats' run counts, which bpf_stats' own cost does not change),
    each at the cheapest cost of a uprobe here (a hit on a nop5, measured
    in this run), against a task's CPU with the library detached. Whatever
    the programs do, the collector's cost is above it. The syscall
    tracepoints' runs are counted beside but left out of the floor: they
    run for every process of the host, and syscall_cost() prices them."""
    spot, why = uprobe_spot()
    if not spot:
        sys.exit("bench: --check did not measure a uprobe hit: %s" % why)
    with tempfile.TemporaryDirectory() as tmp:
        cpu = statistics.median(workload_once(tmp, None, [])[1] for _ in range(3))
        wl, pid, _ = start_workload(tmp, "--tasks", str(WORKLOAD_TASKS))
        before = progs()
        col = start_collector(pid, 9598)
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
        try:
            wl.stdin.write("go\n")
            wl.stdin.flush()
            wl.wait()
            runs = prog_runs(before)
        finally:
            subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"], check=True)
            stop(col)
    per = {k: n / WORKLOAD_TASKS for k, n in runs.items()}
    print("workload floor by counting (%d tasks, collector with metrics, bpf_stats run counts)"
          % WORKLOAD_TASKS)
    print("  %-44s %8.1f us" % ("CPU a task, library detached (median of 3)", cpu))

    def most(kind):
        top = sorted(((v, name) for (t, name), v in per.items() if t == kind), reverse=True)
        return sum(v for v, _ in top), ", ".join("%s %.1f" % (name, v) for v, name in top[:6])

    # The uprobes are on the workload's libraries: its runs only.
    n, top = most("kprobe")
    floor = n * spot["nop5_hit_ns"] / 1000
    print("  uprobe runs a task %7.1f x a nop5 hit %4d ns = %6.1f us %6.2f%%"
          % (n, spot["nop5_hit_ns"], floor, floor / cpu * 100))
    print("    most: " + top)
    n, top = most("tracepoint")
    print("  tracepoint runs a task, any process's: %.1f (not in the floor)" % n)
    print("    most: " + top)
    print("  %-44s %8.1f us %6.2f%%   (goal: the collector <= 1%%)"
          % ("floor: the uprobe runs alone", floor, floor / cpu * 100))


def map_memory(pid):
    """Bytes of the BPF maps process pid holds (their memlock), each once."""
    maps = map_memlock(pid)
    return sum(maps.values()), len(maps)


def mapped_map_rss(pid):
    """Bytes of RSS that are BPF maps mapped into pid: kernel memory (counted
    in map_memory() already) that RSS counts again."""
    total, bpf = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                bpf = line.rstrip().endswith("anon_inode:bpf-map")
            elif bpf and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def proc_stat(pid):
    """(rss bytes, cpu seconds) of pid."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
    return rss, (int(fields[11]) + int(fields[12])) / tick


def footprint():
    """The collector's RSS, CPU and BPF map memory while the workload runs
    at its default rate, metrics only, scraped every second."""
    with tempfile.TemporaryDirectory() as tmp:
        wl, pid, _ = start_workload(tmp, "--loop", "--threads", "4", truth=False)
        col = start_collector(pid, 9594)
        wl.stdin.write("go\n")
        wl.stdin.flush()
        time.sleep(2)  # a warm-up: the workload at its rate before the measured period
        _, cpu0 = proc_stat(col.pid)
        t0, peak, peak_maps = time.monotonic(), 0, 0
        while time.monotonic() - t0 < FOOTPRINT_SECONDS:
            with urllib.request.urlopen("http://127.0.0.1:9594/metrics") as r:
                r.read()
            rss = proc_stat(col.pid)[0]
            if rss > peak:
                peak, peak_maps = rss, mapped_map_rss(col.pid)
            time.sleep(1)
        rss, cpu1 = proc_stat(col.pid)
        cpu = (cpu1 - cpu0) / (time.monotonic() - t0) * 100
        mem, nmaps = map_memory(col.pid)
        mapped = mapped_map_rss(col.pid)
        status = json.load(urllib.request.urlopen("http://127.0.0.1:9594/status"))["footprint"]
        stop(col)
        wl.send_signal(signal.SIGINT)
        wl.wait()
    print("collector footprint, workload looping on 4 threads, metrics only, scraped every "
          "second for %d s" % FOOTPRINT_SECONDS)
    print("  %-30s %10.1f MiB" % ("RSS, peak", peak / 2**20))
    print("  %-30s %10.1f MiB   (goal <= 16 MiB)" % ("  without mapped BPF maps",
                                                     (peak - peak_maps) / 2**20))
    print("  %-30s %10.2f %%     (goal <= 2%% of one core)" % ("CPU", cpu))
    print("  %-30s %10.1f MiB   (%d maps, their memlock)" % ("BPF map memory", mem / 2**20,
                                                             nmaps))
    print("  %-30s %10.1f MiB   (goal <= 24 MiB; RSS %.1f MiB at the end, %.1f of it the "
          "maps mapped in, counted once)" % ("RSS + BPF map memory", (rss - mapped + mem) / 2**20,
                                             rss / 2**20, mapped / 2**20))
    # Each map as /status says it; its total is the kernel's (fdinfo) above.
    listed = sum(m["bytes"] for m in status["maps"])
    print("  BPF maps by size (/status; total %.2f MiB, %s the kernel's)" % (
        listed / 2**20, "equal to" if listed == mem else "NOT equal to"))
    print("    %-16s %-10s %10s %12s  %s" % ("map", "family", "entries", "bytes", "bounded by"))
    for m in sorted(status["maps"], key=lambda m: -m["bytes"]):
        print("    %-16s %-10s %10d %12d  %s" % (m["name"], m["family"], m["max_entries"],
                                                  m["bytes"], m["why"]))


def scrape():
    """/metrics latency and size with N series of aet_events_total."""
    print("scrape of /metrics, ms (sequential requests on one connection; the first, which")
    print("reads every label set the programs made, apart; p99 of at least 100 after it)")
    print("  %-12s %10s %10s %10s %10s %12s" % ("series", "first", "p50", "p99", "requests",
                                               "bytes"))
    for n in (1000, 10000, 100000):
        hit = subprocess.Popen([os.path.join(BUILD, "bench-probe-hit")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        pid = int(hit.stdout.readline().split()[1])
        col = subprocess.Popen([os.path.join(BUILD, "aet-collector"), "--pid", str(pid),
                                "--listen", "127.0.0.1:9593", "--max-series", str(n + 16)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in col.stderr:
            if "attached to pid" in line:
                break
        hit.stdin.write("series %d\n" % n)
        hit.stdin.flush()
        hit.stdout.readline()
        conn = http.client.HTTPConnection("127.0.0.1", 9593)
        times, size = [], 0
        count = max(100, 2000000 // n) + 1
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("GET", "/metrics")
            body = conn.getresponse().read()
            times.append((time.perf_counter() - t0) * 1000)
            size = len(body)
        conn.close()
        series = body.count(b"\naet_events_total{")
        stop(col)
        hit.stdin.close()
        hit.wait()
        first, times = times[0], sorted(times[1:])
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print("  %-12d %10.2f %10.2f %10.2f %10d %12d%s" % (
            n, first, statistics.median(times), p99, count - 1, size,
            "" if series >= n else "   (only %d series)" % series))
    print("  %-12s (goal: p99 <= 100 ms at 100000, linear from 10000)" % "")


def span_drain():
    out = subprocess.run([os.path.join(BUILD, "bench-span-drain")], capture_output=True,
                         text=True)
    if out.returncode:
        sys.exit("bench-span-drain failed: " + out.stderr)
    print(out.stdout, end="")


GENAI_KINDS = ("http", "https")
GENAI_MODES = ("detached", "floor", "collector")
GENAI_PORT = 9592


def cpu_ns(pid):
    """CPU time of pid's threads, ns, from their schedstat: /proc/PID/stat's
    utime + stime count ticks of 10 ms, a few calls' worth."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread gone: the collector's live as long as it
    return total


def start_genai_floor(pid):
    """Empty programs on the points of the two families a call's syscalls
    and SSL functions pass: http's and files' (both trace read and write)."""
    out = []
    for cmd in (["bench-floor-http", "--pid", str(pid)], ["bench-floor-files"]):
        p = subprocess.Popen([os.path.join(BUILD, cmd[0]), *cmd[1:]], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        if p.stdout.readline().strip() != "attached":
            sys.exit("%s did not attach" % cmd[0])
        out.append(p)
    return out


def genai_check(port, made, tokens):
    """What the collector counted, once it has counted made calls (each
    call's end is drained within 10 ms) or after 10 s: (calls counted,
    made, what differs from what was made)."""
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port) as r:
            samples, _ = parse_exposition(r.read().decode())
        calls = by_labels(samples, "aet_gen_ai_requests_total")
        n = sum(calls.values())
        if n >= made or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    bad = []
    if n != made:
        bad.append("aet_gen_ai_requests_total %d, calls made %d" % (n, made))
    want = {"provider": "openai", "operation": "chat", "model": "gpt-bench-2025",
            "status": "success"}
    bad += ["a series %s" % dict(k) for k in calls if want.items() - dict(k).items()]
    got = {}
    for k, v in by_labels(samples, "aet_gen_ai_tokens_total").items():
        t = dict(k)["token_type"]
        got[t] = got.get(t, 0) + v
    want = dict(zip(("input", "output", "cached_input", "reasoning"), (made * t for t in tokens)))
    if got != want:
        bad.append("aet_gen_ai_tokens_total %s, made %s" % (got, want))
    for m in ("aet_gen_ai_usage_missing_total", "aet_collector_gen_ai_bytes_lost_total"):
        if sum(by_labels(samples, m).values()):
            bad.append("%s %s" % (m, by_labels(samples, m)))
    return n, made, bad


def genai_round(mode, pid, call, tokens):
    """One mode's runs of each kind: {kind: {figure: value}}, and with the
    collector what it counted (genai_check())."""
    floors = start_genai_floor(pid) if mode == "floor" else []
    col = start_collector(pid, GENAI_PORT) if mode == "collector" else None
    out, made = {}, 0
    for kind in GENAI_KINDS:
        call(kind, 2)  # the first calls after an attach pay for it
        c0, t0 = cpu_ns(col.pid) if col else 0, time.monotonic()
        wall, cpu = call(kind, GENAI_CALLS)[:2]
        x = out[kind] = dict(wall=wall, cpu=cpu, secs=time.monotonic() - t0, collector=0,
                             idle=0, uprobes=0)
        if col:
            x["collector"] = (cpu_ns(col.pid) - c0) / GENAI_CALLS / 1000
        # Counted apart: with bpf_stats_enabled each program run reads the clock.
        with bpf_stats() if col else contextlib.nullcontext():
            runs = uprobe_runs(col.pid) if col else 0
            x["reads"], x["bytes"], x["gcs"] = call(kind, 5, 1)[2:5]
            if col:
                x["uprobes"] = (uprobe_runs(col.pid) - runs) / 5
        made += 3 + GENAI_CALLS + 1 + 6  # each command's first call is outside its measure
    check = None
    if col:
        # Its pace with no call (timers, drains), to say what of its CPU
        # per call the calls took.
        c0, t0 = cpu_ns(col.pid), time.monotonic()
        time.sleep(0.5)
        idle = (cpu_ns(col.pid) - c0) / (time.monotonic() - t0) / 1000
        for x in out.values():
            x["idle"] = idle * x["secs"] / GENAI_CALLS
        check = genai_check(GENAI_PORT, made, tokens)
        stop(col)
    for fl in floors:
        stop_floor(fl)
    return out, check


class bpf_stats:
    """kernel.bpf_stats_enabled on while within: programs count their runs."""
    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        with open(self.PATH) as f:
            self.was = f.read().strip()
        with open(self.PATH, "w") as f:
            f.write("1")

    def __exit__(self, *exc):
        with open(self.PATH, "w") as f:
            f.write(self.was)


def genai_stream():
    import genai_stream as gs  # bench/genai_stream.py: the server and the client
    start = time.monotonic()
    from httpd import make_cert
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        srv = subprocess.Popen(["taskset", "-c", "0", PYTHON, gs.__file__, "--serve", cert, key,
                                str(GENAI_PACE_US)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        ports = srv.stdout.readline().split()[1:]
        cl = subprocess.Popen(["taskset", "-c", "1", PYTHON, gs.__file__, "--client", *ports,
                               cert], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, LD_PRELOAD=LIB))
        pid = int(cl.stdout.readline().split()[1])

        def call(kind, n, count=0):
            cl.stdin.write("%s %d %d\n" % (kind, n, count))
            cl.stdin.flush()
            f = cl.stdout.readline().split()
            if not f or f[0] != "done":
                sys.exit("genai_stream: the client failed")
            return [float(x) for x in f[1:]]
        res = {m: [] for m in GENAI_MODES}
        checks = []
        for i in range(ROUNDS):
            # Each round in another order: no mode always follows another
            # (an attach, a detach) or comes first.
            for mode in GENAI_MODES[i % 3:] + GENAI_MODES[:i % 3]:
                r, check = genai_round(mode, pid, call, gs.TOKENS)
                res[mode].append(r)
                if check:
                    checks.append(check)
        for p in (cl, srv):
            p.stdin.close()
            p.wait()
    genai_report(res, checks, gs)
    print("  (%d s)" % (time.monotonic() - start))


def genai_report(res, checks, gs):
    def med(m, k, f):
        return statistics.median(x[k][f] for x in res[m])

    def added(m, k, f):
        return statistics.median(x[k][f] - d[k][f] for d, x in zip(res["detached"], res[m]))

    def ratio(m, k, f, base="detached"):
        return statistics.median(x[k][f] / d[k][f] for d, x in zip(res[base], res[m]))

    def row(name, fmt, fn):
        print("  %-38s" % name + "".join(fmt % fn(k) for k in GENAI_KINDS))

    print("streamed model calls: POST %s, a text/event-stream of %d chunks, the usage and "
          "[DONE],\n each event a write %d us apart; us per call, median of %d rounds of %d calls"
          % (gs.PATH, gs.CHUNKS, GENAI_PACE_US, ROUNDS, GENAI_CALLS))
    row("", "%12s", lambda k: k)
    for f, what in (("cpu", "client CPU"), ("wall", "wall")):
        for m in GENAI_MODES:
            row("%s, %s" % (what, m), "%12.1f", lambda k: med(m, k, f))
        for m in GENAI_MODES[1:]:
            row("%s added, %s" % (what, m), "%12.1f", lambda k: added(m, k, f))
        for m in GENAI_MODES[1:]:
            row("%s, %s / detached" % (what, m), "%11.3fx", lambda k: ratio(m, k, f))
        row("%s, collector / floor" % what, "%11.3fx",
            lambda k: ratio("collector", k, f, "floor"))
        row("%s, collector's added / floor's" % what, "%11.2fx",
            lambda k: added("collector", k, f) / added("floor", k, f))
    row("collector CPU per call (its threads)", "%12.1f",
        lambda k: med("collector", k, "collector"))
    row("  its pace without calls, as long", "%12.1f", lambda k: med("collector", k, "idle"))
    for m in GENAI_MODES:
        row("reads per call (bytes a read), %s" % m, "%12s", lambda k: "%.1f (%d)" % (
            med(m, k, "reads"), med(m, k, "bytes") / med(m, k, "reads")))
    row("gc collections per call, collector", "%12.2f", lambda k: med("collector", k, "gcs"))
    row("collector's uprobe runs per call", "%12.1f", lambda k: med("collector", k, "uprobes"))
    for k in GENAI_KINDS:
        print("  client CPU by round, %s: %s" % (k, "; ".join("%s %s" % (m, " ".join(
            "%.0f" % x[k]["cpu"] for x in res[m])) for m in GENAI_MODES)))
    bad = [b for _, _, bs in checks for b in bs]
    print("  counted by the collector (aet_gen_ai_requests_total), each round: %s calls of %s "
          "made; tokens, labels, usage: %s" % (" ".join("%d" % n for n, _, _ in checks),
                                               " ".join("%d" % m for _, m, _ in checks),
                                               "as made" if not bad else "NOT as made"))
    if bad:
        sys.exit("genai_stream: the collector did not count the calls made:\n  " +
                 "\n  ".join(bad))


def read_first(path, default="?"):
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return default


@functools.lru_cache(maxsize=None)
def uprobe_spot():
    """(aet-collector --check's uprobe_spot, with nop5_hit_ns and
    push_hit_ns; None and why when it did not measure them). Measured once
    a run: the figures the machine facts print are those used after."""
    out = subprocess.run([os.path.join(BUILD, "aet-collector"), "--check", "--json"],
                         capture_output=True, text=True)
    try:
        spot = json.loads(out.stdout)["uprobe_spot"]
        if "nop5_hit_ns" in spot and "push_hit_ns" in spot:
            return spot, None
    except (ValueError, KeyError):
        pass
    return None, out.stderr.strip()


def machine_facts():
    """What moves the absolute figures below from one machine to the next:
    the kernel, the CPU, page-table isolation and the other mitigations
    (every uprobe trap crosses into the kernel and back), and what one
    uprobe hit costs here on a 5-byte NOP and on a push (aet-collector
    --check measures both). The ratios are the claims; these say where the
    absolutes came from."""
    cpu = "?"
    virt = False
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "?":
                cpu = line.split(":", 1)[1].strip()
            virt |= line.startswith("flags") and " hypervisor" in line
    vuln = "/sys/devices/system/cpu/vulnerabilities/"
    meltdown = read_first(vuln + "meltdown")
    mitig = [w for w in read_first("/proc/cmdline", "").split() if w.startswith("mitigations=")]
    spot, why = uprobe_spot()
    hits = ("nop5 %d ns, push %d ns" % (spot["nop5_hit_ns"], spot["push_hit_ns"]) if spot
            else "not measured (--check: %s)" % why)
    print("machine: %s, %d cpus%s" % (cpu, os.cpu_count(), ", virtual" if virt else ""))
    print("  kernel %s; page-table isolation %s (meltdown: %s); spectre_v2: %s; %s" % (
        os.uname().release, "on" if "PTI" in meltdown else "off", meltdown,
        read_first(vuln + "spectre_v2"), mitig[0] if mitig else "mitigations= not given"))
    print("  one uprobe hit: %s" % hits)


def main():
    if os.geteuid() != 0:
        sys.exit("bench: loads BPF programs: run as root")
    print("aet-collector bench, %s" % time.strftime("%Y-%m-%d"))
    machine_facts()
    sink = start_sink()
    # BENCH_ONLY=probe_hit,scrape: those sections alone.
    only = os.environ.get("BENCH_ONLY", "").split(",")
    for name, run in (("probe_hit", lambda: probe_hit(sink)), ("syscall", syscall_cost),
                      ("sqlite", sqlite_cost), ("workload", lambda: workload(sink)),
                      ("workload_floor", workload_floor),
                      ("footprint", footprint), ("scrape", scrape), ("span_drain", span_drain),
                      ("genai_stream", genai_stream)):
        if only == [""] or name in only:
            run()


if __name__ == "__main__":
    main()
