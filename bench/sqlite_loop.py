#!/usr/bin/python3
"""bench: executes one cached SQLite select in a loop; prints ns per execution.

Prints "ready PID", then for each line "N ROWS" on stdin runs N executions
of "SELECT x FROM t LIMIT ?" (prepared once through Python's statement
cache) reading all of its ROWS rows (1 to 1000), and prints "exec NS".
"""
import os
import sqlite3
import sys
import time

db = sqlite3.connect(":memory:", isolation_level=None)
db.execute("CREATE TABLE t(x INTEGER PRIMARY KEY)")
db.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(1000)))
print("ready %d" % os.getpid(), flush=True)
for line in sys.stdin:
    n, rows = map(int, line.split())
    t0 = time.perf_counter_ns()
    for i in range(n):
        db.execute("SELECT x FROM t LIMIT ?", (rows,)).fetchall()
    print("exec %.1f" % ((time.perf_counter_ns() - t0) / n), flush=True)
