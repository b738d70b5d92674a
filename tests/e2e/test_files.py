"""File operations from syscall tracepoints against the workload's ground truth."""
import json
import os
import subprocess

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
        # The child has exited: only the target is followed. Nothing to wait
        # for: its exit was seen (sched_process_exit) before it could be
        # reaped, and the target reaped it before "done".
        samples, _ = parse_exposition(col.metrics())
        assert samples[("aet_collector_followed_processes", frozenset())] == 1
    finally:
        p.kill()
        p.communicate()


# Reads through descriptors below 64 while the process's descriptor table
# is the one inside its files_struct, and after it grew: 100 files open at
# once, under the root and outside it. Each read counts where its file is.
GROWN = r'''
import os, sys
root, other = sys.argv[1], sys.argv[2]
def fill(d, n):
    for i in range(n):
        with open(os.path.join(d, "f%d" % i), "wb") as f:
            f.write(b"x" * (i + 1))
fill(root, 50)
fill(other, 50)
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
low = os.open(os.path.join(root, "f9"), os.O_RDONLY)  # below 64, table not grown
assert low < 64 and os.read(low, 100) == b"x" * 10
fds = [os.open(os.path.join(d, "f%d" % i), os.O_RDONLY) for d in (root, other) for i in range(50)]
assert max(fds) >= 64
for fd in fds:
    os.read(fd, 100)
os.pread(low, 100, 0)  # below 64, the table grown
os.close(low)  # its number again, for a file outside the root: the table
again = os.open(os.path.join(other, "f0"), os.O_RDONLY)  # inside files_struct is stale
assert again == low and os.read(again, 100) == b"x"
free = os.dup(0)  # the lowest free number, read while free, then a dup's
os.close(free)
try:
    os.read(free, 1)
except OSError:
    pass
assert os.dup(fds[0]) == free and os.pread(free, 100, 0) == b"x"
print("DONE", flush=True)
sys.stdin.readline()
'''


def test_descriptors_above_64_and_a_grown_table(start, tmp_path):
    root, other = tmp_path / "root", tmp_path / "other"
    root.mkdir()
    other.mkdir()
    p = subprocess.Popen(["/usr/bin/python3", "-c", GROWN, str(root), str(other)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, LD_PRELOAD=LIBRARY))
    try:
        pid = int(p.stdout.readline().split()[1])
        col = start.collector(pid, "--file-root", str(root))
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "DONE"
        samples, _ = parse_exposition(col.metrics())
        counts = file_counts(samples)
        assert counts[("open", "success")] == 1 + 50
        assert counts[("read", "success")] == 1 + 50 + 1 + 1
        assert samples[("aet_file_bytes_total", frozenset({("operation", "read")}))] == \
            10 + sum(range(1, 51)) + 10 + 1
    finally:
        p.kill()
        p.communicate()


# A file's place is where it lies: reached across a mount below the root
# (a bind mount of a directory elsewhere) it is under the root; reached
# through a symbolic link under the root, it lies elsewhere (its open counts
# by its path, its reads not).
PLACES = r'''
import os, sys
root = sys.argv[1]
print("READY %d" % os.getpid(), flush=True)
sys.stdin.readline()
with open(os.path.join(root, "mnt", "in"), "rb") as f:
    assert f.read() == b"mounted"
with open(os.path.join(root, "link"), "rb") as f:
    assert f.read() == b"elsewhere!"
print("DONE", flush=True)
sys.stdin.readline()
'''


def test_a_file_is_where_it_lies(start, tmp_path):
    root, other, below = tmp_path / "root", tmp_path / "other", tmp_path / "below"
    for d in (root, root / "mnt", other, below):
        d.mkdir()
    (below / "in").write_bytes(b"mounted")
    (other / "file").write_bytes(b"elsewhere!")
    (root / "link").symlink_to(other / "file")
    subprocess.run(["mount", "--bind", str(below), str(root / "mnt")], check=True)
    p = None
    try:
        p = subprocess.Popen(["/usr/bin/python3", "-c", PLACES, str(root)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, LD_PRELOAD=LIBRARY))
        pid = int(p.stdout.readline().split()[1])
        col = start.collector(pid, "--file-root", str(root))
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "DONE"
        samples, _ = parse_exposition(col.metrics())
        counts = file_counts(samples)
        assert counts[("open", "success")] == 2
        assert counts[("read", "success")] == 2  # the mounted file's, and its end
        assert samples[("aet_file_bytes_total", frozenset({("operation", "read")}))] == 7
    finally:
        if p:
            p.kill()
            p.communicate()
        subprocess.run(["umount", str(root / "mnt")], check=True)


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
