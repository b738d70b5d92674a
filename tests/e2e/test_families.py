"""Each probe family (probes, processes, files, sqlite, http, python,
custom) loads and attaches, or fails, on its own: one that fails is
reported with its reason in /status and aet_collector_probe_attached{probe},
and stops the collector only when --require names it."""
import json
import os
import shutil
import subprocess

import pytest

from harness import COLLECTOR, by_labels, fd_links, free_port, parse_exposition

# A private mount namespace without /sys/kernel: no tracefs to mount, so
# the syscall tracepoints cannot be attached (the kernel's BTF, under it
# too, is given as a copy).
NO_SYS_KERNEL = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 'mount -t tmpfs -o ro none /sys/kernel && exec "$@"', "sh"]


PROBES = ["aet_probe_" + p for p in (
    "cycle_begin", "cycle_end", "task_begin", "task_end", "agent_begin", "agent_end", "event",
    "span_begin", "span_end", "trace_context")]


@pytest.fixture
def btf(tmp_path):
    path = os.path.join(str(tmp_path), "vmlinux.btf")
    shutil.copy("/sys/kernel/btf/vmlinux", path)
    return path


def attached(col):
    s, _ = parse_exposition(col.metrics())
    return {dict(k)["probe"]: v for k, v in by_labels(s, "aet_collector_probe_attached").items()}


def families(col):
    return {f["name"]: f for f in json.loads(col.get("/status")[2])["families"]}


def test_a_family_fails_alone(start, target, btf):
    col = start.collector(target.pid_, "--btf", btf, wrap=NO_SYS_KERNEL)
    # bench-probe-hit has no libsqlite3; this namespace no tracefs, and no
    # kernel BTF for the BTF tracepoints: the process programs fall back to
    # raw tracepoints.
    got = attached(col)
    assert {k: v for k, v in got.items() if k.startswith("aet_probe_")} == dict.fromkeys(
        PROBES, 1)
    assert {k: v for k, v in got.items() if not k.startswith("aet_probe_")} == {
        "processes": 1, "files": 0, "sqlite": 0, "http": 0, "python": 0, "custom": 1}
    st = json.loads(col.get("/status")[2])
    assert st["processes"]["tracepoints"] == "raw_tp", st["processes"]
    fam = families(col)
    assert "tracefs" in fam["files"]["detail"], fam
    assert "libsqlite3" in fam["sqlite"]["detail"], fam
    assert "has no USDT probes python:gc__start" in fam["python"]["detail"], fam
    assert fam["probes"] == {"name": "probes", "required": True, "disabled": False,
                             "attached": True,
                             "detail": "10 of 10 attached"}
    assert not fam["files"]["required"]
    # Ready: what is required runs. The probes count exactly.
    assert col.get("/ready")[0] == 200
    target.stdin.write("agents 40\n")
    target.stdin.flush()
    assert target.stdout.readline().strip() == "done"
    s, _ = parse_exposition(col.metrics())
    assert sum(by_labels(s, "aet_tasks_total").values()) == 40
    assert "aet_file_operations_total" not in {name for name, _ in s}
    code, err = col.stop()
    assert code == 0, err
    assert "tracefs" in err and "libsqlite3" in err  # warned at start


@pytest.mark.parametrize("family", ["files", "sqlite"])
def test_a_required_family_that_fails_stops_the_start(target, btf, family):
    r = subprocess.run([*NO_SYS_KERNEL, COLLECTOR, "--pid", str(target.pid_), "--btf", btf,
                        "--listen", "127.0.0.1:%d" % free_port(), "--require", "probes," + family],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("(--require %s)" % family), r.stderr


def uprobe_files(col):
    """The files the collector's uprobes sit on, as the kernel lists them."""
    out = subprocess.run(["bpftool", "perf", "-j"], capture_output=True, text=True, check=True)
    return {os.path.basename(p["filename"]) for p in json.loads(out.stdout)
            if p["pid"] == col.proc.pid and "probe" in p["fd_type"]}


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_disabled_family_loads_nothing(start, how):
    """--disable sqlite,files (or AET_COLLECTOR_DISABLE): no uprobe on the
    target's libsqlite3, none of their programs, their metrics absent; the
    rest counts exactly."""
    full = start.workload("--tasks", "40")
    col = start.collector(full.pid)
    assert any(f.startswith("libsqlite3") for f in uprobe_files(col))  # the check can fail
    n_all = col_programs(col)
    col.stop()
    full.kill()

    wl = start.workload("--tasks", "40")
    if how == "option":
        col = start.collector(wl.pid, "--disable", "sqlite,files")
        by = "--disable"
    else:
        col = start.collector(wl.pid, env={"AET_COLLECTOR_DISABLE": "sqlite,files"})
        by = "AET_COLLECTOR_DISABLE"
    assert not any(f.startswith("libsqlite3") for f in uprobe_files(col))
    fam = families(col)
    for name in ("sqlite", "files"):
        assert fam[name]["disabled"] and not fam[name]["attached"], fam[name]
        assert fam[name]["detail"] == "disabled (%s)" % by
    assert not fam["probes"]["disabled"] and fam["probes"]["attached"]
    assert n_all - col_programs(col) > 0
    truth = wl.go()
    s, _ = parse_exposition(col.metrics())
    names = {name for name, _ in s}
    assert not names & {"aet_db_operations_total", "aet_file_operations_total"}
    assert set(attached(col)) == set(PROBES) | {"processes", "http", "python", "custom"}
    assert sum(by_labels(s, "aet_tasks_total").values()) == sum(
        r["count"] for r in truth["tasks"])


def col_programs(col):
    """The BPF programs the collector holds."""
    return sum(link == "anon_inode:bpf-prog" for link in fd_links(col.proc.pid).values())


@pytest.mark.parametrize("args,env,err", [
    (["--disable", "probes", "--require", "probes"], {},
     "--disable probes, but --require names it too"),
    (["--disable", "probes,processes,files,sqlite,http,python,custom"], {},
     "--disable names every probe family: nothing would be observed"),
    ([], {"AET_COLLECTOR_DISABLE": "sqlite,net"},
     'AET_COLLECTOR_DISABLE: "sqlite,net" is not probe families separated by commas: '
     "probes, processes, files, sqlite, http, python, custom"),
])
def test_disable_refuses_what_cannot_be(target, args, env, err):
    r = subprocess.run([COLLECTOR, "--pid", str(target.pid_), "--listen",
                        "127.0.0.1:%d" % free_port(), *args], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, **env))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().endswith(err), r.stderr


def test_ready_checks_the_required_families(start, target):
    col = start.collector(target.pid_)
    assert [c["name"] for c in json.loads(col.get("/ready")[2])["checks"]] == [
        "enabled", "target_alive", "probes"]
    st = json.loads(col.get("/status")[2])
    assert st["processes"]["tracepoints"] == "tp_btf"
    col = start.collector(target.pid_, "--require", "processes,files")
    assert [c["name"] for c in json.loads(col.get("/ready")[2])["checks"]] == [
        "enabled", "target_alive", "processes", "files"]


def test_the_bpf_build_is_the_kernels_choice(start, target):
    """This kernel has task storage and atomic fetch: auto loads the native
    build. The compat one (bpf/compat.bpf.h), loaded when asked, counts
    exactly too, and every lock its programs wanted they got."""
    col = start.collector(target.pid_, "--bpf-build", "auto")
    assert json.loads(col.get("/status")[2])["bpf_build"] == {
        "build": "native", "decided_by": "the kernel has what it needs", "locks_busy": 0}
    col.stop()
    col = start.collector(target.pid_, "--bpf-build", "compat")
    target.stdin.write("agents 300\n")
    target.stdin.flush()
    assert target.stdout.readline().strip() == "done"
    s, _ = parse_exposition(col.metrics())
    assert sum(by_labels(s, "aet_tasks_total").values()) == 300
    unmatched = by_labels(s, "aet_collector_unmatched_total")
    assert unmatched and not any(unmatched.values()), unmatched
    assert json.loads(col.get("/status")[2])["bpf_build"] == {
        "build": "compat", "decided_by": "--bpf-build compat", "locks_busy": 0}
