"""The uprobe spot (docs/DESIGN.md, 3. The probe ABI): the nop5 at a probe function's entry
or the push %rbp after it, chosen at start by measuring both, or forced by
--uprobe-spot. Counts are exact on either."""
import json

import pytest

from harness import by_labels, parse_exposition


def spot(col):
    return json.loads(col.get("/status")[2])["uprobe_spot"]


def test_calibration_measures_both_spots(start, target):
    col = start.collector(target.pid_)
    s = spot(col)
    print("uprobe spot %s: nop5 %d ns, push %d ns a hit" % (
        s["spot"], s["nop5_hit_ns"], s["push_hit_ns"]))
    assert s["decided_by"] == "calibration"
    assert s["nop5_hit_ns"] > 0 and s["push_hit_ns"] > 0
    assert s["spot"] == ("push" if s["push_hit_ns"] < 0.8 * s["nop5_hit_ns"] else "nop5")
    assert s["offset"] == (5 if s["spot"] == "push" else 0)


@pytest.mark.parametrize("where, offset", [("nop5", 0), ("push", 5)])
def test_counts_are_exact_on_either_spot(start, target, where, offset):
    col = start.collector(target.pid_, "--uprobe-spot", where)
    assert spot(col) == {"spot": where, "offset": offset, "decided_by": "--uprobe-spot",
                         "nop5_hit_ns": 0, "push_hit_ns": 0}
    target.stdin.write("agents 300\nseries 20\n")
    target.stdin.flush()
    assert target.stdout.readline().strip() == "done"
    assert target.stdout.readline().strip() == "done"
    s, _ = parse_exposition(col.metrics())
    assert sum(by_labels(s, "aet_tasks_total").values()) == 300
    assert sum(by_labels(s, "aet_events_total").values()) == 20
