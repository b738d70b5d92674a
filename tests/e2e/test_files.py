"""File operations from syscall tracepoints against the workload's ground truth."""
import json
import os
import subprocess
import time

import pytest

from harness import LIBRARY, by_labels, parse_exposition

OPS = ("open", "read", "write", "fsync", "unlink", "rename", "mkdir", "rmdir")


def file_counts(samples):
    return {(dict(k)["operation"], dict(k)["status"]): v
            for k, v in by_labels(samples, "aet_file_operations_total").items()}


def expected_counts(truth):
    want = {(op, st): 0 for op in OPS for st in ("success", "error")}
    for r in truth["files"]:
        want[(r["operation"], r["status"])] += r["count"]
    return want


@pytest.mark.parametrize("threads", [1, 4])
def test_file_operations_match_ground_truth(start, tmp_path, threads):
    wl = start.workload("--seed", "11", "--threads", str(threads), "--tasks", "200")
    registry = os.path.join(str(tmp_path), "work", "registry")
    assert os.path.isdir(registry)
    col = start.collector(wl.pid, "--file-root", registry)
    truth = wl.go()
    samples, types = parse_exposition(col.metrics())
    assert types["aet_file_operations_total"] == "counter"
    # The interpreter's imports, .pyc reads, /proc and the knowledge base
    # are outside the root: only the registry counts.
    assert file_counts(samples) == expected_counts(truth)
    for op in ("read", "write"):
        want = sum(r["bytes"] for r in truth["files"] if r["operation"] == op)
        assert samples[("aet_file_bytes_total", frozenset({("operation", op)}))] == want
    errors = {r["operation"] for r in truth["files"] if r["status"] == "error"}
    assert {"open", "unlink"} <= errors  # the deliberate ones
    for op in OPS:
        n = sum(v for (o, _), v in file_counts(samples).items() if o == op)
        assert samples[("aet_file_operation_seconds_count", frozenset({("operation", op)}))] == n


def test_child_processes_are_followed(start, tmp_path):
    """A child the target forks is observed like it; its exit lets it go."""
    root = tmp_path / "root"
    root.mkdir()
    script = (
        "import ctypes, os, sys, time\n"
        "probe = ctypes.CDLL(None).aet_probe_event  # preloaded libaetprobe.so\n"
        "sys.stdout.write('READY %d\\n' % os.getpid()); sys.stdout.flush(); sys.stdin.readline()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    fd = os.open(sys.argv[1] + '/child', os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "    os.write(fd, b'x' * 10); os.close(fd); probe(b'child_event'); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "probe(b'parent_event')\n"
        "fd = os.open(sys.argv[1] + '/parent', os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "os.write(fd, b'y' * 7); os.close(fd)\n"
        "sys.stdout.write('done\\n'); sys.stdout.flush(); sys.stdin.readline()\n")
    p = subprocess.Popen(["/usr/bin/python3", "-c", script, str(root)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, LD_PRELOAD=LIBRARY))
    try:
        pid = int(p.stdout.readline().split()[1])
        col = start.collector(pid, "--file-root", str(root))
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "done"
        samples, _ = parse_exposition(col.metrics())
        counts = file_counts(samples)
        assert counts[("open", "success")] == 2
        assert counts[("write", "success")] == 2
        assert samples[("aet_file_bytes_total", frozenset({("operation", "write")}))] == 17
        # The probe functions are observed in the child too.
        assert by_labels(samples, "aet_events_total") == {
            frozenset({("event_type", "child_event")}): 1,
            frozenset({("event_type", "parent_event")}): 1}
        # The child has exited: only the target is followed.
        time.sleep(0.2)
        samples, _ = parse_exposition(col.metrics())
        assert samples[("aet_collector_followed_processes", frozenset())] == 1
    finally:
        p.kill()
        p.communicate()


def test_tracefs_not_mounted(start):
    """These hosts boot without tracefs: the collector mounts it itself."""
    wl = start.workload("--tasks", "10")
    # A private mount namespace where tracefs is not mounted.
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'umount /sys/kernel/tracing 2>/dev/null; '
            'test ! -e /sys/kernel/tracing/events && exec "$@"', "sh"]
    col = start.collector(wl.pid, wrap=wrap)
    st = json.loads(col.get("/status")[2])
    assert st["files"]["tracefs"] == "mounted by the collector"
    assert st["files"]["attached"] == st["files"]["programs"] > 0
    wl.go()
    assert col.stop()[0] == 0
