"""A garbage collection of a followed Python process: what one
gc.collect(0) costs it with nothing attached and with the python family
attached to it (its USDT probes gc__start and gc__done: two probe hits a
collection), alternately, ROUNDS rounds.

    /usr/bin/python3 bench/python_gc.py ROUNDS [COLLECTOR]

COLLECTOR (default build/aet-collector) is started on the process's pid
with every other family it can go without disabled (processes stays: the
collector needs one more family than python). The process (CPU 1) runs
COLLECTIONS (BENCH_COLLECTIONS, default 20000) gc.collect(0) a round on a
young generation of a few objects. Prints the median us per collection in
each configuration and what the family adds to one."""
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTOR = os.path.join(os.path.dirname(HERE), "build", "aet-collector")
PYTHON = "/usr/bin/python3"
COLLECTIONS = int(os.environ.get("BENCH_COLLECTIONS", "20000"))
CHILD = r"""
import gc, sys, time
print("READY", flush=True)
for line in sys.stdin:
    n = int(line)
    keep = [[i] for i in range(50)]
    t = time.perf_counter_ns()
    for _ in range(n):
        gc.collect(0)
    print((time.perf_counter_ns() - t) / n, flush=True)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attach(collector, pid):
    port = free_port()
    col = subprocess.Popen([collector, "--pid", str(pid), "--listen", "127.0.0.1:%d" % port,
                            "--disable", "probes,files,sqlite,http", "--require", "python"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return wait_ready(col, port)


def wait_ready(col, port):
    """col, once it answers /ready 200 on port."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if col.poll() is not None:
            raise SystemExit("collector exited: %s" % col.stderr.read())
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=2) as r:
                if r.status == 200:
                    return col
        except OSError:
            pass
        time.sleep(0.1)
    col.kill()
    raise SystemExit("collector not ready in 60 s")


def measure(child):
    child.stdin.write("%d\n" % COLLECTIONS)
    child.stdin.flush()
    return float(child.stdout.readline()) / 1000


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    collector = sys.argv[2] if len(sys.argv) > 2 else COLLECTOR
    child = subprocess.Popen(["taskset", "-c", "1", PYTHON, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "READY"
    got = {"nothing": [], "python": []}
    try:
        for _ in range(rounds):
            got["nothing"].append(measure(child))
            col = attach(collector, child.pid)
            try:
                got["python"].append(measure(child))
            finally:
                col.terminate()
                col.wait(timeout=30)
    finally:
        child.kill()
    base = statistics.median(got["nothing"])
    for name, us in got.items():
        print("%-8s %.3f us per gc.collect(0) (median of %d rounds)"
              % (name, statistics.median(us), len(us)))
    diffs = [p - n for n, p in zip(got["nothing"], got["python"])]
    print("the family adds %.3f us per collection (median of the rounds' differences), "
          "%.2fx" % (statistics.median(diffs), statistics.median(got["python"]) / base))


if __name__ == "__main__":
    main()
