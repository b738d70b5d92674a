"""The README says what the collector serves: every family of a real scrape
is in its Metrics table."""
import os
import re

from harness import ROOT


def metrics_table():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("\n## Metrics\n"):]
    section = section[:section.index("\n## ", 1)]
    names = set()
    for line in section.splitlines():
        if line.startswith("| "):
            names.update(re.findall(r"\b(aet_[a-z0-9_]+|process_)\*?", line.split("|")[1]))
    return names


def test_every_family_scraped_is_in_the_metrics_table(start, tmp_path):
    wl = start.workload("--tasks", "20")
    col = start.collector(wl.pid)
    wl.go()
    families = set(re.findall(r"^# TYPE (\S+) ", col.metrics(), re.M))
    assert len(families) > 30
    table = metrics_table()
    missing = {f for f in families
               if f not in table and not any(f.startswith(p) and p in table
                                             for p in ("process_", "aet_custom_"))}
    assert not missing, "families served, not in the README's Metrics table: %s" % missing
    # The cost of model calls is served with --gen-ai-prices only.
    assert "aet_gen_ai_cost_usd_total" in table and "aet_gen_ai_cost_usd_total" not in families
