"""/metrics against the workload's ground truth, exactly."""
import collections
import os
import time

import pytest

from harness import (STATUSES, by_labels, labels, parse_exposition, promtool_check,
                     render_label, wait_ticks)


def expected(truth_rows, key_fn, value_fn=lambda r: r["count"]):
    """Sums truth rows by rendered label set, as the collector merges them."""
    out = collections.Counter()
    for r in truth_rows:
        out[key_fn(r)] += value_fn(r)
    return dict(out)


def check_histogram(samples, name, counts, sums, truth_sums):
    """_count exact; _sum close to the workload's own timing; buckets cumulative."""
    got_counts = by_labels(samples, name + "_count")
    assert got_counts == counts, name
    got_sums = by_labels(samples, name + "_sum")
    for key, n in counts.items():
        # The kernel times from uprobe to uprobe, the workload around the
        # calls through ctypes: close, never equal.
        assert abs(got_sums[key] - truth_sums[key]) <= 0.1 * truth_sums[key] + 0.002 * n, key
    buckets = collections.defaultdict(list)
    for (metric, lbls), v in samples.items():
        if metric == name + "_bucket":
            le = dict(lbls)["le"]
            rest = frozenset(x for x in lbls if x[0] != "le")
            buckets[rest].append((float(le), v))
    assert set(buckets) == set(counts)
    for key, series in buckets.items():
        series.sort()
        assert len(series) == 17
        assert [v for _, v in series] == sorted(v for _, v in series), "not cumulative"
        assert series[-1] == (float("inf"), counts[key])


def compare(samples, truth):
    tasks = truth["tasks"]
    assert by_labels(samples, "aet_tasks_total") == expected(
        tasks, lambda r: labels(status=r["status"], mode=r["mode"], agent=r["agent"]))
    check_histogram(
        samples, "aet_task_duration_seconds",
        expected(tasks, lambda r: labels(agent=r["agent"], mode=r["mode"])), None,
        expected(tasks, lambda r: labels(agent=r["agent"], mode=r["mode"]),
                 lambda r: r["duration_sum_s"]))
    assert by_labels(samples, "aet_active_tasks") == {
        labels(mode=m): 0 for m in {r["mode"] for r in tasks}}

    reqs = truth["agent_requests"]
    ao = lambda r: labels(agent=r["agent"], operation=r["operation"])  # noqa: E731
    assert by_labels(samples, "aet_agent_requests_total") == expected(reqs, ao)
    assert by_labels(samples, "aet_agent_errors_total") == expected(
        reqs, ao, lambda r: r["count"] if r["status"] in ("failure", "timeout") else 0)
    check_histogram(samples, "aet_agent_response_seconds", expected(reqs, ao), None,
                    expected(reqs, ao, lambda r: r["duration_sum_s"]))

    cycles = {s: 0 for s in STATUSES}
    cycles.update({r["status"]: r["count"] for r in truth["cycles"]})
    assert by_labels(samples, "aet_cycles_total") == {
        labels(status=s): n for s, n in cycles.items()}
    check_histogram(samples, "aet_cycle_duration_seconds",
                    {frozenset(): sum(cycles.values())}, None,
                    {frozenset(): sum(r["duration_sum_s"] for r in truth["cycles"])})

    assert by_labels(samples, "aet_events_total") == expected(
        truth["events"], lambda r: labels(event_type=r["event_type"]))
    assert by_labels(samples, "aet_collector_unmatched_total") == {
        labels(kind=k): truth["unmatched"].get(k, 0) for k in ("cycle", "task", "agent", "span")}
    for fam in ("aet_collector_series_overflow_total", "aet_collector_open_overflow_total"):
        assert set(by_labels(samples, fam).values()) == {0}, fam


@pytest.mark.parametrize("threads", [1, 4])
def test_counts_match_ground_truth(start, threads):
    wl = start.workload("--seed", "7", "--threads", str(threads), "--tasks", "300")
    col = start.collector(wl.pid)
    up = ("aet_target_up", frozenset({("pid", str(wl.pid))}))
    before, _ = parse_exposition(col.metrics())
    assert before[up] == 1
    assert before[("aet_memory_usage_bytes", frozenset())] > 1 << 20
    assert col.get("/ready")[0] == 200
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    compare(samples, truth)
    assert sum(r["count"] for r in truth["tasks"]) == 300
    assert types["aet_tasks_total"] == "counter"
    assert types["aet_task_duration_seconds"] == "histogram"
    assert types["aet_active_tasks"] == "gauge"
    # The target is gone (reaped): after one whole tick of the collector's
    # main loop from now, the counts stay, up goes to 0, /ready fails.
    wait_ticks(col, 1)
    after, _ = parse_exposition(col.metrics())
    assert after[up] == 0
    assert col.get("/ready")[0] == 503
    compare(after, truth)
    code, err = col.stop()
    assert code == 0, err


def test_hostile_labels_give_a_valid_exposition(start):
    wl = start.workload("--seed", "3", "--tasks", "60", "--hostile-labels")
    col = start.collector(wl.pid)
    truth = wl.go()
    text = col.metrics()
    samples, _ = parse_exposition(text)
    compare(samples, truth)
    raw = [r["agent"] for r in truth["tasks"]]
    assert any(len(a.encode("utf-8", "surrogateescape")) > 63 for a in raw)
    assert any("\n" in a or '"' in a for a in raw)
    ok, out = promtool_check(text)
    assert ok, out


def test_label_sets_past_the_bound_are_counted_under_overflow(start):
    wl = start.workload("--seed", "5", "--tasks", "120", "--threads", "2")
    col = start.collector(wl.pid, "--max-series", "2")
    truth = wl.go()
    samples, _ = parse_exposition(col.metrics())
    over = "__overflow__"
    overflow_total = {dict(k)["family"]: v for k, v in
                      by_labels(samples, "aet_collector_series_overflow_total").items()}
    for fam, metric, total in (
            ("aet_tasks_total", "aet_tasks_total", sum(r["count"] for r in truth["tasks"])),
            ("aet_agent_requests_total", "aet_agent_requests_total",
             sum(r["count"] for r in truth["agent_requests"])),
            ("aet_events_total", "aet_events_total",
             sum(r["count"] for r in truth["events"]))):
        got = by_labels(samples, metric)
        # Nothing lost: every observation is in some series.
        assert sum(got.values()) == total, metric
        real = {k for k in got if over not in dict(k).values()}
        label_sets = {frozenset((n, v) for n, v in k if n != "status") for k in real}
        assert len(label_sets) <= 2, metric
        overflowed = sum(v for k, v in got.items() if over in dict(k).values())
        assert overflowed > 0, metric
        assert overflow_total[fam] == overflowed, fam


def cpu_seconds(pid):
    """User and system CPU time of a process so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_target_cpu_and_memory(start, tmp_path):
    wl = start.workload("--loop", "--pause", "0", "--threads", "2")
    col = start.collector(wl.pid)
    went = time.monotonic()
    wl.proc.stdin.write("go\n")
    wl.proc.stdin.flush()
    cpu_went = cpu_seconds(wl.pid)
    # Two samples of the collector's one-second tick, the interval between
    # them all after the go: the CPU the looping workload used.
    wait_ticks(col, 2, after=went)
    samples, _ = parse_exposition(col.metrics())
    # The truth: the workload's CPU (/proc/PID/stat) over a window that holds
    # the collector's one second. A looping workload's use is steady but not
    # constant, more so on a busy machine: the collector's second agrees with
    # the window's average within a factor of two.
    truth = 100 * (cpu_seconds(wl.pid) - cpu_went) / (time.monotonic() - went)
    used = samples[("aet_cpu_usage_percent", frozenset())]
    assert truth > 1, "the looping workload used no CPU"
    assert truth / 2 < used < truth * 2, (used, truth)
    with open("/proc/%d/status" % wl.pid) as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    got = samples[("aet_memory_usage_bytes", frozenset())]
    assert abs(got - rss_kb * 1024) < 0.2 * rss_kb * 1024
    assert sum(by_labels(samples, "aet_tasks_total").values()) > 0
    # The knowledge base: the one SQLite file the workload holds open (not its
    # -wal and -shm companions), its path cut like every label value.
    kb = os.path.join(str(tmp_path), "work", "kb.sqlite")
    sizes = by_labels(samples, "aet_db_size_bytes")
    assert list(sizes) == [frozenset({("path", render_label(kb))})]
    assert 0 < list(sizes.values())[0] <= os.path.getsize(kb) + (1 << 20)
    # A real scrape, every family in it: promtool's parser and linter pass.
    ok, out = promtool_check(col.metrics())
    assert ok, out
