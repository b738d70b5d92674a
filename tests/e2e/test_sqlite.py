"""SQLite executions from uprobes on libsqlite3 against the workload's ground truth."""
import json
import os
import subprocess
import time

import pytest

from harness import LIBRARY, by_labels, parse_exposition

VERBS = ("select", "insert", "update", "delete", "begin", "commit", "rollback", "other")


def db_counts(samples):
    return {(dict(k)["operation"], dict(k)["status"]): v
            for k, v in by_labels(samples, "aet_db_operations_total").items()}


@pytest.mark.parametrize("threads", [1, 4])
def test_executions_match_ground_truth(start, threads):
    wl = start.workload("--seed", "13", "--threads", str(threads), "--tasks", "200")
    col = start.collector(wl.pid)
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    want = {(v, st): 0 for v in VERBS for st in ("success", "error")}
    for r in truth["sql"]:
        want[(r["operation"], r["status"])] += r["count"]
    # Statements prepared once and executed many times count every execution;
    # a select stepping over many rows counts once; the failing insert is an error.
    assert db_counts(samples) == want
    assert want[("insert", "error")] >= 1 and want[("rollback", "success")] >= 1
    assert types["aet_db_operation_seconds"] == "histogram"
    for v in VERBS:
        n = want[(v, "success")] + want[(v, "error")]
        assert samples[("aet_db_operation_seconds_count", frozenset({("operation", v)}))] == n
        inf = ("aet_db_operation_seconds_bucket", frozenset({("operation", v), ("le", "+Inf")}))
        assert samples[inf] == n


def test_target_without_sqlite_is_observed_for_the_rest(start):
    """No libsqlite3 in the target: a warning, SQLite unobserved, the rest runs."""
    p = subprocess.Popen(["sleep", "60"], env=dict(os.environ, LD_PRELOAD=LIBRARY))
    try:
        time.sleep(0.2)
        col = start.collector(p.pid)
        assert col.get("/ready")[0] == 200
        st = json.loads(col.get("/status")[2])["sqlite"]
        assert st["library"] is None and "libsqlite3.so" in st["error"]
        samples, _ = parse_exposition(col.metrics())
        assert not by_labels(samples, "aet_db_operations_total")
        code, err = col.stop()
        assert code == 0
        assert "warn: process %d has not loaded libsqlite3.so" % p.pid in err
    finally:
        p.kill()
        p.wait()
