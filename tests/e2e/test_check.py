"""aet-collector --check: what would work on this host and why, nothing
attached; exit 0 when every required family would attach, else 1; --json
the same as one object."""
import json
import os
import re
import subprocess

from harness import COLLECTOR, check_sanitizers, our_programs, programs_added, run_collector
from test_privileges import as_nobody, documented_table

KEYS = {"version", "kernel", "btf", "bpf_build", "tracefs", "uprobes", "uprobe_spot",
        "capabilities", "privileges", "target", "families", "ok"}
FAMILIES = ["probes", "processes", "files", "sqlite", "http", "python", "custom"]


def check(*args, wrap=()):
    """Runs --check --json; returns (exit status, the report)."""
    r = subprocess.run([*wrap, COLLECTOR, "--check", "--json", *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    check_sanitizers(r.stderr)
    return r.returncode, json.loads(r.stdout)


def families(report):
    return {f["name"]: f for f in report["families"]}


def test_host_alone(start):
    before = our_programs()
    code, rep = check()
    assert code == 0 and rep["ok"] is True
    assert set(rep) == KEYS
    assert rep["kernel"]["release"] == os.uname().release
    assert rep["btf"]["ok"] and rep["bpf_build"]["build"] in ("native", "compat")
    assert rep["tracefs"] == {"path": "/sys/kernel/tracing", "mounted": True, "syscalls": True}
    assert rep["uprobes"]["need_cap_sys_admin"] in (True, False)
    assert rep["uprobe_spot"]["spot"] in ("nop5", "push")
    assert rep["uprobe_spot"]["nop5_hit_ns"] > 0 and rep["uprobe_spot"]["push_hit_ns"] > 0
    assert rep["target"] is None
    fams = families(rep)
    assert list(fams) == FAMILIES
    assert {n: f["attaches"] for n, f in fams.items()} == {
        "probes": True, "processes": True, "files": True, "sqlite": False, "http": True,
        "python": False, "custom": True}
    assert fams["probes"]["required"] and not fams["sqlite"]["required"]
    assert "no target" in fams["sqlite"]["detail"]
    assert "no target" in fams["python"]["detail"]
    assert all(f["missing"] == [] and f["fallback"] and f["needs"] for f in fams.values())
    # The table it reads the host with is the README's.
    assert [(r["capability"], r["also"], r["families"], r["when"], r["for"])
            for r in rep["privileges"]] == documented_table()
    # Loaded to be judged, then released: nothing stays.
    assert programs_added(before) == []
    print("--check: uprobe spot %(spot)s, nop5 %(nop5_hit_ns)d ns, push %(push_hit_ns)d ns"
          % rep["uprobe_spot"])


def test_with_a_target(start):
    wl = start.workload("--tasks", "1")
    code, rep = check("--pid", str(wl.pid), "--require", ",".join(FAMILIES))
    assert code == 0 and rep["ok"]
    t = rep["target"]
    assert t["pid"] == wl.pid and t["error"] is None and t["comm"] == "python3"
    assert t["probe_library"].endswith("/libaetprobe.so")
    assert re.search(r"/libsqlite3\.so[.0-9]*$", t["libsqlite3"]), t
    assert all(f["attaches"] and f["required"] for f in rep["families"])
    assert t["probe_library"] in families(rep)["probes"]["detail"]
    # Nothing was attached: the workload's probe calls reach no program.
    assert not any(e.get("pid") == wl.pid for e in bpftool_perf())


def test_a_disabled_family_is_said_disabled(start):
    wl = start.workload("--tasks", "1")
    code, rep = check("--pid", str(wl.pid), "--disable", "sqlite,files")
    assert code == 0 and rep["ok"]
    fams = families(rep)
    assert {n: (f["disabled"], f["attaches"]) for n, f in fams.items()} == {
        "probes": (False, True), "processes": (False, True), "files": (True, False),
        "sqlite": (True, False), "http": (False, True), "python": (False, True),
        "custom": (False, True)}
    assert fams["sqlite"]["detail"] == "disabled (--disable)"


def bpftool_perf():
    out = subprocess.run(["bpftool", "perf", "show", "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out or "[]")


def test_a_required_family_that_would_not_attach_exits_1():
    code, rep = check("--require", "probes,sqlite")
    assert code == 1 and rep["ok"] is False
    assert not families(rep)["sqlite"]["attaches"]
    code, rep = check("--pid", "999999999")
    assert code == 1
    assert "no process with pid 999999999" in rep["target"]["error"]
    assert "no process with pid 999999999" in families(rep)["probes"]["detail"]


def test_without_privileges_it_says_what_each_family_lacks():
    code, rep = check(wrap=as_nobody([]))
    assert code == 1 and rep["capabilities"] == []
    for f in rep["families"]:
        assert not f["attaches"], f
        assert {"cap_bpf", "cap_perfmon"} <= set(f["missing"]), f
        assert " lacks " in f["detail"], f
    code, rep = check(wrap=as_nobody(["cap_sys_admin", "cap_sys_ptrace"]))
    fams = families(rep)
    assert code == 0  # probes, the one required, has what it needs
    assert fams["files"]["missing"] == ["cap_dac_read_search"]
    assert not fams["files"]["attaches"] and fams["processes"]["attaches"]


def test_tracefs_not_mounted_is_looked_at_privately():
    # Where the start would mount tracefs, --check mounts it in a mount
    # namespace of its own: the families load, nothing is left mounted.
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'umount -l /sys/kernel/tracing && "$0" --check --json && '
                        'grep -c " /sys/kernel/tracing " /proc/self/mountinfo', COLLECTOR],
                       capture_output=True, text=True, timeout=60)
    report, _, left = r.stdout.rpartition("}\n")
    rep = json.loads(report + "}")
    assert rep["tracefs"] == {"path": "/sys/kernel/tracing", "mounted": False, "syscalls": True}
    assert families(rep)["files"]["attaches"] and rep["ok"]
    assert left.strip() == "0", r.stdout + r.stderr


def test_the_table_says_the_same():
    code, rep = check()
    r = run_collector("--check")
    assert r.returncode == code
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(probes|processes|files|sqlite|http|python|custom) +(yes|no) +(yes|no) +(.*)$", line)
        if m:
            rows[m.group(1)] = (m.group(2) == "yes", m.group(3) == "yes", m.group(4))
    assert rows == {f["name"]: (f["required"], f["attaches"], f["detail"])
                    for f in rep["families"]}
    for label in ("kernel", "BTF", "BPF build", "tracefs", "uprobes", "uprobe spot",
                  "capabilities", "target"):
        assert re.search(r"^%s +\S" % label, r.stdout, re.M), label
    assert r.stdout.rstrip().endswith("every required family would attach")


def test_json_is_for_check():
    r = run_collector("--pid", "1", "--json")
    assert r.returncode == 2
    assert r.stderr.strip() == "aet-collector: --json is for --check (see --help)"
