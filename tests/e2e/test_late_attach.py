"""A collector attached late, against the workload's ground truth.

The other tests attach before the workload's first statement and first open.
Here the workload (--warm) has worked before the collector comes: its
knowledge base open, every statement of its work prepared and in Python's
sqlite3 statement cache, files open (one through two descriptors, a dup),
and a child process holding the only descriptor of a file, inherited. After
the attach it goes on with all of them, and /metrics must be exactly what it
did after the go line: file operations and bytes through the descriptors
opened before, SQL executions of the cached statements by their real verb,
tasks, requests, cycles and events.

The file roots are the registry and the held files' directory: as in
test_files.py, the knowledge base's own page I/O (kb.sqlite, its -wal and
-shm) is outside them, and outside the truth.
"""
import collections
import json
import os
import select
import subprocess
import sys

import pytest

from harness import (LIBRARY, PYTHON, WORKLOAD, by_labels, fd_links, labels,
                     parse_exposition)

OPS = ("open", "read", "write", "fsync", "unlink", "rename", "mkdir", "rmdir")
VERBS = ("select", "insert", "update", "delete", "begin", "commit", "rollback", "other")
STATUSES = ("success", "error")
TASK_STATUSES = ("success", "failure", "timeout", "cancelled")
WARM_TIMEOUT = 120  # seconds for the warm-up rounds, and for the measured ones


class LateWorkload:
    """The reference workload with --warm: started, warmed up, and held at
    "WARM <pid>" until go()."""

    def __init__(self, tmp_path, *args):
        self.truth_path = os.path.join(str(tmp_path), "truth.json")
        self.dir = os.path.join(str(tmp_path), "work")
        cmd = [PYTHON, WORKLOAD, "--truth", self.truth_path, "--dir", self.dir, *args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, AETPROBE_LIBRARY=LIBRARY))
        line = self._line(WARM_TIMEOUT)
        assert line.startswith("WARM "), "workload did not warm up: %r %s" % (
            line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.pid = int(line.split()[1])

    def _line(self, timeout):
        """Its next line on stdout, within timeout seconds."""
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            self.kill()
            raise AssertionError("workload printed no WARM line in %d s" % timeout)
        return self.proc.stdout.readline()

    def children(self):
        with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
            return [int(c) for c in f.read().split()]

    def go(self, timeout=WARM_TIMEOUT):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("workload not done %d s after the go line" % timeout)
        assert self.proc.returncode == 0, "workload failed: %s" % err
        with open(self.truth_path) as f:
            return json.load(f)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def open_files(pid):
    """{descriptor: path} of the regular files process pid has open."""
    return {fd: path for fd, path in fd_links(pid).items() if path.startswith("/")}


def expected(rows, key, value=lambda r: r["count"]):
    """Truth rows summed by key(row), as the collector merges them."""
    out = collections.Counter()
    for r in rows:
        out[key(r)] += value(r)
    return out


def number(v):
    return "%d" % v if v == int(v) else "%g" % v


def differences(name, got, want):
    """Lines naming each series of name whose value is not the truth's."""
    return ["%s%s: %s, truth %s" % (name, dict(sorted(k)), number(got.get(k, 0)),
                                    number(want.get(k, 0)))
            for k in sorted(set(got) | set(want), key=lambda k: sorted(k))
            if got.get(k, 0) != want.get(k, 0)]


def check_truth_is_late(truth):
    """The truth holds what makes the attach late, so that a collector that
    misses it fails: I/O through each descriptor opened before the attach
    (the dup and the child's inherited one too) and SQL of real verbs only."""
    held = expected(truth["held"], lambda r: (r["file"], r["operation"], r["status"]))
    for file, operation in (("events.log", "write"), ("events.log", "fsync"),
                            ("state", "write"), ("state", "fsync"), ("state", "read"),
                            ("corpus", "read"), ("child.out", "write"),
                            ("child.out", "fsync"), ("child.out", "read")):
        assert held[file, operation, "success"] > 0, (file, operation, truth["held"])
    assert not any(r["status"] == "error" for r in truth["held"]), truth["held"]
    sql = expected(truth["sql"], lambda r: (r["operation"], r["status"]))
    assert set(op for op, _ in sql) <= set(VERBS) - {"other"}, sql
    for verb in ("select", "insert", "update", "delete", "begin", "commit", "rollback"):
        assert sql[verb, "success"] > 0, (verb, sql)
    assert sql["insert", "error"] > 0, sql  # the orphan of each round


def mismatches(samples, truth):
    """Every series of the compared families that is not the truth's."""
    out = []
    # Files: every (operation, status), zeros too; bytes of reads and writes.
    want = {labels(operation=op, status=st): 0 for op in OPS for st in STATUSES}
    want.update(expected(truth["files"], lambda r: labels(operation=r["operation"],
                                                          status=r["status"])))
    out += differences("aet_file_operations_total",
                       by_labels(samples, "aet_file_operations_total"), want)
    got = by_labels(samples, "aet_file_bytes_total")
    want = expected(truth["files"], lambda r: labels(operation=r["operation"]),
                    lambda r: r["bytes"])
    out += differences("aet_file_bytes_total",
                       {k: v for k, v in got.items() if dict(k)["operation"] in ("read", "write")},
                       {k: want.get(k, 0) for k in (labels(operation="read"),
                                                    labels(operation="write"))})
    per_op = expected(truth["files"], lambda r: labels(operation=r["operation"]))
    out += differences("aet_file_operation_seconds_count",
                       by_labels(samples, "aet_file_operation_seconds_count"),
                       {labels(operation=op): per_op.get(labels(operation=op), 0) for op in OPS})
    # SQL: every (verb, status), zeros too, "other" among them.
    want = {labels(operation=v, status=st): 0 for v in VERBS for st in STATUSES}
    want.update(expected(truth["sql"], lambda r: labels(operation=r["operation"],
                                                        status=r["status"])))
    out += differences("aet_db_operations_total",
                       by_labels(samples, "aet_db_operations_total"), want)
    per_verb = expected(truth["sql"], lambda r: labels(operation=r["operation"]))
    out += differences("aet_db_operation_seconds_count",
                       by_labels(samples, "aet_db_operation_seconds_count"), per_verb)
    # The probes: tasks, requests, cycles, events, the deliberate unmatched ends.
    out += differences("aet_tasks_total", by_labels(samples, "aet_tasks_total"), expected(
        truth["tasks"], lambda r: labels(status=r["status"], mode=r["mode"], agent=r["agent"])))
    out += differences("aet_agent_requests_total", by_labels(samples, "aet_agent_requests_total"),
                       expected(truth["agent_requests"],
                                lambda r: labels(agent=r["agent"], operation=r["operation"])))
    cycles = {labels(status=s): 0 for s in TASK_STATUSES}
    cycles.update(expected(truth["cycles"], lambda r: labels(status=r["status"])))
    out += differences("aet_cycles_total", by_labels(samples, "aet_cycles_total"), cycles)
    out += differences("aet_events_total", by_labels(samples, "aet_events_total"),
                       expected(truth["events"], lambda r: labels(event_type=r["event_type"])))
    out += differences("aet_collector_unmatched_total",
                       by_labels(samples, "aet_collector_unmatched_total"),
                       {labels(kind=k): truth["unmatched"].get(k, 0)
                        for k in ("cycle", "task", "agent", "span")})
    return out


@pytest.mark.parametrize("threads", [1, 4])
def test_late_attach_counts_exactly_what_follows(start, threads):
    wl = LateWorkload(start.tmp_path, "--warm", "1", "--seed", "17", "--threads", str(threads),
                      "--tasks", "200")
    start.stops.append(wl.kill)
    registry, held = os.path.join(wl.dir, "registry"), os.path.join(wl.dir, "held")

    # What a collector attaching now finds: the knowledge base, the held
    # files (the state file twice: its dup), and a child that alone holds
    # child.out, by inheritance.
    mine = open_files(wl.pid)
    paths = collections.Counter(mine.values())
    assert paths[os.path.join(wl.dir, "kb.sqlite")] >= 1, mine
    for name, n in (("events.log", 1), ("state", 2), ("corpus", 1)):
        assert paths[os.path.join(held, name)] == n, (name, mine)
    child_out = os.path.join(held, "child.out")
    assert paths[child_out] == 0, mine
    children = wl.children()
    assert len(children) == 1, children
    assert child_out in open_files(children[0]).values()

    col = start.collector(wl.pid, "--file-root", registry, "--file-root", held)
    st = json.loads(col.get("/status")[2])
    assert st["files"]["attached"] == st["files"]["programs"] > 0, st["files"]
    assert st["sqlite"]["probes"] and all(p["attached"] for p in st["sqlite"]["probes"]), \
        st["sqlite"]
    truth = wl.go()
    assert truth["held_dir"] == held and truth["warm_rounds"] == 1
    assert sum(r["count"] for r in truth["tasks"]) == 200
    check_truth_is_late(truth)

    samples, types = parse_exposition(col.metrics())
    assert types["aet_file_operations_total"] == types["aet_db_operations_total"] == "counter"
    wrong = mismatches(samples, truth)
    assert not wrong, "%d series differ from what the workload did after the attach:\n%s" % (
        len(wrong), "\n".join(wrong))
    code, err = col.stop()
    assert code == 0, err


if __name__ == "__main__":
    sys.exit("run with pytest (make test)")
