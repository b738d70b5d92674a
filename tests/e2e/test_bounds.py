"""A target that floods the collector with label sets, and begins tasks it
never ends, keeps it within its bounds: the excess is counted, the memory
does not grow. (bench-probe-hit makes the flood: "agents N", "leak N",
"series N".) Begins never ended expire after --open-ttl."""
import os
import subprocess
import threading
import time

from harness import (BUILD, SANITIZED, by_labels, map_memlock, parse_exposition, promtool_check,
                     wait_until)

N = 100000
MAX_SERIES, MAX_OPEN = 4096, 4096  # the defaults


def rss_own(pid):
    """VmRSS without the BPF maps mapped in: kernel memory counted apart."""
    total, mapped, bpf = 0, 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                bpf = line.rstrip().endswith("anon_inode:bpf-map")
            elif line.startswith("Rss:"):
                kb = int(line.split()[1]) * 1024
                total += kb
                mapped += kb if bpf else 0
    return total - mapped


def settled_rss(pid, limit, timeout=5):
    """rss_own once it is under limit, or after timeout seconds. A client has
    the whole exposition before the thread that sent it has freed it: on a
    busy machine that thread may run again only milliseconds later."""
    deadline = time.monotonic() + timeout
    while True:
        rss = rss_own(pid)
        if rss < limit or time.monotonic() > deadline:
            return rss
        time.sleep(0.05)


def map_memory(pid):
    """memlock of the BPF maps pid holds, each once."""
    return sum(map_memlock(pid).values())


def test_floods_stay_within_bounds(start, request):
    hit = subprocess.Popen([os.path.join(BUILD, "bench-probe-hit")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    request.addfinalizer(hit.kill)
    pid = int(hit.stdout.readline().split()[1])
    col = start.collector(pid)
    col.metrics()
    rss0, maps0 = rss_own(col.proc.pid), map_memory(col.proc.pid)

    for cmd in ("agents", "leak", "series"):
        hit.stdin.write("%s %d\n" % (cmd, N))
        hit.stdin.flush()
        assert hit.stdout.readline().strip() == "done"
    text = col.metrics()
    ok, out = promtool_check(text)
    assert ok, out
    s, _ = parse_exposition(text)

    # 2N distinct agents (the leaked tasks' too): the first MAX_SERIES label
    # sets have their series, the others are counted under "__overflow__",
    # and every ended task once.
    overflow = by_labels(s, "aet_collector_series_overflow_total")
    assert overflow[frozenset({("family", "aet_tasks_total")})] == 2 * N - MAX_SERIES
    assert overflow[frozenset({("family", "aet_events_total")})] == N - MAX_SERIES
    tasks = by_labels(s, "aet_tasks_total")
    assert sum(tasks.values()) == N
    assert len(tasks) == MAX_SERIES + 1
    assert tasks[frozenset({("agent", "__overflow__"), ("mode", "__overflow__"),
                            ("status", "success")})] == N - MAX_SERIES
    events = by_labels(s, "aet_events_total")
    assert sum(events.values()) == N and len(events) == MAX_SERIES + 1

    # N begins never ended: as many as there are slots (fewer: a begin
    # tries 8 slots) stay open, the others are counted, none is lost.
    active = sum(by_labels(s, "aet_active_tasks").values())
    lost = by_labels(s, "aet_collector_open_overflow_total")[frozenset({("kind", "task")})]
    assert active + lost == N
    assert 0.9 * MAX_OPEN < active <= MAX_OPEN

    # Memory: the BPF maps are allocated in full at load. The collector's
    # own grows by what a scrape of every series takes (its exposition, the
    # label sets it keeps, what malloc keeps of them), then stays.
    for _ in range(10):
        col.metrics()
    rss1, maps1 = rss_own(col.proc.pid), map_memory(col.proc.pid)
    for _ in range(10):
        col.metrics()
    rss2 = settled_rss(col.proc.pid, min(16 << 20, rss1 + (512 << 10)))
    assert map_memory(col.proc.pid) == maps1 == maps0
    assert SANITIZED or rss2 < 16 << 20 and rss2 - rss1 < 512 << 10, (rss0, rss1, rss2)

    # Scrapes at once, each in its own thread and maybe a malloc arena of
    # its own: none keeps its exposition once answered.
    statuses = []
    for _ in range(3):
        scrapes = [threading.Thread(target=lambda: statuses.append(col.get("/metrics")[0]))
                   for _ in range(3)]
        for t in scrapes:
            t.start()
        for t in scrapes:
            t.join()
    assert statuses == [200] * 9
    rss3 = settled_rss(col.proc.pid, 16 << 20)
    assert SANITIZED or rss3 < 16 << 20, (rss2, rss3)
    print("\n%d-byte exposition; collector RSS without mapped maps %.1f MiB, %.1f after "
          "the flood and 11 scrapes, %.1f after 10 more; BPF maps %.1f MiB"
          % (len(text), rss0 / 2**20, rss1 / 2**20, rss2 / 2**20, maps1 / 2**20))
    code, err = col.stop()
    assert code == 0, err


def test_begins_never_ended_expire(start, request):
    hit = subprocess.Popen([os.path.join(BUILD, "bench-probe-hit")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    request.addfinalizer(hit.kill)
    pid = int(hit.stdout.readline().split()[1])
    col = start.collector(pid, "--open-ttl", "1")

    def send(cmd, n):
        hit.stdin.write("%s %d\n" % (cmd, n))
        hit.stdin.flush()
        assert hit.stdout.readline().strip() == "done"

    def counts():
        s, _ = parse_exposition(col.metrics())
        task = frozenset({("kind", "task")})
        return (sum(by_labels(s, "aet_active_tasks").values()),
                by_labels(s, "aet_collector_expired_total")[task],
                by_labels(s, "aet_collector_open_overflow_total")[task],
                sum(by_labels(s, "aet_tasks_total").values()))

    send("leak", 20000)  # more than the 4096 slots
    active, expired, lost, _ = counts()
    assert active + lost == 20000 and expired == 0
    wait_until(lambda: counts()[0] == 0, "every begin left open expired (--open-ttl 1)")
    # Every slot freed and counted once; the slots serve new begins again.
    assert counts()[:3] == (0, active, lost)
    send("agents", 1000)
    assert counts() == (0, active, lost, 1000)
    code, err = col.stop()
    assert code == 0, err
