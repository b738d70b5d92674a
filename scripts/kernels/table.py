#!/usr/bin/python3
"""The README's table of kernels, from what `make test-kernels` kept of each
guest (build/kernels/RELEASE.json: the suite, the result, and the guest's
`aet-collector --check --json`), and with --host from this host's own
--check. Prints Markdown; the README's Kernels section holds its output.

    /usr/bin/python3 scripts/kernels/table.py --host
"""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = ("| kernel | Debian | result | BPF build | uprobes created for | uprobe spot "
          "(a hit: nop5 / push, ns) | families | tested |\n|---|---|---|---|---|---|---|---|")


def version_key(release):
    return [int(p) if p.isdigit() else 0 for p in release.replace("-", ".").split(".")[:4]]


def row(kernel, suite, result, check, date):
    if not check:
        return "| %s | %s | %s | | | | | %s |" % (kernel, suite, result, date)
    build = check["bpf_build"]
    admin = check["uprobes"]["need_cap_sys_admin"]
    spot = check["uprobe_spot"]
    fams = " ".join("%s %s" % (f["name"], "yes" if f["attaches"] else "no")
                    for f in check["families"] if f["name"] != "sqlite")
    return "| %s | %s | %s | %s (%s) | %s | %s | %s | %s |" % (
        kernel, suite, result, build["build"] or "none", build["decided_by"],
        {True: "cap_sys_admin only", False: "cap_perfmon", None: "not told"}[admin],
        "%s: %d / %d" % (spot["spot"], spot["nop5_hit_ns"], spot["push_hit_ns"])
        if spot else "", fams, date)


def main():
    rows = []
    for path in sorted(glob.glob(os.path.join(ROOT, "build", "kernels", "*.json")),
                       key=lambda p: version_key(os.path.basename(p))):
        with open(path) as f:
            k = json.load(f)
        result = "pass" if k["result"].startswith("PASS") else \
            "fail: " + k["result"].removeprefix("FAIL ").split(": {", 1)[0][:90]
        rows.append(row(k["release"], k["spec"], result, k["check"], k["date"]))
    if "--host" in sys.argv[1:]:
        out = subprocess.run([os.path.join(ROOT, "build", "aet-collector"), "--check",
                              "--json"], capture_output=True, text=True).stdout
        check = json.loads(out)
        rows.append(row(check["kernel"]["release"] + " (this host)", "", "", check,
                        subprocess.run(["date", "-u", "+%Y-%m-%d"], capture_output=True,
                                       text=True).stdout.strip()))
    print(HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
