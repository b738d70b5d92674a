"""/metrics of two builds of the collector side by side: the same target
making N label sets of aet_events_total (bench-probe-hit's "series N")
once each build in turn has attached to it, ROUNDS rounds of SCRAPES sequential
requests on one connection.

    /usr/bin/python3 bench/scrape_ab.py ROUNDS N "A: COLLECTOR" "B: COLLECTOR"

Prints each one's median p50 and p99 over the rounds, and the median of the
rounds' p50 ratios A / B."""
import http.client
import os
import statistics
import time
import subprocess
import sys

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build")
SCRAPES = 200
PORT = 9594


def scrape_once(cmd, hit, pid, n):
    col = subprocess.Popen([*cmd, "--pid", str(pid), "--listen", "127.0.0.1:%d" % PORT,
                            "--max-series", str(n + 16)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, AET_TRACING_ENABLED="false"))
    for line in col.stderr:
        if "attached to pid" in line:
            break
    # The label sets are made while this build is attached.
    hit.stdin.write("series %d\n" % n)
    hit.stdin.flush()
    hit.stdout.readline()
    conn = http.client.HTTPConnection("127.0.0.1", PORT)
    times = []
    for _ in range(SCRAPES):
        t0 = time.perf_counter()
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        times.append((time.perf_counter() - t0) * 1000)
    conn.close()
    col.terminate()
    col.wait()
    if body.count(b"\naet_events_total{") < n:
        sys.exit("%s: only %d series" % (cmd[0], body.count(b"\naet_events_total{")))
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    rounds, n = int(sys.argv[1]), int(sys.argv[2])
    runs = [(a.split(":", 1)[0], a.split(":", 1)[1].split()) for a in sys.argv[3:]]
    hit = subprocess.Popen([os.path.join(BUILD, "bench-probe-hit")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    pid = int(hit.stdout.readline().split()[1])
    res = {name: [] for name, _ in runs}
    for _ in range(rounds):
        for name, cmd in runs:
            res[name].append(scrape_once(cmd, hit, pid, n))
    hit.stdin.close()
    hit.wait()
    print("scrape of /metrics at %d series, ms (median of %d rounds of %d requests)"
          % (n, rounds, SCRAPES))
    for name, _ in runs:
        print("  %-8s p50 %7.2f   p99 %7.2f" % (
            name, statistics.median(r[0] for r in res[name]),
            statistics.median(r[1] for r in res[name])))
    a, b = runs[0][0], runs[1][0]
    print("  p50 %s / %s: %.3f (median of the rounds' ratios)" % (
        a, b, statistics.median(x[0] / y[0] for x, y in zip(res[a], res[b]))))


if __name__ == "__main__":
    main()
