"""The custom family (probe ABI version 2) against the workload's truth, exactly.

The truth holds the names and labels the workload sent; expected() applies
the collector's rules to them (user/custom_expo.h): the 63- and 127-byte
bounds, sanitised names and keys, at most four pairs, merged series.
"""
import collections
import json
import re
import subprocess

from harness import by_labels, parse_exposition, promtool_check, render_label, wait_until

NAME_MAX, LABELS_MAX = 63, 127
TYPES = {"counter_add": "counter", "gauge_set": "gauge", "gauge_add": "gauge",
         "observe": "histogram"}
# What the workload declares each round (aet_workload.DECLARED_BUCKETS).
DECLARED = ("reply_seconds", (5000, 100000, 500000, 1000000, 2500000))
BOUNDS_MICROS = (100, 500, 1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
                 1000000, 2500000, 5000000, 10000000, 30000000, 60000000)


def raw(s):
    return s.encode("utf-8", "surrogateescape")


def sanitised(b):
    return re.sub(rb"[^A-Za-z0-9_]", b"_", b).decode()


def family(name, kind):
    f = "aet_custom_" + sanitised(raw(name)[:NAME_MAX])
    if TYPES[kind] == "counter" and not f.endswith("_total"):
        f += "_total"
    return f


def label_set(labels, kind):
    """(frozenset of rendered pairs, pairs left out) of a labels string as sent."""
    pairs, left = {}, 0
    for p in raw(labels)[:LABELS_MAX].split(b";"):
        if not p:
            continue
        k, eq, v = p.partition(b"=")
        key = sanitised(k)
        if key[:1].isdigit() or key.startswith("__") or (TYPES[kind] == "histogram" and key == "le"):
            key = ("x_" if key == "le" else "x") + key
        if not eq or not key or len(pairs) == 4 or key in pairs:
            left += 1
            continue
        pairs[key] = render_label(v.decode("utf-8", "surrogateescape"))
    return frozenset(pairs.items()), left


def declared_bounds(declared, first, ignored):
    """{name as cut: bounds in millionths} of the declarations the collector
    takes, those it ignores counted in ignored: the bounds a name declared
    before its first observation; another type's name, or other bounds, or
    any once observed with the default ones, are ignored."""
    taken = {}
    for r in declared:
        if not r["observed_before"]:
            name = raw(r["name"])[:NAME_MAX]
            assert taken.setdefault(name, r["micros"]) == r["micros"], "order unknown"
    for r in declared:
        name = raw(r["name"])[:NAME_MAX]
        if first.get(name, "histogram") != "histogram":
            ignored["type_conflict"] += r["count"]
        elif taken.get(name) != r["micros"]:
            ignored["buckets_conflict"] += r["count"]
    return {n: m for n, m in taken.items() if first.get(n, "histogram") == "histogram"}


def expected(custom, declared=()):
    """{metric: {labels: value}}, the calls ignored by reason and the label
    pairs left out, from the truth's custom section and declarations."""
    first = {}  # name as cut -> the kind of its first call: counters come first
    for kind in ("counter_add", "gauge_add", "gauge_set", "observe"):
        for r in custom[kind]:
            first.setdefault(raw(r["name"])[:NAME_MAX], TYPES[kind])
    out = collections.defaultdict(collections.Counter)
    ignored = collections.Counter()
    bounds = declared_bounds(declared, first, ignored)
    left = {}
    made = set()  # series: their strings are read at their first call only
    for kind, rows in custom.items():
        for r in rows:
            n = r.get("count", 1)
            cut = ((len(raw(r["name"])) > NAME_MAX) + (len(raw(r["labels"])) > LABELS_MAX))
            if not r["name"]:
                ignored["invalid"] += n
                ignored["truncated"] += n * cut
                continue
            if first[raw(r["name"])[:NAME_MAX]] != TYPES[kind]:
                ignored["type_conflict"] += n
                ignored["truncated"] += n * cut
                continue
            key = (TYPES[kind], raw(r["name"])[:NAME_MAX], raw(r["labels"])[:LABELS_MAX])
            ignored["truncated"] += cut * (key not in made)
            made.add(key)
            f = family(r["name"], kind)
            lbls, left[(f, r["labels"])] = label_set(r["labels"], kind)
            if kind == "observe":
                les = tuple(bounds.get(raw(r["name"])[:NAME_MAX], BOUNDS_MICROS))
                for b in les + (float("inf"),):
                    out[f + "_bucket"][lbls | {("le", le_of(b))}] += n if r["micros"] <= b else 0
                out[f + "_count"][lbls] += n
                out[f + "_sum"][lbls] += n * r["micros"] / 1e6
            else:
                out[f][lbls] += r["value"]
    return out, ignored, sum(left.values())


def le_of(micros):
    return "+Inf" if micros == float("inf") else "%g" % (micros / 1e6)


def check(samples, types, truth):
    want, ignored, left = expected(truth["custom"], truth["custom_declared"])
    got_names = {name for name, _ in samples if name.startswith("aet_custom_")}
    assert got_names == set(want)
    for metric, series in want.items():
        got = by_labels(samples, metric)
        if metric.endswith("_sum"):
            assert set(got) == set(series), metric
            for k, v in series.items():
                assert abs(got[k] - v) < 1e-6 * max(1, abs(v)), (metric, k)
            continue
        # Buckets are cumulative: want counts them with every bound above.
        assert got == dict(series), metric
    for metric in want:
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        assert types.get(base) in ("counter", "gauge", "histogram"), base
    calls = {dict(k)["reason"]: v for k, v in
             by_labels(samples, "aet_collector_custom_calls_total").items()}
    assert calls == {"series_overflow": 0, "name_overflow": 0,
                     "type_conflict": ignored["type_conflict"],
                     "truncated": ignored["truncated"], "invalid": ignored["invalid"],
                     "buckets_conflict": ignored["buckets_conflict"]}
    left_out = {dict(k)["what"]: v for k, v in
                by_labels(samples, "aet_collector_custom_left_out").items()}
    assert left_out == {"label_pairs": left, "series": 0}


def series_kept(custom):
    """The number of series the collector keeps: (type, name, labels) as
    cut, of a name's first type."""
    first, keys = {}, set()
    for kind in ("counter_add", "gauge_add", "gauge_set", "observe"):
        for r in custom[kind]:
            name = raw(r["name"])[:NAME_MAX]
            if name and first.setdefault(name, TYPES[kind]) == TYPES[kind]:
                keys.add((TYPES[kind], name, raw(r["labels"])[:LABELS_MAX]))
    return len(keys)


def test_custom_metrics_match_the_truth(start):
    wl = start.workload("--seed", "11", "--threads", "4", "--tasks", "200")
    col = start.collector(wl.pid)
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    check(samples, types, truth)
    # Each series once, by the library's key, and its key's strings.
    maps = {m["name"]: m["entries"] for m in json.loads(col.get("/status")[2])["custom"]["maps"]}
    kept = series_kept(truth["custom"])
    assert (maps["custom_series"], maps["custom_keys"]) == (kept, kept)
    assert types["aet_custom_tokens_used_total"] == "counter"
    assert types["aet_custom_tokens_left"] == "gauge"
    assert types["aet_custom_tokens_per_request"] == "histogram"
    assert sum(by_labels(samples, "aet_custom_tokens_used_total").values()) == sum(
        r["value"] for r in truth["custom"]["counter_add"])
    assert by_labels(samples, "aet_custom_open_requests") == {frozenset(): 0}
    # The declared buckets, and nothing else, with every observation in them.
    name, micros = DECLARED
    les = {dict(k)["le"] for k in by_labels(samples, "aet_custom_%s_bucket" % name)}
    assert les == {"0.005", "0.1", "0.5", "1", "2.5", "+Inf"}
    assert truth["custom_declared"] == [
        dict(name=name, micros=list(micros), observed_before=False, count=1)]
    count = by_labels(samples, "aet_custom_%s_count" % name)
    assert sum(count.values()) == sum(
        r["count"] for r in truth["custom"]["observe"] if r["name"] == name) > 0


def test_hostile_custom_names_and_labels(start):
    wl = start.workload("--seed", "3", "--tasks", "60", "--hostile-labels")
    col = start.collector(wl.pid)
    truth = wl.go()
    text = col.metrics()
    samples, types = parse_exposition(text)
    check(samples, types, truth)
    calls = {dict(k)["reason"]: v for k, v in
             by_labels(samples, "aet_collector_custom_calls_total").items()}
    assert calls["type_conflict"] > 0 and calls["truncated"] > 0 and calls["invalid"] > 0
    # Each round: other bounds for reply_seconds, and bounds for
    # tokens_per_request, observed already with the default ones.
    assert calls["buckets_conflict"] == 2 * truth["unmatched"]["task"]
    assert (family('tokens used/\u00fc"', "counter_add"), frozenset(
        {("x9key", "v"), ("x__t__", "x"), ("a_b", 'say "hi"\\n'),
         ("bad", "\ufffd\ufffd")})) in samples
    ok, out = promtool_check(text)
    assert ok, out


def test_series_past_the_bounds_are_counted_under_overflow(start):
    wl = start.workload("--seed", "5", "--tasks", "120", "--threads", "2")
    col = start.collector(wl.pid, "--max-series", "3", "--max-custom-names", "2")
    truth = wl.go()
    samples, _ = parse_exposition(col.metrics())
    calls = {dict(k)["reason"]: v for k, v in
             by_labels(samples, "aet_collector_custom_calls_total").items()}
    custom = truth["custom"]
    # Nothing lost: every counter call is in some series, overflow or not.
    counted = sum(v for (name, _), v in samples.items() if name.startswith("aet_custom_")
                  and name.endswith("_total"))
    assert len({r["name"] for rows in custom.values() for r in rows}) > 2
    assert counted == sum(r["value"] for r in custom["counter_add"])
    assert calls["series_overflow"] > 0 and calls["name_overflow"] > 0
    assert any(("series", "__overflow__") in k[1] for k in samples)
    assert len([k for k in samples if k[0].startswith("aet_custom_")
                and ("series", "__overflow__") not in k[1]
                and not k[0].endswith(("_bucket", "_sum", "_count"))]) <= 3


def test_the_family_loads_on_its_own(start):
    wl = start.workload("--seed", "13", "--tasks", "40")
    col = start.collector(wl.pid, "--disable", "probes,files,sqlite,http", "--require", "custom")
    st = json.loads(col.get("/status")[2])
    fams = {f["name"]: f for f in st["families"]}
    assert fams["custom"] == {"name": "custom", "required": True, "disabled": False,
                              "attached": True, "detail": "5 of 5 attached"}
    assert st["custom"]["programs"] == st["custom"]["attached"] == 5
    assert [c["name"] for c in json.loads(col.get("/ready")[2])["checks"]] == [
        "enabled", "target_alive", "custom"]
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    check(samples, types, truth)
    assert not {name for name, _ in samples} & {"aet_tasks_total", "aet_events_total"}


def attached_counter(pid):
    """aet_probe_custom_attached of the libaetprobe.so process pid maps,
    read from its memory: the number of programs on the keyed probes."""
    with open("/proc/%d/maps" % pid) as f:
        start, lib = next((int(line.split("-")[0], 16), line.split()[-1]) for line in f
                          if line.split()[-1].endswith("/libaetprobe.so")
                          and int(line.split()[2], 16) == 0)
    syms = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                          text=True, check=True).stdout
    addr = int(re.search(r"^([0-9a-f]+) D aet_probe_custom_attached$", syms, re.M).group(1), 16)
    with open("/proc/%d/mem" % pid, "rb") as mem:
        mem.seek(start + addr)  # the library's first LOAD is at address 0
        return int.from_bytes(mem.read(2), "little")


def test_custom_calls_cost_a_load_unattached(start):
    """The custom metric functions call their keyed probes only while the
    kernel counts programs on them: none without a collector, or with the
    family disabled, or after it stopped."""
    wl = start.workload("--seed", "5", "--tasks", "20")
    assert attached_counter(wl.pid) == 0
    col = start.collector(wl.pid, "--disable", "custom")
    assert attached_counter(wl.pid) == 0
    col.stop()
    col = start.collector(wl.pid)
    assert attached_counter(wl.pid) == 4
    col.stop()
    wait_until(lambda: attached_counter(wl.pid) == 0, "the counter lowered at detach")
    col = start.collector(wl.pid)
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    check(samples, types, truth)
