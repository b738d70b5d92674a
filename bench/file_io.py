"""A followed file read: what one pread() of a regular file under --file-root
costs the target, nothing attached, with empty programs on the same
tracepoints (bench-floor-files), and under each collector given, side by
side, alternately, ROUNDS rounds of CALLS calls (metrics only).

    /usr/bin/python3 bench/file_io.py ROUNDS "A: COLLECTOR [OPTION...]" ["B: ..."]

For instance a change against the build before it:
    bench/file_io.py 9 "new: build/aet-collector" "old: /tmp/old/aet-collector"
Prints each one's median ns per call, and the median of the rounds' ratios
to the floor (and A / B)."""
import os
import socket
import statistics
import subprocess
import sys
import tempfile

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build")
LIB = os.path.join(BUILD, "libaetprobe.so")
CALLS = int(os.environ.get("BENCH_CALLS", "1000000"))


def free_listen():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    runs = [(a.split(":", 1)[0], a.split(":", 1)[1].split()) for a in sys.argv[2:]]
    root = tempfile.mkdtemp(prefix="aet-bench-io-")
    path = os.path.join(root, "data")
    with open(path, "wb") as f:
        f.write(b"x" * 4096)
    # The target on CPU 1, the collector on CPU 0 (as bench/run.py).
    sc = subprocess.Popen(["taskset", "-c", "1", os.path.join(BUILD, "bench-syscall"), path],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ, LD_PRELOAD=LIB))
    pid = int(sc.stdout.readline().split()[1])

    def run(n):
        sc.stdin.write("%d\n" % n)
        sc.stdin.flush()
        return float(sc.stdout.readline().split()[1])

    def measured(cmd, ready):
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
        run(CALLS // 10)  # warm
        v = run(CALLS)
        p.terminate()
        p.wait()
        return v

    res = {"none": [], "floor": [], **{name: [] for name, _ in runs}}
    run(CALLS // 10)
    for _ in range(rounds):
        res["none"].append(run(CALLS))
        res["floor"].append(measured([os.path.join(BUILD, "bench-floor-files")], "attached"))
        for name, cmd in runs:
            res[name].append(measured(["taskset", "-c", "0", *cmd, "--pid", str(pid),
                                       "--file-root", root, "--listen", free_listen()],
                                      "attached to pid"))
    sc.stdin.close()
    sc.wait()
    os.unlink(path)
    os.rmdir(root)
    print("pread() of a followed file, ns per call, median of %d rounds of %d calls"
          % (rounds, CALLS))
    for name, v in res.items():
        print("  %-16s %8.1f" % (name, statistics.median(v)))
    for name, _ in runs:
        print("  %-16s %8.3fx the floor" % (name, statistics.median(
            c / f for c, f in zip(res[name], res["floor"]))))
    if len(runs) == 2:
        (a, _), (b, _) = runs
        print("  %s / %s: %.3fx" % (a, b, statistics.median(
            x / y for x, y in zip(res[a], res[b]))))


if __name__ == "__main__":
    main()
