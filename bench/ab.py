"""Two builds of the collector, or two sets of its options, side by side:
bench-probe-hit's pair (task_begin + task_end) and event under each,
alternately, metrics only, ROUNDS rounds of 1,000,000 calls.

    /usr/bin/python3 bench/ab.py ROUNDS "A: COLLECTOR [OPTION...]" "B: COLLECTOR [OPTION...]"

For instance a build of a change against this one:
    bench/ab.py 9 "new: build/aet-collector" "old: /tmp/old/build/aet-collector"
Prints each one's median, and the median of the rounds' ratios A / B."""
import os
import statistics
import subprocess
import sys

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build")
CALLS = 1000000


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    runs = [(a.split(":", 1)[0], a.split(":", 1)[1].split()) for a in sys.argv[2:]]
    hit = subprocess.Popen(["taskset", "-c", "1", os.path.join(BUILD, "bench-probe-hit")],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid = int(hit.stdout.readline().split()[1])

    def run(n):
        hit.stdin.write("%d\n" % n)
        hit.stdin.flush()
        f = hit.stdout.readline().split()
        return float(f[1]), float(f[3])

    res = {name: [] for name, _ in runs}
    for _ in range(rounds):
        for name, cmd in runs:
            # On CPU 0, the target on CPU 1 (as bench/run.py).
            p = subprocess.Popen(["taskset", "-c", "0", *cmd, "--pid", str(pid),
                                  "--listen", "127.0.0.1:9597"], stderr=subprocess.PIPE,
                                 text=True, env=dict(os.environ, AET_TRACING_ENABLED="false"))
            for line in p.stderr:
                if "attached to pid" in line:
                    break
            else:
                sys.exit("%s did not attach" % name)
            run(CALLS // 10)  # warm
            res[name].append(run(CALLS))
            p.terminate()
            p.wait()
    hit.kill()
    print("ns per call, median of %d rounds of %d calls" % (rounds, CALLS))
    for name, v in res.items():
        print("  %-16s pair %8.1f  event %7.1f" % (
            name, statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)))
    (a, va), (b, vb) = res.items()
    print("  %s / %s: pair %.3fx  event %.3fx" % (a, b, *(
        statistics.median(x[i] / y[i] for x, y in zip(va, vb)) for i in (0, 1))))


if __name__ == "__main__":
    main()
