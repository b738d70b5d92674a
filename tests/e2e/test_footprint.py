"""/status says the collector's footprint: each BPF map (family, entries,
bytes, what bounds it) as the kernel counts it, and the RSS; at the
defaults, RSS and map memory together stay within 24 MiB."""
import json
import time

from harness import SANITIZED, map_memlock

GOAL = 24 << 20


def vm_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmRSS:"))


def footprint(start, *args):
    """The /status footprint of a collector on the looping workload, and
    what the kernel says of its maps and RSS; then stops both."""
    wl = start.workload("--loop", "--threads", "4")
    try:
        col = start.collector(wl.pid, *args)
        wl.proc.stdin.write("go\n")
        wl.proc.stdin.flush()
        time.sleep(2)
        col.metrics()
        status = json.loads(col.get("/status")[2])
        fp = dict(status["footprint"], build=status["bpf_build"]["build"])
        kernel, rss = map_memlock(col.proc.pid), vm_rss(col.proc.pid)
        code, err = col.stop()
        assert code == 0, err
    finally:
        wl.kill()
    return fp, kernel, rss


def test_status_says_each_map_and_the_total_within_24_mib(start):
    fp, kernel, rss = footprint(start)
    maps = fp["maps"]
    # Every map the process holds, once, with the kernel's bytes for it.
    assert len(maps) == fp["map_count"] == len(kernel)
    assert sum(m["bytes"] for m in maps) == fp["map_bytes"] == sum(kernel.values())
    assert sorted(m["bytes"] for m in maps) == sorted(kernel.values())
    by_name = {m["name"]: m for m in maps}
    assert {m["family"] for m in maps} == {"shared", "probes", "processes", "files", "sqlite",
                                                "http", "python", "custom"}
    assert by_name["open_slots"]["max_entries"] == 4096
    assert by_name["open_slots"]["why"] == "--max-open, rounded up to a power of two"
    assert by_name["task_hist"]["max_entries"] == 4097 * 4
    assert by_name["span_ring"]["max_entries"] == 1 << 20
    assert by_name["stmt_texts"]["max_entries"] == 1  # no --span-sql-text
    assert all(m["why"] for m in maps)
    # The RSS a moment apart; the maps mapped in are counted once.
    assert abs(fp["rss_bytes"] - rss) < 1 << 20
    assert 0 < fp["rss_mapped_map_bytes"] < fp["rss_bytes"]
    assert fp["total_bytes"] == fp["map_bytes"] + fp["rss_bytes"] - fp["rss_mapped_map_bytes"]
    print("\nmaps %.1f MiB (%d), RSS %.1f MiB (%.1f of it mapped maps), total %.1f MiB"
          % (fp["map_bytes"] / 2**20, len(maps), fp["rss_bytes"] / 2**20,
             fp["rss_mapped_map_bytes"] / 2**20, fp["total_bytes"] / 2**20))
    # The goal is the native build's: the compat build (kernels before 5.11)
    # keeps its threads' state in LRU hashes of 8192 threads: about 7 MiB more.
    assert SANITIZED or fp["build"] == "compat" or fp["total_bytes"] <= GOAL


def test_the_options_size_the_maps(start):
    fp, kernel, _ = footprint(start, "--max-open", "1000", "--max-series", "100",
                              "--max-files", "5000", "--span-ring-size", "65536",
                              "--span-sql-text")
    by_name = {m["name"]: m for m in fp["maps"]}
    assert sum(m["bytes"] for m in fp["maps"]) == sum(kernel.values())
    for name, entries in (("open_slots", 1024), ("span_texts", 1024), ("inflight", 256),
                          ("stmts", 1000), ("stmt_texts", 1000), ("task_series", 101),
                          ("conns", 256), ("http_series", 100), ("custom_series", 100),
                          ("custom_keys", 100), ("task_hist", 404), ("event_counts", 101),
                          ("fd_slots", 8192), ("span_ring", 65536)):
        assert by_name[name]["max_entries"] == entries, name
    assert by_name["span_ring"]["bytes"] < 128 << 10
    assert by_name["span_texts"]["bytes"] < 512 << 10
    assert by_name["task_hist"]["bytes"] < 128 << 10
