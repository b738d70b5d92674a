"""Third-party programs as targets: the collector's file metrics against
`strace -f -y` of the very same run, exactly.

A POSIX shell (dash) preloaded with libaetprobe.so is the target. It runs
under strace and blocks reading a FIFO; the collector attaches to it with
--file-root R; a line written to the FIFO lets the script run real programs
(sort, cat, tar, gzip, cp, cmp, git, sqlite3) on files under R. strace sees
every syscall of the shell and of every process it forks; what it shows
after the FIFO read returned is counted by the rules of the README (What is
observed without a probe call), and the collector's
aet_file_operations_total{operation,status} and aet_file_bytes_total{operation}
must be exactly that. The rules, as truth_from_trace applies them:

- open, openat, openat2, creat: open; read, pread64, readv, preadv, preadv2:
  read; write, pwrite64, writev, pwritev, pwritev2: write; fsync, fdatasync:
  fsync; unlink, unlinkat: unlink; rmdir, unlinkat with AT_REMOVEDIR: rmdir;
  rename, renameat, renameat2: rename; mkdir, mkdirat: mkdir.
- copy_file_range, sendfile, splice: a read of the source when it is a
  followed file and a write of the destination when it is one, each with
  the syscall's result.
- A path names something under R when, absolute, its text is R or begins
  with R/; relative, when its base directory (the working directory, or
  dirfd) is R or below it. rename is judged by its first path.
- An open with O_DIRECTORY is no operation, failed or not; nor is an open
  that succeeded on something other than a regular file (a directory).
- read, write, fsync (and the copies) count when the descriptor is a
  regular file under R, as strace -y names it at that call (a pipe, a
  socket, /dev/null or a directory is none), however the process came by
  the descriptor (dup2, inherited, opened itself).
- Status error when the syscall failed (-1, or a restart the kernel
  returned as an error); bytes: the result when positive (a read at end of
  file is a read of 0 bytes). A syscall its process never returned from
  counts for nothing.
"""
import codecs
import collections
import os
import re
import signal
import stat
import subprocess
import time

import pytest

from harness import LIBRARY, by_labels, parse_exposition, require_root

OPS = ("open", "read", "write", "fsync", "unlink", "rename", "mkdir", "rmdir")
STATUSES = ("success", "error")

OPEN = {"open": (None, 0, 1), "openat": (0, 1, 2), "openat2": (0, 1, 2), "creat": (None, 0, None)}
FD_OPS = {"read": "read", "pread64": "read", "readv": "read", "preadv": "read",
          "preadv2": "read", "write": "write", "pwrite64": "write", "writev": "write",
          "pwritev": "write", "pwritev2": "write", "fsync": "fsync", "fdatasync": "fsync"}
# syscall: (operation, index of the dirfd argument or None, index of the path)
PATH_OPS = {"unlink": ("unlink", None, 0), "unlinkat": ("unlink", 0, 1),
            "rmdir": ("rmdir", None, 0), "rename": ("rename", None, 0),
            "renameat": ("rename", 0, 1), "renameat2": ("rename", 0, 1),
            "mkdir": ("mkdir", None, 0), "mkdirat": ("mkdir", 0, 1)}
# syscall: (index of the source descriptor, index of the destination)
COPIES = {"copy_file_range": (0, 2), "sendfile": (1, 0), "splice": (0, 2)}
FORKS = {"clone", "clone3", "fork", "vfork"}
TRACED = sorted(set(OPEN) | set(FD_OPS) | set(PATH_OPS) | set(COPIES) | FORKS |
                {"chdir", "fchdir", "execve"})

STEP_TIMEOUT = 15  # seconds any one step may take (start, run, settle)


# ---------------------------------------------------------------- strace text

_LINE = re.compile(r"^(\d+) +(.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_UNFINISHED = " <unfinished ...>"
_CALL = re.compile(r"^(\w+)\((.*)\) += (-?\d+|\?)(?:<(.*)>)?(?: (E[A-Z0-9_]+) \(.*\))?$")
_GONE = re.compile(r"^\w+\((.*)\) += \?(?: <unavailable>)?$")
_FD = re.compile(r"^(-?\d+|AT_FDCWD)<(.*)>$")


def split_args(text):
    """The top-level arguments of a strace call, as text."""
    out, cur, depth, i = [], [], 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        elif c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    if cur or out:
        out.append("".join(cur).strip())
    return out


def c_string(arg):
    """The value of a quoted strace string argument (None when not one)."""
    if not arg.startswith('"'):
        return None
    end = arg.rfind('"')
    raw = codecs.escape_decode(arg[1:end].encode("latin-1"))[0]
    return raw.decode("utf-8", "surrogateescape")


def fd_path(arg):
    """The path strace -y shows for a descriptor argument ('pipe:[..]' for a
    pipe), without ' (deleted)'; None when it shows none."""
    m = _FD.match(arg)
    if not m:
        return None
    path = m.group(2)
    return path[:-len(" (deleted)")] if path.endswith(" (deleted)") else path


def under(path, root):
    return path == root or path.startswith(root + "/")


class Call:
    __slots__ = ("pid", "name", "args", "ret", "ret_path", "err", "line")

    def __init__(self, pid, name, args, ret, ret_path, err, line):
        self.pid, self.name, self.args, self.ret = pid, name, args, ret
        self.ret_path, self.err, self.line = ret_path, err, line

    @property
    def failed(self):
        """-1 with an errno, or a syscall that will be restarted: the
        kernel returned a negative value to the exit tracepoint."""
        return self.ret is not None and self.ret < 0 or self.ret is None and bool(self.err)

    @property
    def returned(self):
        """False for a syscall that never returned (its process killed)."""
        return self.ret is not None or bool(self.err)


def parse_calls(text):
    """The calls of a `strace -f -y -qq` trace, unfinished and resumed
    halves joined, in the order strace printed their ends."""
    pending, calls = {}, []
    for line in text.splitlines():
        m = _LINE.match(line)
        assert m, "unexpected strace line: %r" % line
        pid, rest = int(m.group(1)), m.group(2)
        if rest.startswith(("+++", "---")):
            continue
        if rest.endswith(_UNFINISHED):
            pending[pid] = rest[:-len(_UNFINISHED)]
            continue
        r = _RESUMED.match(rest)
        if r:
            head = pending.pop(pid, None)
            assert head is not None and head.startswith(r.group(1) + "("), \
                "resumed without its beginning: %r" % line
            rest = head + r.group(2)
        c = _CALL.match(rest)
        if not c:
            name = rest.split("(", 1)[0]
            if name not in TRACED:
                continue
            # "= ? <unavailable>": its process was killed inside it.
            gone = _GONE.match(rest)
            assert gone, "unparsed strace line: %r" % line
            calls.append(Call(pid, name, split_args(gone.group(1)), None, None, None, line))
            continue
        ret = None if c.group(3) == "?" else int(c.group(3))
        calls.append(Call(pid, c.group(1), split_args(c.group(2)), ret, c.group(4),
                          c.group(5), line))
    return calls


# ----------------------------------------------------------------- the rules

class Truth:
    """What the collector must count, from the trace of a run."""

    def __init__(self):
        self.counts = {(op, st): 0 for op in OPS for st in STATUSES}
        self.bytes = {"read": 0, "write": 0}
        self.records = []  # (program, operation, status, bytes, syscall, path)
        self.started = False
        self.notes = []  # anything odd seen in the trace

    def add(self, prog, op, failed, nbytes, syscall, path):
        st = "error" if failed else "success"
        self.counts[(op, st)] += 1
        if op in self.bytes and not failed and nbytes > 0:
            self.bytes[op] += nbytes
        self.records.append((prog, op, st, nbytes if not failed else 0, syscall, path))

    def by_file(self, root, limit=60):
        """The records summed by program, operation, status, syscall and path."""
        agg = collections.OrderedDict()
        for prog, op, st, n, sc, path in self.records:
            key = (prog, op, st, sc, path.replace(root, "R", 1) if path else "?")
            c, b = agg.get(key, (0, 0))
            agg[key] = (c + 1, b + n)
        lines = ["  %-10s %-6s %-7s %-16s x%-4d %8d B  %s" % (p, o, s, sc, c, b, f)
                 for (p, o, s, sc, f), (c, b) in agg.items()]
        if len(lines) > limit:
            lines = lines[:limit] + ["  ... %d more" % (len(lines) - limit)]
        return "\n".join(lines)


def truth_from_trace(calls, root, fifo, dirs, cwd0):
    """Applies the counting rules to the calls after the FIFO read.

    dirs: every path under root that was a directory at some time of the
    run (an open or a descriptor on one is no file operation).
    """
    truth = Truth()
    parent = {}
    for c in calls:
        if c.name in FORKS and c.ret is not None and c.ret > 0:
            parent[c.ret] = c.pid
    cwd, prog = {}, {}

    def cwd_of(pid):
        if pid not in cwd:
            cwd[pid] = cwd_of(parent[pid]) if pid in parent else cwd0
        return cwd[pid]

    def base_of(c, dirfd_index):
        """The base directory of a relative path argument."""
        if dirfd_index is None:
            return cwd_of(c.pid)
        arg = c.args[dirfd_index]
        path = fd_path(arg)
        if path is not None:
            return path
        if arg == "AT_FDCWD":
            return cwd_of(c.pid)
        return None  # a descriptor strace could not name

    def path_counts(c, dirfd_index, path_index):
        """(whether the path argument is under root, the path made absolute)."""
        text = c_string(c.args[path_index])
        if text is None:
            return False, None
        if text.startswith("/"):
            # The text of an absolute path; normalized only to name it.
            return under(text, root), os.path.normpath(text)
        base = base_of(c, dirfd_index)
        if base is None:
            return False, None
        full = os.path.normpath(os.path.join(base, text))
        if under(base, root) != under(full, root):
            truth.notes.append("relative path leaving its base: %s" % c.line)
        return under(base, root), full

    def followed_fd(arg):
        """The path of a descriptor on a regular file under root, or None."""
        path = fd_path(arg)
        if path is None or not under(path, root) or path in dirs:
            return None
        return path

    for c in calls:
        pid = c.pid
        prog.setdefault(pid, prog.get(parent.get(pid), "sh"))
        # Where each process is: every AT_FDCWD<...> strace shows, chdir, fchdir.
        for a in c.args:
            if a.startswith("AT_FDCWD<"):
                cwd[pid] = fd_path(a)
        if c.name == "chdir" and c.ret == 0:
            cwd[pid] = os.path.normpath(os.path.join(cwd_of(pid), c_string(c.args[0])))
        elif c.name == "fchdir" and c.ret == 0:
            cwd[pid] = fd_path(c.args[0])
        elif c.name == "execve" and c.ret == 0:
            prog[pid] = os.path.basename(c_string(c.args[0]))
        if not truth.started:
            if (c.name == "read" and c.ret and c.ret > 0 and fd_path(c.args[0]) == fifo and
                    (c_string(c.args[1]) or "").endswith("\n")):
                truth.started = True
            continue
        if not c.returned:
            continue
        name = prog[pid]
        if c.name in OPEN:
            dirfd_i, path_i, flags_i = OPEN[c.name]
            counts, full = path_counts(c, dirfd_i, path_i)
            if not counts:
                continue
            flags = c.args[flags_i] if flags_i is not None else ""
            if "O_DIRECTORY" in re.split(r"[|{}=, ]", flags):
                continue  # never a file operation, success or failure
            if not c.failed:
                result = c.ret_path or ""
                result = result[:-len(" (deleted)")] if result.endswith(" (deleted)") else result
                if result in dirs or not result.startswith("/") or result.startswith("/dev/"):
                    continue  # not a regular file
            truth.add(name, "open", c.failed, 0, c.name, full)
        elif c.name in FD_OPS:
            path = followed_fd(c.args[0])
            if path is not None:
                truth.add(name, FD_OPS[c.name], c.failed, c.ret or 0, c.name, path)
        elif c.name in PATH_OPS:
            op, dirfd_i, path_i = PATH_OPS[c.name]
            if c.name == "unlinkat" and "AT_REMOVEDIR" in c.args[2]:
                op = "rmdir"
            counts, full = path_counts(c, dirfd_i, path_i)
            if op == "mkdir" and not c.failed and full:
                dirs.add(full)
            if counts:
                truth.add(name, op, c.failed, 0, c.name, full)
        elif c.name in COPIES:
            src_i, dst_i = COPIES[c.name]
            for op, i in (("read", src_i), ("write", dst_i)):
                path = followed_fd(c.args[i])
                if path is not None:
                    truth.add(name, op, c.failed, c.ret or 0, c.name, path)
    return truth


def directories(calls, root):
    """Paths under root the trace shows opened with O_DIRECTORY (those
    made by mkdir are added as the trace is read)."""
    found = set()
    for c in calls:
        if c.failed or not c.returned:
            continue
        if c.name in OPEN and OPEN[c.name][2] is not None and c.ret_path and \
                "O_DIRECTORY" in c.args[OPEN[c.name][2]]:
            found.add(c.ret_path)
    return {d for d in found if under(d, root)}


def tree(root):
    """(directories, paths that are neither a directory nor a regular file)."""
    dirs, odd = {root}, []
    for top, subdirs, files in os.walk(root):
        dirs.update(os.path.join(top, d) for d in subdirs)
        for f in files:
            p = os.path.join(top, f)
            if not stat.S_ISREG(os.lstat(p).st_mode):
                odd.append(p)
    return dirs, odd


# ------------------------------------------------------------------ the runs

def children(ppid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            out.append(int(name))
    return out


def waiting_shell(tracer, fifo, library):
    """The shell under strace once it has the library mapped and is blocked
    reading the FIFO on its standard input; None before."""
    for pid in children(tracer.pid):
        try:
            if os.readlink("/proc/%d/fd/0" % pid) != fifo:
                continue
            with open("/proc/%d/maps" % pid) as f:
                if library not in f.read():
                    continue
            with open("/proc/%d/syscall" % pid) as f:
                if f.read().split()[0] == "0":  # read(2)
                    return pid
        except (OSError, IndexError):
            continue
    return None


def file_figures(col):
    samples, _ = parse_exposition(col.metrics())
    counts = {(dict(k)["operation"], dict(k)["status"]): int(v)
              for k, v in by_labels(samples, "aet_file_operations_total").items()}
    nbytes = {dict(k)["operation"]: int(v)
              for k, v in by_labels(samples, "aet_file_bytes_total").items()}
    return counts, nbytes


def settled_figures(col):
    """The collector's file figures once two scrapes in a row agree."""
    deadline = time.monotonic() + STEP_TIMEOUT
    last = file_figures(col)
    while True:
        time.sleep(0.1)
        now = file_figures(col)
        if now == last:
            return now
        assert time.monotonic() < deadline, \
            "file metrics still changing %d s after the programs exited" % STEP_TIMEOUT
        last = now


def run_traced(start, tmp_path, body, env=None):
    """Runs the shell script body as a target under strace; returns
    (truth from strace, collector's counts, collector's bytes, root)."""
    root = os.path.realpath(str(tmp_path / "R"))
    work = os.path.realpath(str(tmp_path))
    fifo = os.path.join(work, "go.fifo")
    trace = os.path.join(work, "trace.txt")
    script = os.path.join(work, "script.sh")
    library = os.path.realpath(LIBRARY)
    os.mkfifo(fifo)
    with open(script, "w") as f:
        f.write("read _ < %s\nset -e\n%s\n" % (fifo, body))
    dirs_before, _ = tree(root)
    # Held open for reading and writing: the shell's open of the FIFO returns
    # at once and it blocks in read(2) until the line below arrives.
    hold = os.open(fifo, os.O_RDWR)
    e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": os.path.join(work, "home"),
         "TMPDIR": work}
    e.update(env or {})
    os.makedirs(e["HOME"], exist_ok=True)
    out = open(os.path.join(work, "programs.out"), "w+")
    tracer = subprocess.Popen(
        ["strace", "-f", "--seccomp-bpf", "-y", "-qq", "-e", "signal=none",
         "-e", "trace=" + ",".join(TRACED), "-o", trace, "--",
         "env", "LD_PRELOAD=" + library, "sh", script],
        cwd=work, env=e, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True)

    def stop_tracer():
        if tracer.poll() is None:
            os.killpg(tracer.pid, signal.SIGKILL)
            tracer.wait()
        os.close(hold)
        out.close()
    start.stops.append(stop_tracer)

    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        pid = waiting_shell(tracer, fifo, library)
        if pid:
            break
        if tracer.poll() is not None:
            out.seek(0)
            raise AssertionError("strace exited %d before the shell waited: %s" % (
                tracer.returncode, out.read()[-3000:]))
        assert time.monotonic() < deadline, \
            "no shell blocked on the FIFO with %s mapped in %d s" % (library, STEP_TIMEOUT)
        time.sleep(0.02)

    col = start.collector(pid, "--file-root", root)
    os.write(hold, b"go\n")
    try:
        tracer.wait(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("the programs did not finish in %d s" % STEP_TIMEOUT)
    out.seek(0)
    assert tracer.returncode == 0, "the script failed (%d):\n%s" % (
        tracer.returncode, out.read()[-3000:])
    counts, nbytes = settled_figures(col)

    with open(trace) as f:
        calls = parse_calls(f.read())
    dirs_after, odd = tree(root)
    assert not odd, "files under R that are not regular: %s" % odd
    dirs = dirs_before | dirs_after | directories(calls, root)
    truth = truth_from_trace(calls, root, fifo, dirs, work)
    assert truth.started, "the FIFO read that starts the run is not in the trace"
    return truth, counts, nbytes, root


def check_exact(truth, counts, nbytes, root):
    """Every (operation, status) and byte count as strace saw them."""
    rows = []
    for key in sorted(truth.counts):
        want, got = truth.counts[key], counts.get(key)
        if want != got:
            rows.append("  %-6s %-7s  strace %6d  collector %s" % (key + (want, got)))
    for op in ("read", "write"):
        if truth.bytes[op] != nbytes.get(op):
            rows.append("  %-6s bytes    strace %6d  collector %s" % (
                op, truth.bytes[op], nbytes.get(op)))
    extra = sorted(set(counts) - set(truth.counts))
    if extra:
        rows.append("  unexpected series: %s" % extra)
    notes = "\n".join(truth.notes[:10])
    assert not rows, (
        "collector vs strace -f -y of the same run (operation, status):\n%s\n"
        "operations strace shows (program, operation, status, syscall, count, bytes, file):\n%s%s"
        % ("\n".join(rows), truth.by_file(root), "\nnotes:\n" + notes if notes else ""))


def make_tree(root, files):
    """Creates root and files ({relative path: bytes}) before the run."""
    os.makedirs(root, exist_ok=True)
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


@pytest.fixture(autouse=True)
def _tools():
    require_root()
    for tool in ("strace", "git", "sqlite3", "tar", "gzip"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in ("/usr/bin", "/bin")):
            pytest.fail("%s is missing: run make deps" % tool)


WORDS = b"".join(b"%08x\n" % ((i * 2654435761) % 2 ** 32) for i in range(5000))

SHELL = {
    # sort writes through the descriptor the shell opened and moved to 1
    "sort": ({"words": WORDS}, "sort {R}/words > {R}/out.txt"),
    # a builtin writes through the shell's own dup2 of the file onto 1
    "append": ({"out.txt": b"first\n"}, "echo x >> {R}/out.txt"),
    "cat": ({"out.txt": WORDS[:3000]}, "cat {R}/out.txt > {R}/copy.txt"),
    # a descriptor the shell keeps, written through a dup of it
    "exec_fd3": ({}, "exec 3> {R}/fd3.txt\necho y >&3\necho z >&3\nexec 3>&-\n"
                     "cat < {R}/fd3.txt > {R}/fd3.copy"),
}


@pytest.mark.parametrize("case", sorted(SHELL))
def test_shell_redirections(start, tmp_path, case):
    files, body = SHELL[case]
    root = str(tmp_path / "R")
    make_tree(root, files)
    truth, counts, nbytes, root = run_traced(start, tmp_path, body.format(R=root))
    assert truth.counts[("write", "success")] > 0 and truth.bytes["write"] > 0
    check_exact(truth, counts, nbytes, root)


SRC = {"src/a.txt": WORDS, "src/b.bin": bytes(range(256)) * 300,
       "src/sub/c.txt": b"c\n" * 1000, "src/sub/empty": b""}
TAR = {
    "pipe": "tar cf - -C {R} src | gzip > {R}/a.tar.gz",
    # tar's gzip child writes the archive through the descriptor it inherits
    "czf": "tar czf {R}/b.tar.gz -C {R} src",
}


@pytest.mark.parametrize("case", sorted(TAR))
def test_tar_gzip(start, tmp_path, case):
    root = str(tmp_path / "R")
    make_tree(root, SRC)
    truth, counts, nbytes, root = run_traced(start, tmp_path, TAR[case].format(R=root))
    assert truth.bytes["read"] >= sum(len(v) for v in SRC.values())
    assert truth.bytes["write"] > 0
    check_exact(truth, counts, nbytes, root)


def test_cp_and_cat_of_a_large_file(start, tmp_path):
    root = str(tmp_path / "R")
    size = 1 << 20
    make_tree(root, {"big": os.urandom(size)})
    body = "cp {R}/big {R}/big.copy\ncat {R}/big.copy > /dev/null\ncmp {R}/big {R}/big.copy"
    truth, counts, nbytes, root = run_traced(start, tmp_path, body.format(R=root))
    # cp's copy_file_range read and wrote it, cat and cmp read it.
    assert truth.bytes["write"] == size
    assert truth.bytes["read"] == 4 * size
    check_exact(truth, counts, nbytes, root)


GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Test Author",
           "GIT_AUTHOR_EMAIL": "author@example.org", "GIT_COMMITTER_NAME": "Test Committer",
           "GIT_COMMITTER_EMAIL": "committer@example.org",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           # no automatic gc or maintenance detaching into the background
           "GIT_CONFIG_COUNT": "3", "GIT_CONFIG_KEY_0": "gc.auto", "GIT_CONFIG_VALUE_0": "0",
           "GIT_CONFIG_KEY_1": "maintenance.auto", "GIT_CONFIG_VALUE_1": "false",
           "GIT_CONFIG_KEY_2": "init.defaultBranch", "GIT_CONFIG_VALUE_2": "main"}


def test_git(start, tmp_path):
    root = str(tmp_path / "R")
    make_tree(root, SRC)
    body = ("cd {R}\ngit init -q\ngit add .\ngit commit -q -m first\n"
            "echo more >> src/a.txt\nrm src/sub/empty\ngit commit -q -a -m second\n"
            "git gc -q\ngit log --oneline > /dev/null")
    truth, counts, nbytes, root = run_traced(start, tmp_path, body.format(R=root),
                                             env=GIT_ENV)
    for op in ("open", "read", "write", "rename", "mkdir", "unlink"):
        assert truth.counts[(op, "success")] > 0, op
    check_exact(truth, counts, nbytes, root)


SQL = """\
CREATE TABLE kb(id INTEGER PRIMARY KEY, topic TEXT, body TEXT);
CREATE INDEX kb_topic ON kb(topic);
INSERT INTO kb(topic, body) VALUES ('a', 'alpha'), ('b', 'beta'), ('c', 'gamma');
INSERT INTO kb(topic, body) SELECT topic || id, hex(randomblob(200)) FROM kb;
SELECT count(*), max(length(body)) FROM kb;
UPDATE kb SET body = 'changed' WHERE topic = 'a';
DELETE FROM kb WHERE topic = 'b';
BEGIN;
INSERT INTO kb(topic, body) VALUES ('d', 'delta');
COMMIT;
BEGIN;
INSERT INTO kb(topic, body) VALUES ('e', 'epsilon');
ROLLBACK;
SELEC * FROM kb;
SELECT * FROM no_such_table;
REPLACE INTO kb(id, topic, body) VALUES (1, 'a', 'replaced');
END;
SELECT topic FROM kb ORDER BY id;
"""


def test_sqlite3_shell(start, tmp_path):
    root = str(tmp_path / "R")
    make_tree(root, {})
    sql = tmp_path / "script.sql"
    sql.write_text(SQL)
    # Two errors and an END outside a transaction: the shell exits 1.
    body = "sqlite3 {R}/kb.db < %s || test $? -eq 1" % sql
    truth, counts, nbytes, root = run_traced(start, tmp_path, body.format(R=root))
    for op in ("open", "read", "write", "fsync", "unlink"):
        assert truth.counts[(op, "success")] > 0, op
    check_exact(truth, counts, nbytes, root)


def test_rules_on_a_written_trace():
    """The rules above, line by line, on syscalls the programs do not all
    make (the comment says what each line counts for)."""
    r, f = "/w/R", "/w/go.fifo"
    lines = [
        '10 read(0</w/R/x>, "a", 1) = 1',  # before the FIFO read: nothing
        '10 read(0</w/go.fifo>, "g", 1) = 1',
        '10 read(0</w/go.fifo>, "\\n", 1) = 1',  # the run starts after this one
        '10 openat(AT_FDCWD</w>, "R/x", O_RDONLY) = 3</w/R/x>',  # base /w: nothing
        '10 openat(AT_FDCWD</w/R>, "x", O_RDONLY) = 3</w/R/x>',  # open success
        '10 openat(AT_FDCWD</w>, "/w/R/d", O_RDONLY|O_DIRECTORY) = 4</w/R/d>',  # nothing
        '10 openat(AT_FDCWD</w>, "/w/R/no", O_RDONLY|O_PATH|O_DIRECTORY) = -1 ENOENT (No such)',
        '10 openat(AT_FDCWD</w>, "/w/R/d", O_RDONLY) = 5</w/R/d>',  # a directory: nothing
        '10 openat2(4</w/R/d>, "y", {flags=O_RDONLY, resolve=0}, 24) = 6</w/R/d/y>',  # success
        '10 openat2(AT_FDCWD</w>, "/w/R/d", {flags=O_DIRECTORY, resolve=0}, 24) = 7</w/R/d>',
        '10 open("/w/Rx", O_RDONLY) = -1 ENOENT (No such file)',  # not under R
        '10 creat("/w/R/new", 0644) = 8</w/R/new>',  # open success
        '10 open("/w/R/missing", O_RDONLY) = -1 ENOENT (No such file)',  # open error
        '10 fsync(5</w/R/d>) = 0',  # a directory: nothing
        '10 fdatasync(8</w/R/new>) = 0',  # fsync success
        '10 write(8</w/R/new (deleted)>, "abc", 3) = 3',  # write success, 3 bytes
        '10 pwritev2(8</w/R/new>, [{iov_base="ab", iov_len=2}], 1, 0, 0) = 2',  # 2 bytes
        '10 preadv2(6</w/R/d/y>, [{iov_base="", iov_len=9}], 1, 0, 0) = 0',  # read, 0 bytes
        '10 readv(6</w/R/d/y>, 0x7ffc, 2) = -1 EFAULT (Bad address)',  # read error
        '10 read(1</dev/null>, "", 9) = 0',  # not a file under R
        '10 write(1<pipe:[77]>, "abc", 3) = 3',  # a pipe
        '10 write(9, "abc", 3) = -1 EBADF (Bad file descriptor)',  # no file at all
        '10 sendfile(1<pipe:[77]>, 6</w/R/d/y>, NULL, 100) = 40',  # read, 40 bytes
        '10 splice(0<pipe:[78]>, NULL, 8</w/R/new>, NULL, 50, 0) = 50',  # write, 50 bytes
        '10 copy_file_range(6</w/R/d/y>, NULL, 8</w/R/new>, NULL, 9, 0) = -1 EXDEV (Cross)',
        '10 read(8</w/R/new>,  <unfinished ...>',  # read, 2 bytes
        '11 unlinkat(AT_FDCWD</w/R>, "d", AT_REMOVEDIR) = -1 ENOTEMPTY (Not empty)',  # rmdir
        '10 <... read resumed>"xy", 4096) = 2',
        '10 read(8</w/R/new>, "", 9) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)',
        '10 clone(child_stack=NULL, flags=SIGCHLD) = 11',
        '11 unlinkat(AT_FDCWD</w/R>, "new", 0) = 0',  # unlink success
        '11 chdir("R/d") = -1 ENOENT (No such file)',  # stays in /w/R
        '11 chdir("d") = 0',  # now in /w/R/d
        '11 mkdir("e", 0777) = 0',  # mkdir success
        '11 mkdir("/w/R/d/e", 0777) = -1 EEXIST (File exists)',  # mkdir error
        '11 rmdir("e") = 0',  # rmdir success
        '11 fchdir(3</w>) = 0',
        '11 rmdir("R/d/e") = -1 ENOENT (No such file)',  # base /w: nothing
        '11 rename("/w/R/d/y", "/tmp/y") = 0',  # rename success (its first path)
        '11 renameat2(AT_FDCWD</w>, "/tmp/y", AT_FDCWD</w>, "/w/R/y", RENAME_NOREPLACE) = 0',
        '11 mkdirat(9</w/R>, "f", 0777) = 0',  # mkdir success
        '11 read(6</w/R/d/y>, "", 4096) = ? <unavailable>',  # killed inside: nothing
    ]
    calls = parse_calls("\n".join(lines))
    dirs = {r, r + "/d"} | directories(calls, r)
    truth = truth_from_trace(calls, r, f, dirs, "/w")
    assert truth.started
    want = {(op, st): 0 for op in OPS for st in STATUSES}
    want.update({("open", "success"): 3, ("open", "error"): 1, ("fsync", "success"): 1,
                 ("write", "success"): 3, ("write", "error"): 1,
                 ("read", "success"): 3, ("read", "error"): 3,
                 ("unlink", "success"): 1, ("rmdir", "success"): 1, ("rmdir", "error"): 1,
                 ("mkdir", "success"): 2, ("mkdir", "error"): 1, ("rename", "success"): 1})
    assert truth.counts == want, truth.by_file(r)
    assert truth.bytes == {"read": 42, "write": 55}
