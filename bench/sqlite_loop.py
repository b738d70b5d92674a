#!/usr/bin/python3
"""bench: executes one cached SQLite statement in a loop; prints ns per execution.

Prints "ready PID", then for each line "N" on stdin runs N executions of
"SELECT ?" (prepared once through Python's statement cache, one row read)
and prints "exec NS".
"""
import sqlite3
import sys
import time

db = sqlite3.connect(":memory:", isolation_level=None)
print("ready %d" % __import__("os").getpid(), flush=True)
for line in sys.stdin:
    n = int(line)
    t0 = time.perf_counter_ns()
    for i in range(n):
        db.execute("SELECT ?", (i,)).fetchall()
    print("exec %.1f" % ((time.perf_counter_ns() - t0) / n), flush=True)
