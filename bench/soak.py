#!/usr/bin/python3
"""make soak: the collector over a long run, for growth.

The reference workload loops on 4 threads at SOAK_RATE tasks a second
(default 100) for SOAK_MINUTES (default 10), the collector attached with
spans on (every span sampled, exported to a local OTLP sink) and /metrics
scraped every second. Each minute it prints the collector's RSS, BPF map
memory, the entries its hash maps hold (from the kernel: bpftool map
dump), its open descriptors, its CPU in that minute, and the spans
exported and dropped so far. The goal: nothing grows
after the first minute. Exits 1 when something did, or a scrape failed.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402 - the bench's workload, collector and sink

MINUTES = int(os.environ.get("SOAK_MINUTES", "10"))
# Tasks a second, all threads together (0: as fast as it goes). Left to
# itself the looping workload steps its span rate up several times over
# within ten minutes (its knowledge base grows), and the collector's
# buffers follow the rate to a new level: growth that is the load's, not
# the collector's. A steady rate shows the collector's own.
RATE = float(os.environ.get("SOAK_RATE", "100"))
PORT = 9596
# Growth after the first minute that is not growth: an RSS page or two of
# malloc's arenas moving, the one connection of a scrape in flight.
RSS_SLACK = 256 << 10
FD_SLACK = 2
FILL_SLACK = 64  # operations in flight on 4 threads when the sample is taken


# BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH: the maps that fill.
HASH_TYPES = {1, 5, 9, 10}


def hash_entries(pid):
    """{map name: entries} of the hash maps pid holds, as the kernel has them."""
    ids = {int(i["map_id"]) for i in run.fdinfo(pid)
           if "map_id" in i and int(i["map_type"]) in HASH_TYPES}
    got = {}
    for i in ids:
        show = subprocess.run(["bpftool", "map", "show", "id", str(i), "-j"],
                              capture_output=True, text=True).stdout
        dump = subprocess.run(["bpftool", "map", "dump", "id", str(i), "-j"],
                              capture_output=True, text=True).stdout
        got[json.loads(show or "{}").get("name", str(i))] = len(json.loads(dump or "[]"))
    return got


def spans(metrics):
    """(exported, dropped, queued) of aet_collector_spans_* in a scrape."""
    got = dict.fromkeys(("exported_total", "dropped_total", "queued"), 0.0)
    for line in metrics.splitlines():
        for name in got:
            if line.startswith("aet_collector_spans_" + name):
                got[name] += float(line.split()[-1])
    return tuple(int(v) for v in got.values())


class Scraper(threading.Thread):
    """GET /metrics every second; keeps the last body and counts failures."""

    def __init__(self):
        super().__init__(daemon=True)
        self.last, self.scrapes, self.failed = "", 0, []
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(1):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % PORT,
                                            timeout=10) as r:
                    self.last = r.read().decode()
                self.scrapes += 1
            except OSError as e:
                self.failed.append(str(e))


def sample(pid, cpu0, t0):
    rss, cpu = run.proc_stat(pid)
    return {"rss": rss, "cpu": cpu, "cpu_pct": (cpu - cpu0) / (time.monotonic() - t0) * 100,
            "maps": run.map_memory(pid)[0], "fds": len(os.listdir("/proc/%d/fd" % pid)),
            "entries": hash_entries(pid)}


def main():
    if os.geteuid() != 0:
        sys.exit("soak: loads BPF programs: run as root")
    sink = run.start_sink()
    print("soak: workload looping on 4 threads at %s tasks/s, spans always_on to a local "
          "sink, /metrics every second, %d minutes" % (RATE or "max", MINUTES))
    print("%6s %9s %9s %9s %6s %7s %11s %9s %7s" % (
        "minute", "RSS MiB", "maps MiB", "entries", "fds", "CPU %", "spans out", "dropped",
        "queued"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wl, pid, _ = run.start_workload(tmp, "--loop", "--threads", "4", "--rate", str(RATE),
                                        truth=False)
        # The export queue and batch at their defaults (2048, 512 spans),
        # as users run it: the bench's deeper queue would hide growth
        # behind its bound.
        env = run.spans_env(sink)
        del env["OTEL_BSP_MAX_QUEUE_SIZE"], env["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"]
        col = run.start_collector(pid, PORT, env=env)
        wl.stdin.write("go\n")
        wl.stdin.flush()
        scraper = Scraper()
        scraper.start()
        cpu0, t0 = run.proc_stat(col.pid)[1], time.monotonic()
        for minute in range(1, MINUTES + 1):
            time.sleep(max(0, t0 + 60 * minute - time.monotonic()))
            if col.poll() is not None or wl.poll() is not None:
                sys.exit("soak: the %s exited" % ("collector" if col.poll() is not None
                                                  else "workload"))
            s = sample(col.pid, cpu0, time.monotonic() - 60)
            cpu0 = s["cpu"]
            s["spans"] = spans(scraper.last)
            rows.append(s)
            print("%6d %9.2f %9.2f %9d %6d %7.2f %11d %9d %7d" % (
                minute, s["rss"] / 2**20, s["maps"] / 2**20, sum(s["entries"].values()),
                s["fds"], s["cpu_pct"], *s["spans"]), flush=True)
        scraper.done.set()
        scraper.join()
        run.stop(col)
        wl.send_signal(signal.SIGINT)
        wl.wait()
    first, last = rows[0], rows[-1]
    grew = []
    if last["rss"] - first["rss"] > RSS_SLACK:
        grew.append("RSS +%d KiB" % ((last["rss"] - first["rss"]) >> 10))
    if last["maps"] != first["maps"]:
        grew.append("map memory %+d bytes" % (last["maps"] - first["maps"]))
    if last["fds"] - first["fds"] > FD_SLACK:
        grew.append("descriptors +%d" % (last["fds"] - first["fds"]))
    for name, n in last["entries"].items():
        if n - first["entries"].get(name, 0) > FILL_SLACK:
            grew.append("map %s %d -> %d entries" % (name, first["entries"].get(name, 0), n))
    print("scrapes: %d, failed %d; spans exported %d, dropped %d" % (
        scraper.scrapes, len(scraper.failed), *last["spans"][:2]))
    print("after the first minute: %s" % ("; ".join(grew) if grew else "nothing grew"))
    if scraper.failed:
        print("first failed scrape: %s" % scraper.failed[0])
    return 1 if grew or scraper.failed else 0


if __name__ == "__main__":
    sys.exit(main())
