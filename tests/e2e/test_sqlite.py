"""SQLite operations from uprobes on libsqlite3, against what the target did."""
import collections
import json
import os
import shutil
import subprocess
import sys

import pytest

from harness import LIBRARY, PYTHON, by_labels, parse_exposition, python_library, wait_loaded

VERBS = ("select", "insert", "update", "delete", "begin", "commit", "rollback", "other")
STATUSES = ("success", "error")
BUCKETS = 17


def db_counts(samples):
    """{(operation, status): count} of aet_db_operations_total."""
    return {(dict(k)["operation"], dict(k)["status"]): v
            for k, v in by_labels(samples, "aet_db_operations_total").items()}


def check_exact(samples, want):
    """want: {(operation, status): count}, zeros left out. Every verb and
    status is a series; the nonzero ones are exactly want; each verb that ran
    has a histogram whose count is its executions."""
    want = {k: n for k, n in want.items() if n}
    got = db_counts(samples)
    assert set(got) == {(v, st) for v in VERBS for st in STATUSES}
    assert {k: n for k, n in got.items() if n} == want
    per_verb = collections.Counter()
    for (verb, _), n in want.items():
        per_verb[verb] += n
    counts = {dict(k)["operation"]: v
              for k, v in by_labels(samples, "aet_db_operation_seconds_count").items()}
    assert counts == dict(per_verb)
    buckets = collections.defaultdict(list)
    for (name, lbls), v in samples.items():
        if name == "aet_db_operation_seconds_bucket":
            d = dict(lbls)
            buckets[d["operation"]].append((float(d["le"]), v))
    assert set(buckets) == set(per_verb)
    sums = {dict(k)["operation"]: v
            for k, v in by_labels(samples, "aet_db_operation_seconds_sum").items()}
    for verb, series in buckets.items():
        series.sort()
        assert len(series) == BUCKETS
        assert [v for _, v in series] == sorted(v for _, v in series), "not cumulative"
        assert series[-1] == (float("inf"), per_verb[verb])
        assert 0 < sums[verb] < 60 * per_verb[verb], verb


def sqlite_status(col):
    status, _, body = col.get("/status")
    assert status == 200
    return json.loads(body)["sqlite"]


@pytest.mark.parametrize("threads", [1, 4])
def test_operations_match_ground_truth(start, threads):
    wl = start.workload("--seed", "13", "--threads", str(threads), "--tasks", "200")
    col = start.collector(wl.pid)
    st = sqlite_status(col)
    assert "libsqlite3.so" in st["library"]
    assert all(p["attached"] for p in st["probes"]), st
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    assert types["aet_db_operations_total"] == "counter"
    assert types["aet_db_operation_seconds"] == "histogram"
    want = collections.Counter()
    for r in truth["sql"]:
        want[(r["operation"], r["status"])] += r["count"]
    # Python prepares each statement once and executes it many times; a
    # select steps over its rows; the orphan insert of every round fails.
    assert want[("insert", "error")] >= 1 and want[("rollback", "success")] >= 1
    assert want[("select", "success")] > 100
    check_exact(samples, dict(want))
    st = sqlite_status(col)
    # The work's statements were all prepared after the collector attached.
    assert st["unprepared_statements"] == 0 and st["untracked_calls"] == 0, st
    code, err = col.stop()
    assert code == 0, err


# Runs after the collector attached, one kind of operation at a time; what
# each line adds is in EXPECTED. SQLite and the sqlite3 module decide how a
# call maps to prepares, steps and resets; the counts must not depend on it.
SCRIPT = r'''
import os, sqlite3, sys
path = sys.argv[1]
db = sqlite3.connect(path, isolation_level=None)
db.execute("CREATE TABLE t (a INTEGER NOT NULL)").fetchall()
db.execute("SELECT count(*) FROM t").fetchall()  # prepared before the collector
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
for _ in range(3):
    db.execute("SELECT count(*) FROM t").fetchall()  # cached: its verb from its text
db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(50)])
db.execute("SELECT a FROM t").fetchall()  # 50 rows, one operation
cur = db.execute("SELECT a FROM t")
cur.fetchone()
cur.close()  # rows left unread: the reset ends it
try:
    db.execute("INSERT INTO t VALUES (NULL)")
except sqlite3.IntegrityError:
    pass
try:
    db.execute("SELECT * FROM missing")  # fails to prepare
except sqlite3.OperationalError:
    pass
db.execute("BEGIN")
db.execute("UPDATE t SET a = a + 1 WHERE a < 10")
db.execute("COMMIT")
db.execute("begin")
db.execute("DELETE FROM t WHERE a > 40")
db.execute("ROLLBACK")
db.execute("BEGIN")
db.execute("END")
db.execute("REPLACE INTO t VALUES (7)")
db.execute("  -- a comment\n  /* another */ select 1").fetchall()
db.execute("WITH x AS (SELECT 1) SELECT * FROM x").fetchall()
db.execute("PRAGMA user_version").fetchall()
db.executescript("INSERT INTO t VALUES (1); UPDATE t SET a = 2 WHERE a = 1;"
                 " DELETE FROM t WHERE a = 2;")
# A new connection reads the schema with statements of SQLite's own.
db2 = sqlite3.connect(path, isolation_level=None)
db2.execute("SELECT count(*) FROM t").fetchall()
db2.close()
print("DONE", flush=True)
sys.stdin.readline()
'''

EXPECTED = {
    ("other", "success"): 2,  # WITH and PRAGMA
    ("insert", "success"): 50 + 1 + 1,  # executemany, REPLACE, executescript
    ("insert", "error"): 1,
    ("select", "success"): 3 + 1 + 1 + 1 + 1,  # cached, all rows, one row, the comment, db2
    ("select", "error"): 1,
    ("begin", "success"): 3,
    ("update", "success"): 1 + 1,
    ("delete", "success"): 1 + 1,
    ("commit", "success"): 2,  # COMMIT and END
    ("rollback", "success"): 1,
}


class Script:
    """A Python script as the target: prints READY, waits for a line, works,
    prints DONE and waits for a line again."""

    def __init__(self, source, *args, env=None):
        e = dict(os.environ, LD_PRELOAD=LIBRARY)
        e.update(env or {})
        self.proc = subprocess.Popen([PYTHON, "-c", source, *args], env=e, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.kill()
            raise AssertionError("target did not start: %r" % line)
        self.pid = self.proc.pid

    def run(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "DONE\n"

    def end(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("end\n")
            self.proc.stdin.flush()
            assert self.proc.wait(10) == 0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def test_each_execution_counts_once(start, tmp_path):
    target = Script(SCRIPT, str(tmp_path / "db.sqlite"))
    start.stops.append(target.kill)
    col = start.collector(target.pid)
    target.run()
    samples, _ = parse_exposition(col.metrics())
    check_exact(samples, EXPECTED)
    st = sqlite_status(col)
    assert st["unprepared_statements"] == 1, st  # the cached count
    assert st["unprepared_verbs_read"] == 1, st
    assert isinstance(st["sql_text_offset"], int), st
    assert st["nested_calls"] > 0, st  # the schema read of db2
    target.end()


# The C API through ctypes, for what Python's sqlite3 module never does.
CAPI = r'''
import ctypes, os, sys
from ctypes import byref, c_char_p, c_int, c_uint, c_void_p
lib = ctypes.CDLL("libsqlite3.so.0")
lib.sqlite3_open.argtypes = (c_char_p, ctypes.POINTER(c_void_p))
for name in ("sqlite3_prepare", "sqlite3_prepare_v2"):
    getattr(lib, name).argtypes = (c_void_p, c_char_p, c_int, ctypes.POINTER(c_void_p), c_void_p)
lib.sqlite3_prepare_v3.argtypes = (c_void_p, c_char_p, c_int, c_uint, ctypes.POINTER(c_void_p),
                                   c_void_p)
lib.sqlite3_step.argtypes = lib.sqlite3_finalize.argtypes = (c_void_p,)
db, stmt = c_void_p(), c_void_p()
assert lib.sqlite3_open(b":memory:", byref(db)) == 0
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
steps = []
assert lib.sqlite3_prepare_v3(db, b"SELECT 1 WHERE 0", -1, 0, byref(stmt), None) == 0
for _ in range(5):  # done each time: the next step resets it itself
    steps.append(lib.sqlite3_step(stmt))
lib.sqlite3_finalize(stmt)
# nByte ends the text before what would not prepare.
assert lib.sqlite3_prepare_v2(db, b"select 1 ) garbage", 8, byref(stmt), None) == 0
steps += [lib.sqlite3_step(stmt), lib.sqlite3_step(stmt)]
lib.sqlite3_finalize(stmt)
# Fails at its step: integer overflow.
assert lib.sqlite3_prepare_v2(db, b"SELECT abs(-9223372036854775808)", -1, byref(stmt),
                              None) == 0
steps.append(lib.sqlite3_step(stmt))
lib.sqlite3_finalize(stmt)
# The legacy prepare is not probed: its statement's verb comes from the
# text the statement keeps, at its first step. A row is left unread: the
# finalize ends the execution.
assert lib.sqlite3_prepare(db, b"SELECT 2", -1, byref(stmt), None) == 0
steps.append(lib.sqlite3_step(stmt))
lib.sqlite3_finalize(stmt)
assert steps == [101] * 5 + [100, 101, 1, 100], steps
print("DONE", flush=True)
sys.stdin.readline()
'''


def test_c_api(start):
    target = Script(CAPI)
    start.stops.append(target.kill)
    col = start.collector(target.pid)
    target.run()
    samples, _ = parse_exposition(col.metrics())
    check_exact(samples, {("select", "success"): 7, ("select", "error"): 1})
    st = sqlite_status(col)
    assert st["unprepared_statements"] == st["unprepared_verbs_read"] == 1, st
    # The resets sqlite3_step() makes of a done statement end its executions.
    assert st["nested_calls"] == 0, st
    target.end()


def select_seconds(samples):
    return by_labels(samples, "aet_db_operation_seconds_sum")[frozenset({("operation", "select")})]


ROWS = r'''
import os, sqlite3, sys, time
db = sqlite3.connect(":memory:", isolation_level=None)
db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)")
db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
db.create_function("slow", 1, lambda a: time.sleep(0.05) or a)
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
assert len(db.execute("SELECT a FROM t").fetchall()) == 1000  # one operation
cur = db.execute("SELECT a FROM t WHERE a < ?", (500,))
cur.fetchone()
cur.close()  # abandoned: its reset ends it
time.sleep(0.3)  # between executions: no operation's time
cur = db.execute("SELECT a FROM t WHERE a < ?", (500,))
cur.fetchone()
assert len(db.execute("SELECT a FROM t WHERE a < ?", (500,)).fetchall()) == 500
del cur  # abandoned, not closed: reset when the cursor goes
try:
    db.execute("INSERT INTO t VALUES (5)")  # SQLITE_CONSTRAINT, at its step
except sqlite3.IntegrityError:
    pass
db.execute("SELECT slow(a) FROM t WHERE a < 4").fetchall()  # 0.2 s
print("DONE", flush=True)
sys.stdin.readline()
'''


def test_execution_counts_once_whatever_its_rows(start):
    """1000 rows, cursors abandoned, a constraint violation: one operation
    each, timed from its start (bind_parameter_count) to its reset, and no
    probe on sqlite3_step(): nothing is paid per row."""
    target = Script(ROWS)
    start.stops.append(target.kill)
    col = start.collector(target.pid)
    st = sqlite_status(col)
    assert isinstance(st["stmt_state_offset"], int), st
    assert "sqlite3_step" not in [p["name"] for p in st["probes"]], st
    assert all(p["attached"] for p in st["probes"]), st
    target.run()
    samples, _ = parse_exposition(col.metrics())
    check_exact(samples, {("select", "success"): 5, ("insert", "error"): 1})
    # The slow select's 0.2 s, and not the 0.3 s between two executions.
    assert 0.2 <= select_seconds(samples) < 0.29, select_seconds(samples)
    target.end()


# A C caller that never asks for the parameter count: an execution runs
# from when the statement became ready (its prepare, the reset before).
CTIME = r'''
import ctypes, os, sys, time
from ctypes import byref, c_char_p, c_int, c_void_p
lib = ctypes.CDLL("libsqlite3.so.0")
lib.sqlite3_open.argtypes = (c_char_p, ctypes.POINTER(c_void_p))
lib.sqlite3_prepare_v2.argtypes = (c_void_p, c_char_p, c_int, ctypes.POINTER(c_void_p), c_void_p)
lib.sqlite3_step.argtypes = lib.sqlite3_reset.argtypes = lib.sqlite3_finalize.argtypes = (c_void_p,)
db, stmt = c_void_p(), c_void_p()
assert lib.sqlite3_open(b":memory:", byref(db)) == 0
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
assert lib.sqlite3_prepare_v2(db, b"SELECT 1", -1, byref(stmt), None) == 0
time.sleep(0.2)
assert lib.sqlite3_step(stmt) == 100
assert lib.sqlite3_reset(stmt) == 0
assert lib.sqlite3_reset(stmt) == 0  # not run since: not an operation
time.sleep(0.1)
assert lib.sqlite3_step(stmt) == 100
assert lib.sqlite3_step(stmt) == 101
assert lib.sqlite3_finalize(stmt) == 0
print("DONE", flush=True)
sys.stdin.readline()
'''


def test_c_caller_is_timed_from_ready(start):
    target = Script(CTIME)
    start.stops.append(target.kill)
    col = start.collector(target.pid)
    target.run()
    samples, _ = parse_exposition(col.metrics())
    check_exact(samples, {("select", "success"): 2})
    assert 0.3 <= select_seconds(samples) < 0.39, select_seconds(samples)
    target.end()


# Statements SQLite runs inside its own (VACUUM copies the database with
# statements it prepares, steps and finalizes inside the VACUUM's step) are
# not the application's. The target has no probe library: with the probes
# family disabled, any program is a target.
VACUUM = r'''
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("CREATE TABLE t(a, b)")
db.execute("CREATE INDEX ti ON t(b)")
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
db.executemany("INSERT INTO t VALUES (?, ?)", ((i, str(i)) for i in range(100)))
db.execute("VACUUM")
db.execute("DELETE FROM t WHERE a < 50")
db.execute("VACUUM")
assert len(db.execute("SELECT * FROM t").fetchall()) == 50
print("DONE", flush=True)
sys.stdin.readline()
'''


def test_sqlites_own_statements_are_not_counted(start, tmp_path):
    target = Script(VACUUM, str(tmp_path / "v.db"), env={"LD_PRELOAD": ""})
    start.stops.append(target.kill)
    col = start.collector(target.pid, "--disable", "probes")
    target.run()
    samples, _ = parse_exposition(col.metrics())
    check_exact(samples, {("insert", "success"): 100, ("other", "success"): 2,
                          ("delete", "success"): 1, ("select", "success"): 1})
    target.end()


REPLACED = r'''
import os, shutil, sqlite3, sys
db = sqlite3.connect(":memory:", isolation_level=None)
os.unlink(sys.argv[1])  # replaced on disk while mapped, as a package upgrade does
shutil.copy(sys.argv[2], sys.argv[1])
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
for i in range(7):
    db.execute("SELECT ?", (i,)).fetchall()
print("DONE", flush=True)
sys.stdin.readline()
'''


def test_library_replaced_on_disk_is_still_observed(start, tmp_path):
    system = python_library("sqlite3", "libsqlite3.so")
    libdir = tmp_path / "lib"
    libdir.mkdir()
    copy = libdir / "libsqlite3.so.0"
    shutil.copy(system, copy)
    target = Script(REPLACED, str(copy), system, env={"LD_LIBRARY_PATH": str(libdir)})
    start.stops.append(target.kill)
    with open("/proc/%d/maps" % target.pid) as f:
        assert "%s (deleted)" % copy in f.read()
    col = start.collector(target.pid)
    st = sqlite_status(col)
    assert st["deleted"] is True and "/map_files/" in st["library"], st
    assert all(p["attached"] for p in st["probes"]), st
    target.run()
    samples, _ = parse_exposition(col.metrics())
    check_exact(samples, {("select", "success"): 7})
    target.end()


def test_target_without_sqlite_is_observed_for_the_rest(start):
    """No libsqlite3 in the target: a warning, SQLite unobserved, the rest runs."""
    p = subprocess.Popen(["sleep", "60"], env=dict(os.environ, LD_PRELOAD=LIBRARY))
    start.stops.append(lambda: (p.kill(), p.wait()))
    wait_loaded(p.pid, "libaetprobe.so", "sleep")
    col = start.collector(p.pid)
    assert col.get("/ready")[0] == 200
    st = sqlite_status(col)
    assert st["library"] is None and st["probes"] == [], st
    assert "has not loaded libsqlite3.so" in st["error"], st
    samples, _ = parse_exposition(col.metrics())
    assert not by_labels(samples, "aet_db_operations_total")
    code, err = col.stop()
    assert code == 0, err
    assert "process %d has not loaded libsqlite3.so" % p.pid in err, err


if __name__ == "__main__":
    sys.exit("run with pytest (make test)")
