#!/usr/bin/python3
"""make bench: the cost of observation, measured side by side in one run.

1. Probe hit: bench-probe-hit calls aet_probe_task_begin + task_end (a pair)
   and aet_probe_event in a loop, with nothing attached (detached), with an
   empty BPF program on the same uprobes (the floor: bench-floor), and with
   aet-collector attached. The three are interleaved over several rounds and
   the medians compared.
2. Syscalls of a process that is not observed: bench-syscall read()s one
   byte from /dev/zero in a loop with no BPF, with empty programs on the
   collector's tracepoints (the floor: bench-floor-files), and with the
   collector attached to another process; interleaved, per-round ratios.
3. SQLite: one cached statement executed in a loop by Debian's Python
   (bench/sqlite_loop.py), with and without the collector: what the
   uprobes and uretprobe on libsqlite3 add to an execution.
4. Workload: the reference workload's tasks/s with and without the collector,
   interleaved.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libaetprobe.so")
PYTHON = "/usr/bin/python3"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_CALLS", "1000000"))
WORKLOAD_TASKS = int(os.environ.get("BENCH_TASKS", "3000"))


def start_collector(pid, port):
    p = subprocess.Popen([os.path.join(BUILD, "aet-collector"), "--pid", str(pid),
                          "--listen", "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # "attached to pid" is logged once every probe is attached (a warning,
    # such as no libsqlite3 in the target, may come first).
    seen = ""
    for line in p.stderr:
        seen += line
        if "attached to pid" in line:
            return p
    sys.exit("collector did not attach: " + seen)


def stop(p):
    p.terminate()
    p.wait()


def start_floor(pid):
    p = subprocess.Popen([os.path.join(BUILD, "bench-floor"), "--pid", str(pid), "--lib", LIB],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "attached":
        sys.exit("bench-floor did not attach")
    return p


def stop_floor(p):
    p.stdin.close()
    p.wait()


def probe_hit():
    hit = subprocess.Popen(["taskset", "-c", "1", os.path.join(BUILD, "bench-probe-hit")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    pid = int(hit.stdout.readline().split()[1])

    def run():
        hit.stdin.write("%d\n" % CALLS)
        hit.stdin.flush()
        f = hit.stdout.readline().split()
        return float(f[1]), float(f[3])

    res = {"detached": [], "floor": [], "collector": []}
    run()  # warm up
    for _ in range(ROUNDS):
        res["detached"].append(run())
        fl = start_floor(pid)
        res["floor"].append(run())
        stop_floor(fl)
        col = start_collector(pid, 9599)
        res["collector"].append(run())
        stop(col)
    hit.stdin.close()
    hit.wait()
    med = {k: (statistics.median(p for p, _ in v), statistics.median(e for _, e in v))
           for k, v in res.items()}
    # Each round measures floor and collector back to back: the median of
    # the per-round ratios cancels the drift of a shared VM between rounds.
    ratio = tuple(statistics.median(c[i] / f[i] for f, c in zip(res["floor"], res["collector"]))
                  for i in (0, 1))
    print("probe hit, ns per call (median of %d rounds of %d calls)" % (ROUNDS, CALLS))
    print("  %-28s %10s %10s" % ("", "begin+end", "event"))
    for k in ("detached", "floor", "collector"):
        print("  %-28s %10.1f %10.1f" % (k, *med[k]))
    print("  %-28s %9.2fx %9.2fx   (goal <= 1.5x)" % ("collector / floor", *ratio))
    return med, ratio


def syscall_cost():
    sc = subprocess.Popen(["taskset", "-c", "1", os.path.join(BUILD, "bench-syscall")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sc.stdout.readline()
    # The collector observes another process: this one is not a target.
    other = subprocess.Popen(["sleep", "3600"], env=dict(os.environ, LD_PRELOAD=LIB))
    time.sleep(0.2)

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


def sqlite_cost():
    lp = subprocess.Popen(["taskset", "-c", "1", PYTHON, os.path.join(ROOT, "bench/sqlite_loop.py")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ, LD_PRELOAD=LIB))
    pid = int(lp.stdout.readline().split()[1])
    n = max(CALLS // 20, 1000)

    def run():
        lp.stdin.write("%d\n" % n)
        lp.stdin.flush()
        return float(lp.stdout.readline().split()[1])

    res = {"detached": [], "collector": []}
    run()
    for _ in range(ROUNDS):
        res["detached"].append(run())
        col = start_collector(pid, 9596)
        res["collector"].append(run())
        stop(col)
    lp.stdin.close()
    lp.wait()
    med = {k: statistics.median(v) for k, v in res.items()}
    extra = statistics.median(c - d for d, c in zip(res["detached"], res["collector"]))
    print("SQLite execution from Python, ns (median of %d rounds of %d)" % (ROUNDS, n))
    for k in ("detached", "collector"):
        print("  %-28s %10.1f" % (k, med[k]))
    print("  %-28s %10.1f   (two uprobes, one uretprobe)" % ("added per execution", extra))
    return med, extra


def workload_once(tmp, attach):
    truth = os.path.join(tmp, "truth.json")
    wl = subprocess.Popen([PYTHON, os.path.join(ROOT, "tests/workload/aet_workload.py"),
                           "--wait", "--tasks", str(WORKLOAD_TASKS), "--truth", truth,
                           "--dir", os.path.join(tmp, "w")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True,
                          env=dict(os.environ, AETPROBE_LIBRARY=LIB))
    pid = int(wl.stdout.readline().split()[1])
    col = start_collector(pid, 9598) if attach else None
    wl.stdin.write("go\n")
    wl.stdin.flush()
    wl.wait()
    if col:
        stop(col)
    with open(truth) as f:
        return json.load(f)["tasks_per_second"]


def workload():
    res = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):
            for attach in (False, True):
                res[attach].append(workload_once(tmp, attach))
    off, on = statistics.median(res[False]), statistics.median(res[True])
    print("workload, tasks/s (median of %d interleaved runs of %d tasks, 1 thread)"
          % (ROUNDS, WORKLOAD_TASKS))
    print("  %-28s %10.1f" % ("without collector", off))
    print("  %-28s %10.1f" % ("with collector", on))
    print("  %-28s %9.2f%%" % ("throughput cost", (off - on) / off * 100))


def main():
    if os.geteuid() != 0:
        sys.exit("bench: loads BPF programs: run as root")
    print("aet-collector bench, %s, kernel %s, %d cpus" % (
        time.strftime("%Y-%m-%d"), os.uname().release, os.cpu_count()))
    probe_hit()
    syscall_cost()
    sqlite_cost()
    workload()


if __name__ == "__main__":
    main()
