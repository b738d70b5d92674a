"""Start-up failures, endpoints, and detaching on SIGTERM."""
import json
import os
import signal
import subprocess

import pytest

from harness import (COLLECTOR, LIBRARY, attached_programs, gunzip, our_programs,
                     parse_exposition, programs_added, programs_left, programs_of, run_collector,
                     wait_loaded)


@pytest.fixture
def sleeper():
    """Processes to attach to (a `sleep`, maybe wrapped); killed afterwards."""
    procs = []

    def start(*cmd, env=None):
        p = subprocess.Popen(cmd, env=env)
        procs.append(p)
        # The dynamic loader has mapped the preloaded probe library, or libc
        # without one, in `sleep` (not in a wrapper that execs it).
        preload = env is not None and "LD_PRELOAD" in env
        wait_loaded(p.pid, "libaetprobe.so" if preload else "libc.so.6", "sleep")
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_no_such_pid():
    before = our_programs()
    r = run_collector("--pid", "999999999")
    assert r.returncode == 2
    assert "no process with pid 999999999" in one_line(r.stderr)
    assert programs_added(before) == []


def test_process_without_probe_library(sleeper):
    before = our_programs()
    p = sleeper("sleep", "60")
    r = run_collector("--pid", str(p.pid))
    assert r.returncode == 2
    assert "has not loaded libaetprobe.so" in one_line(r.stderr)
    assert programs_added(before) == []


def test_missing_privileges(sleeper):
    # The target preloads the probe library, so only privileges are missing.
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
              "--inh-caps=-all", "--bounding-set=-all"]
    env = dict(os.environ, LD_PRELOAD=LIBRARY)
    before = our_programs()
    p = sleeper(*nobody, "sleep", "60", env=env)
    r = subprocess.run(nobody + [COLLECTOR, "--pid", str(p.pid)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert "lacks cap_bpf" in line and "run it as root" in line, line
    # Someone else's process: /proc/PID/maps is not even readable.
    root_target = sleeper("sleep", "60", env=env)
    r = subprocess.run(nobody + [COLLECTOR, "--pid", str(root_target.pid)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "cap_sys_ptrace, for reading the target's /proc/PID/maps" in one_line(r.stderr)
    assert programs_added(before) == []


def test_kernel_without_btf(sleeper):
    before = our_programs()
    p = sleeper("sleep", "60", env=dict(os.environ, LD_PRELOAD=LIBRARY))
    # A private mount namespace where /sys/kernel/btf is empty.
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount -t tmpfs none /sys/kernel/btf && exec "$0" --pid "$1"',
                        COLLECTOR, str(p.pid)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "this kernel has no BTF" in one_line(r.stderr)
    assert programs_added(before) == []


@pytest.mark.parametrize("args,msg", [
    ([], "--pid PID, --comm NAME or --exe PATH is required"),
    (["--pid", "abc"], "invalid value 'abc' for --pid"),
    (["--pid", "1", "--listen", "nowhere"], "invalid value 'nowhere' for --listen"),
    (["--pid", "1", "--bogus"], "unknown option '--bogus'"),
])
def test_usage_errors(args, msg):
    r = run_collector(*args)
    assert r.returncode == 2
    assert msg in one_line(r.stderr)


def test_help_and_version():
    r = run_collector("--help")
    assert r.returncode == 0 and "--pid PID" in r.stdout
    r = run_collector("--version")
    assert r.returncode == 0 and r.stdout.startswith("aet-collector ")


def test_port_in_use(start, sleeper):
    before = our_programs()
    p = sleeper("sleep", "60", env=dict(os.environ, LD_PRELOAD=LIBRARY))
    first = start.collector(p.pid)
    r = run_collector("--pid", str(p.pid), "--listen", "127.0.0.1:%d" % first.port)
    assert r.returncode == 2
    assert "cannot serve on 127.0.0.1:%d" % first.port in one_line(r.stderr)
    first.stop()
    assert programs_added(before) == []


def test_endpoints(start):
    wl = start.workload("--tasks", "20")
    col = start.collector(wl.pid)
    status, headers, body = col.get("/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    parse_exposition(body.decode())

    status, headers, zbody = col.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    parse_exposition(gunzip(zbody).decode())
    status, headers, _ = col.get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
    assert headers.get("Content-Encoding") is None

    status, headers, body = col.get("/metrics", method="HEAD")
    assert status == 200 and body == b""

    status, _, body = col.get("/health")
    assert status == 200 and json.loads(body)["status"] == "ok"

    status, _, body = col.get("/ready")
    assert status == 200 and json.loads(body)["ready"] is True

    status, _, body = col.get("/status")
    st = json.loads(body)
    assert status == 200 and st["target"]["pid"] == wl.pid and st["target"]["alive"]
    assert len(st["probes"]) == 10 and all(p["attached"] for p in st["probes"])
    assert {m["name"] for m in st["maps"]} == {"open_slots", "task_series", "agent_series",
                                              "event_series"}

    status, headers, body = col.get("/")
    assert status == 200 and b'href="/metrics"' in body

    assert col.get("/nope")[0] == 404
    status, headers, _ = col.get("/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert col.get("/ready", method="DELETE")[0] == 405
    wl.go()
    code, err = col.stop()
    assert code == 0, err


def test_sigterm_and_sigint_detach_everything(start):
    for sig in (signal.SIGTERM, signal.SIGINT):
        wl = start.workload("--tasks", "20")
        col = start.collector(wl.pid)
        loaded = programs_of(col.proc.pid)
        # probes, processes, files, SQLite, HTTP (the workload maps libssl:
        # asyncio imports ssl), Python (its interpreter's USDT probes),
        # custom
        assert len(loaded) == attached_programs(col) == 10 + 2 + 59 + 9 + 19 + 2 + 5
        code, err = col.stop(sig)
        assert code == 0, err
        assert programs_left(loaded) == []
        wl.kill()
