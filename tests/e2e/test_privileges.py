"""The collector as a user other than root, with exactly the capabilities
the README's Privileges section grants, as ambient capabilities: every
family attaches and counts exactly; without any one of them it does not
start, and its one line names the capability missing.

The target is the workload run by root: another user's process, as AET is
to its collector (so cap_sys_ptrace is needed), its work directory under a
0700 one (pytest's), tracefs root's (cap_dac_read_search)."""
import json
import os
import re
import subprocess

import pytest

from harness import COLLECTOR, ROOT, by_labels, free_port, our_programs, parse_exposition, \
    programs_added, wait_until

FAMILIES = ("probes", "processes", "files", "sqlite", "http", "python", "custom")
NOBODY = 65534


def documented_set():
    """The capabilities the README's Privileges section says to grant: the
    first indented line of it naming them."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("### Privileges\n"):]
    line = re.search(r"^    (cap_\w+(?: cap_\w+)*)$", section, re.M)
    assert line, "no set of capabilities in the README's Privileges section"
    return line.group(1).split()


def documented_table():
    """The rows of the README's table: (capability, also, families, when, for)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("### Privileges\n"):]
    rows = []
    row = r"^\| `(cap_\w+)`(?: \(or `(cap_\w+)`\))? \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$"
    for m in re.finditer(row, section, re.M):
        rows.append((m.group(1), m.group(2), m.group(3).split(", "), m.group(4), m.group(5)))
    return rows


def as_nobody(caps):
    """setpriv: user and group nobody, no other group, caps ambient (so they
    survive the exec of the collector) and nothing else, even bounded."""
    names = ",".join("+" + c.removeprefix("cap_") for c in caps)
    sets = "-all" + ("," + names if names else "")
    return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
            "--inh-caps=" + sets, "--ambient-caps=" + sets, "--bounding-set=" + sets]


def cap_set(status_line):
    """The capability names of a CapEff or CapBnd value of /proc/PID/status."""
    out = subprocess.run(["capsh", "--decode=" + status_line.split()[1]],
                         capture_output=True, text=True, check=True).stdout
    return set(out.strip().split("=", 1)[1].split(",")) - {""}


def proc_caps(pid):
    with open("/proc/%d/status" % pid) as f:
        lines = {ln.split(":")[0]: ln for ln in f}
    return cap_set(lines["CapEff"]), cap_set(lines["CapBnd"]), lines["Uid"].split()[1:]


def test_every_family_attaches_with_exactly_the_set(start, tmp_path):
    caps = documented_set()
    wl = start.workload("--tasks", "60", "--seed", "5")
    registry = os.path.join(str(tmp_path), "work", "registry")
    col = start.collector(wl.pid, "--require", ",".join(FAMILIES), "--file-root", registry,
                          wrap=as_nobody(caps))
    eff, bnd, uids = proc_caps(col.proc.pid)
    assert uids == [str(NOBODY)] * 4
    # Kept after the drop: never more than it was given.
    assert eff == bnd == set(caps)
    st = json.loads(col.get("/status")[2])
    assert {f["name"]: f["attached"] for f in st["families"]} == dict.fromkeys(FAMILIES, True)
    assert all(r["held"] or not r["applies"] for r in st["privileges"]), st["privileges"]
    # The table the collector checks is the README's, word for word.
    assert [(r["capability"], r["also"], r["families"], r["when"], r["for"])
            for r in st["privileges"]] == documented_table()

    # The emergency switch attaches again with what was kept.
    for path in ("/control/disable", "/control/enable"):
        assert col.get(path, method="POST")[0] == 202
        on = path.endswith("enable")
        wait_until(lambda: json.loads(col.get("/status")[2])["enabled"] == on,
                   "the switch to turn %s" % ("on" if on else "off"))
    assert col.get("/ready")[0] == 200

    truth = wl.go()
    samples, _ = parse_exposition(col.metrics())
    assert sum(by_labels(samples, "aet_tasks_total").values()) == \
        sum(r["count"] for r in truth["tasks"])
    files = sum(v for k, v in by_labels(samples, "aet_file_operations_total").items())
    assert files == sum(r["count"] for r in truth["files"]) > 0
    sql = sum(by_labels(samples, "aet_db_operations_total").values())
    assert sql == sum(r["count"] for r in truth["sql"]) > 0
    code, err = col.stop()
    assert code == 0, err


@pytest.mark.parametrize("missing", ["cap_sys_admin", "cap_sys_ptrace", "cap_dac_read_search"])
def test_each_capability_missing_is_named(start, tmp_path, missing):
    caps = [c for c in documented_set() if c != missing]
    wl = start.workload("--tasks", "1")
    before = our_programs()
    r = subprocess.run(as_nobody(caps) + [
        COLLECTOR, "--pid", str(wl.pid), "--listen", "127.0.0.1:%d" % free_port(),
        "--require", ",".join(FAMILIES),
        "--file-root", os.path.join(str(tmp_path), "work", "registry")],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert " lacks " in lines[0] and missing in lines[0], lines[0]
    assert "grant it " + " ".join(documented_set()) in lines[0]
    assert programs_added(before) == []
