"""Deployment files parse, and make install puts everything where it says."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def files(*patterns):
    return sorted(f for p in patterns for f in glob.glob(os.path.join(ROOT, p), recursive=True))


@pytest.mark.parametrize("path", files("deploy/**/*.yml", "deploy/**/*.yaml",
                                       "dashboards/**/*.yml"))
def test_yaml_parses(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    assert docs, path


@pytest.mark.parametrize("path", files("dashboards/*.json"))
def test_json_parses(path):
    with open(path) as f:
        assert isinstance(json.load(f), dict)


def test_kubernetes_manifests():
    with open(os.path.join(ROOT, "deploy/kubernetes/aet-collector.yaml")) as f:
        docs = {d["kind"]: d for d in yaml.safe_load_all(f)}
    assert set(docs) == {"DaemonSet", "Service", "ServiceMonitor"}
    pod = docs["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    sc = pod["containers"][0]["securityContext"]
    assert sc["privileged"] is False and "SYS_ADMIN" in sc["capabilities"]["add"]
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"/sys/kernel/btf", "/sys/kernel/tracing"} <= mounts


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_systemd_unit_verifies(tmp_path):
    # Beside a stand-in for the AET service it binds to.
    shutil.copy(os.path.join(ROOT, "deploy/systemd/aet-collector.service"), tmp_path)
    (tmp_path / "aet.service").write_text("[Unit]\nDescription=AET\n"
                                          "[Service]\nExecStart=/bin/true\n")
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        str(tmp_path / "aet-collector.service")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "build/aet-collector")),
                    reason="not built")
def test_make_install_honours_prefix_and_destdir(tmp_path):
    subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=%s" % tmp_path,
                    "PREFIX=/opt/aet"], check=True, capture_output=True)
    got = {os.path.relpath(os.path.join(d, f), tmp_path)
           for d, _, fs in os.walk(tmp_path) for f in fs}
    pysite = "opt/aet/lib/python3.%d/dist-packages" % sys.version_info[1]
    want = {"opt/aet/sbin/aet-collector", "opt/aet/lib/libaetprobe.so",
            "opt/aet/include/aet/probe.h", "opt/aet/share/aet-collector/python/aetprobe.py",
            pysite + "/aetprobe.pth", "opt/aet/share/man/man8/aet-collector.8",
            "opt/aet/share/aet-collector/dashboards/rules.yml",
            "opt/aet/share/aet-collector/dashboards/README.md",
            "opt/aet/share/aet-collector/dashboards/provisioning/dashboards.yml",
            "opt/aet/share/aet-collector/dashboards/provisioning/datasources.yml"}
    want |= {"opt/aet/share/aet-collector/dashboards/" + os.path.basename(p)
             for p in files("dashboards/*.json")}
    assert want <= got, want - got
    assert os.access(tmp_path / "opt/aet/sbin/aet-collector", os.X_OK)
    # The .pth names the binding's directory as installed, without DESTDIR.
    assert (tmp_path / pysite / "aetprobe.pth").read_text() == \
        "/opt/aet/share/aet-collector/python\n"


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "build/aet-collector")),
                    reason="not built")
def test_installed_binding_imports(tmp_path):
    """Installed without DESTDIR under a PREFIX of its own: the interpreter
    that reads the site directory (as it does PREFIX/lib/python3.X/
    dist-packages for /usr/local) imports aetprobe through the .pth, and
    the binding finds the library through AETPROBE_LIBRARY."""
    prefix = tmp_path / "prefix"
    subprocess.run(["make", "-s", "-C", ROOT, "install", "PREFIX=%s" % prefix],
                   check=True, capture_output=True)
    site = prefix / ("lib/python3.%d/dist-packages" % sys.version_info[1])
    code = ("import site, sys; site.addsitedir(sys.argv[1]); import aetprobe; "
            "print(aetprobe.__file__); print(aetprobe.available)")
    r = subprocess.run(["/usr/bin/python3", "-c", code, str(site)], capture_output=True,
                       text=True, env=dict(os.environ, AETPROBE_LIBRARY=str(
                           prefix / "lib/libaetprobe.so")))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(prefix / "share/aet-collector/python/aetprobe.py"), "True"]


def readme_privileges():
    """The README's Privileges section: the set to grant, and the table's
    rows as (capability, also, families, when, for)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("### Privileges\n"):]
    section = section[:section.index("\n## ")]
    grant = re.search(r"^    (cap_\w+(?: cap_\w+)*)$", section, re.M).group(1).split()
    row = r"^\| `(cap_\w+)`(?: \(or `(cap_\w+)`\))? \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$"
    rows = [tuple(g or "" for g in m.groups()) for m in re.finditer(row, section, re.M)]
    return grant, rows


def man_privileges():
    """The same of the man page's PRIVILEGES section."""
    with open(os.path.join(ROOT, "man/aet-collector.8")) as f:
        text = f.read().replace("\\-", "-")
    section = text[text.index(".SH PRIVILEGES\n"):]
    section = section[:section.index("\n.SH ", 1)]
    grant = re.search(r"^\.RS\n\.B (cap_\w+(?: cap_\w+)*)\n\.RE$", section, re.M).group(1)
    row = (r"^\.TP\n\.B (cap_\w+)(?: \(or (cap_\w+)\))?\nFor: (.+)\.\nFamilies: (.+)\.\n"
           r"When: (.+)\.$")
    rows = [(m[0], m[1], m[3], m[4], m[2]) for m in re.findall(row, section, re.M)]
    return grant.split(), rows


def test_privileges_agree():
    """One set of capabilities and one table: the README's, which
    tests/e2e/test_privileges.py holds to the collector's own."""
    grant, rows = readme_privileges()
    assert grant and len(rows) >= len(grant)
    assert {r[0] for r in rows} >= set(grant)
    assert man_privileges() == (grant, rows)
    with open(os.path.join(ROOT, "deploy/systemd/aet-collector.service")) as f:
        unit = dict(ln.split("=", 1) for ln in f.read().splitlines() if "=" in ln
                    and not ln.startswith("#"))
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        assert unit[key].lower().split() == grant, key
    with open(os.path.join(ROOT, "deploy/kubernetes/aet-collector.yaml")) as f:
        docs = {d["kind"]: d for d in yaml.safe_load_all(f)}
    sc = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert ["cap_" + c.lower() for c in sc["capabilities"]["add"]] == grant
    assert sc["capabilities"]["drop"] == ["ALL"]


DASHBOARDS = ("aet-system-overview", "aet-agent-performance", "aet-error-tracking",
              "aet-resource-usage", "aet-collector", "aet-model-calls")


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_is_importable(name):
    """Grafana 10+: schemaVersion, a datasource variable, no hard-coded
    datasource uid, a unit on every panel."""
    with open(os.path.join(ROOT, "dashboards", name + ".json")) as f:
        d = json.load(f)
    assert d["schemaVersion"] >= 36 and d["uid"] and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    shown = [p for p in panels(d["panels"]) if p.get("type") != "row"]
    assert len(shown) >= 6
    for p in shown:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["fieldConfig"]["defaults"].get("unit"), p["title"]
        assert p.get("targets") and all(t.get("expr") for t in p["targets"]), p["title"]
