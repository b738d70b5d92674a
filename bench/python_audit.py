"""An audit event of a followed Python process: what one
sys.audit("aet.bench", PATH) costs it with nothing attached, with the python
family attached without --audit (its audit probe then not attached), and
with --audit: a filter that does not match the event, one that does (the
event counted), and one that does with tracing on (console exporter), the
event then a span event of the agent request the process keeps open,
alternately, ROUNDS rounds.

    /usr/bin/python3 bench/python_audit.py ROUNDS [COLLECTOR]

COLLECTOR (default build/aet-collector) is started on the process's pid
with the probes and python families only. The process (CPU 1, aetprobe
loaded from probe/python and build/libaetprobe.so) raises EVENTS
(BENCH_EVENTS, default 200000) events a round inside an agent request, no
audit hook installed: the cost is that of PySys_Audit() building the
argument tuple once the probe's semaphore is raised, and of the uprobe and
program. Prints the median ns per event in each configuration, and each
one's ratio and difference to nothing."""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_gc import COLLECTOR, PYTHON, free_port, wait_ready  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "200000"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import aetprobe
assert aetprobe.available, aetprobe.error
print("READY", flush=True)
path = "/srv/agent/workspace/notes.txt"
request = 0
for line in sys.stdin:
    n = int(line)
    request += 1
    with aetprobe.agent(request, "bench", "audit"):
        t = time.perf_counter_ns()
        for _ in range(n):
            sys.audit("aet.bench", path)
        t = time.perf_counter_ns() - t
    print(t / n, flush=True)
"""
MATCHED = ("--audit", "subprocess,socket.connect,open,aet")
CONFIGS = {
    "nothing": None,
    "python": ((), False),
    "unmatched": (("--audit", "subprocess,socket.connect,open"), False),
    "matched": (MATCHED, False),
    "traced": (MATCHED, True),
}


def attach(collector, pid, config):
    extra, traced = config
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if traced:
        env.update(OTEL_TRACES_SAMPLER="always_on", OTEL_EXPORTER_CONSOLE="true")
    col = subprocess.Popen([collector, "--pid", str(pid), "--listen", "127.0.0.1:%d" % port,
                            "--disable", "files,sqlite,http,custom", "--require", "python",
                            *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, env=env)
    wait_ready(col, port)
    return col


def measure(child):
    child.stdin.write("%d\n" % EVENTS)
    child.stdin.flush()
    return float(child.stdout.readline())


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    collector = sys.argv[2] if len(sys.argv) > 2 else COLLECTOR
    env = dict(os.environ)
    env.setdefault("AETPROBE_LIBRARY", os.path.join(ROOT, "build", "libaetprobe.so"))
    child = subprocess.Popen(["taskset", "-c", "1", PYTHON, "-c", CHILD,
                              os.path.join(ROOT, "probe", "python")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "READY"
    got = {name: [] for name in CONFIGS}
    try:
        for _ in range(rounds):
            for name, config in CONFIGS.items():
                if config is None:
                    got[name].append(measure(child))
                    continue
                col = attach(collector, child.pid, config)
                try:
                    got[name].append(measure(child))
                finally:
                    col.terminate()
                    col.wait(timeout=30)
    finally:
        child.kill()
    base = statistics.median(got["nothing"])
    for name, ns in got.items():
        diffs = [x - n for n, x in zip(got["nothing"], ns)]
        print("%-10s %7.1f ns per sys.audit() (median of %d rounds), %.2fx, %+.1f ns"
              % (name, statistics.median(ns), len(ns), statistics.median(ns) / base,
                 statistics.median(diffs)))


if __name__ == "__main__":
    main()
