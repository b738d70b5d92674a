"""Errors that name the right cause and fix: each start that fails prints one
line, exits 2 and leaves nothing loaded; the target's end is said in the
log with how it ended."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness import (LIBRARY, our_programs, programs_added, run_collector, wait_loaded,
                     wait_until)


def one_line(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("aet-collector: ")
    return lines[0]


@pytest.fixture
def preloaded():
    """Python processes with the probe library preloaded, each reading a
    line and then doing what it says; killed afterwards."""
    procs = []

    def start(code="import sys; sys.exit(int(sys.stdin.readline()))"):
        p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True,
                             env=dict(os.environ, LD_PRELOAD=LIBRARY))
        procs.append(p)
        wait_loaded(p.pid, "libaetprobe.so", os.path.basename(sys.executable)[:15])
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_pid_1_names_what_refuses():
    # pid 1, as root: not "run as root". On this VM the kernel refuses even
    # root its /proc/1/maps; elsewhere it is a process without the library.
    line = one_line(run_collector("--pid", "1"))
    assert "as root" not in line, line
    with open("/proc/1/comm") as f:
        comm = f.read().strip()
    try:
        with open("/proc/1/maps"):
            readable = True
    except PermissionError:
        readable = False
    if readable:
        assert "process 1 (%s) has not loaded libaetprobe.so" % comm in line, line
    else:
        assert ("process 1 (%s) does not let aet-collector read /proc/1/maps (Permission "
                "denied) although it has cap_sys_ptrace: the kernel or a security module "
                "protects that process" % comm) in line, line
        assert line.endswith("pid 1 is the init of this host or container, seldom AET: "
                             "check the pid given"), line


def test_empty_pid_says_none_was_given():
    # What --pid "$(pgrep -f aet-server)" gives when nothing matched.
    line = one_line(run_collector("--pid", ""))
    assert line == ("aet-collector: --pid is empty: no pid was given (when it comes from "
                    "pgrep, no process matched: check that AET runs, and the pattern)")


def test_ring_size_says_a_power_of_two():
    line = one_line(run_collector("--pid", "1", "--span-ring-size", "1000"))
    assert line == ("aet-collector: invalid value '1000' for --span-ring-size: a power of two "
                    "of bytes from 4096 to 1073741824 (see --help)")


def test_file_root_that_does_not_exist_stops_the_start(preloaded, tmp_path):
    p = preloaded()
    before = our_programs()
    line = one_line(run_collector("--pid", str(p.pid), "--file-root", "/typo"))
    assert line == ("aet-collector: --file-root /typo: No such file or directory: a root "
                    "that does not exist counts nothing; correct the path, or create the "
                    "directory first")
    not_dir = tmp_path / "file"
    not_dir.write_text("")
    line = one_line(run_collector("--pid", str(p.pid), "--file-root", str(not_dir)))
    assert line.endswith("--file-root %s: not a directory: give the directory whose files "
                         "to count" % not_dir)
    assert programs_added(before) == []


def test_prices_file_with_a_wrong_line_stops_the_start(preloaded, tmp_path):
    p = preloaded()
    before = our_programs()
    prices = tmp_path / "prices.txt"
    prices.write_text("# USD per million tokens\ngpt-4o 2.50 10\ngpt-4o-mini 0,15 0.60\n")
    line = one_line(run_collector("--pid", str(p.pid), "--gen-ai-prices", str(prices)))
    assert line == ("aet-collector: --gen-ai-prices %s:3: '0,15' is not a price: USD per "
                    "million tokens, a decimal number such as 0.15, at most 1000000" % prices)
    line = one_line(run_collector("--pid", str(p.pid), "--gen-ai-prices", str(tmp_path / "no")))
    assert line == ("aet-collector: --gen-ai-prices %s: No such file or directory"
                    % (tmp_path / "no"))
    assert programs_added(before) == []


def test_taken_port_is_said_before_loading(preloaded):
    p = preloaded()
    before = our_programs()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        line = one_line(run_collector("--pid", str(p.pid), "--listen", "127.0.0.1:%d" % port))
        took = time.monotonic() - t0
    assert line == ("aet-collector: cannot serve on 127.0.0.1:%d: Address already in use "
                    "(choose another with --listen)" % port)
    assert programs_added(before) == []
    # Loading the BPF programs takes seconds; this must not wait for it.
    print("taken port: exit 2 after %.3f s" % took)
    assert took < 1.0, took


@pytest.mark.parametrize("how,said", [
    ("3", "exited with status 3"),
    ("0", "exited with status 0"),
    (signal.SIGKILL, "was killed by signal 9 (SIGKILL)"),
    (signal.SIGSEGV, "was killed by signal 11 (SIGSEGV)"),
])
def test_target_end_is_logged(start, preloaded, how, said):
    p = preloaded()
    col = start.collector(p.pid)
    if isinstance(how, str):
        p.stdin.write(how + "\n")
        p.stdin.flush()
    else:
        p.send_signal(how)
    p.wait()

    def gone():
        code, _, body = col.get("/ready")
        checks = {c["name"]: c for c in json.loads(body)["checks"]}
        return code == 503 and not checks["target_alive"]["ok"]
    wait_until(gone, "/ready to say the target is gone")
    code, err = col.stop()
    assert code == 0, err
    want = "aet-collector: info: target pid %d (%s) %s" % (
        p.pid, os.path.basename(sys.executable)[:15], said)
    # A core dumped (by the core limit) adds ", core dumped".
    assert any(ln.startswith(want) for ln in err.splitlines()), err


def test_an_option_given_twice_is_refused():
    # Not the last one silently taken: which was meant is not known.
    line = one_line(run_collector("--pid", "1", "--listen", "127.0.0.1:9500",
                                  "--listen", "127.0.0.1:9501"))
    assert line == ("aet-collector: --listen given twice ('127.0.0.1:9500', then "
                    "'127.0.0.1:9501'): give it once (see --help)")
    # --file-root is one root each time.
    r = run_collector("--check", "--file-root", "/tmp", "--file-root", "/var")
    assert r.returncode in (0, 1), r.stderr
