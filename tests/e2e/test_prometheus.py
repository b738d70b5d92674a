"""The dashboards and rules against a real Prometheus scraping the collector.

Debian's prometheus scrapes the collector attached to the reference workload
(on loopback, temporary storage, a one-second interval), the workload making
HTTP and HTTPS calls to local servers (--http, tests/e2e/httpd.py) for the
"Outbound calls" row, model calls to the same servers (--genai) for the
"Model calls" dashboard, the collector given prices (--gen-ai-prices) for
its cost panels, and forcing garbage collections of each generation
(--gc) for the "Python runtime" row. Every query of every panel and every recording rule
must return data: a panel showing nothing is a failure, not a warning.
"""
import glob
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from harness import ROOT, free_port, promtool_check
from httpd import Servers

RULES = os.path.join(ROOT, "dashboards", "rules.yml")
# Two of the three models that answer (tests/workload/aet_workload.py,
# GenaiCalls): the third's calls count as unpriced.
PRICES = "gpt-4o-mini-2025 0.15 0.60 0.075\nclaude-test-2025 3 15\n"
PROMETHEUS = "/usr/bin/prometheus"


def query(url, expr):
    q = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen("%s/api/v1/query?%s" % (url, q), timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def panel_targets(panels):
    """(dashboard panel title, refId, expr) of every query, rows included."""
    for p in panels:
        yield from panel_targets(p.get("panels", []))
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p.get("title", "?"), t.get("refId", ""), t["expr"]


@pytest.fixture
def prometheus(start, tmp_path):
    """Prometheus scraping a collector attached to the workload in a loop,
    calling a plain and a TLS server, and their model APIs."""
    srv = Servers(str(tmp_path / "httpd"))
    start.stops.append(srv.stop)  # after the workload's, as stops run in reverse
    urls = "%s,%s" % (srv.plain_url, srv.tls_url)
    wl = start.workload("--loop", "--pause", "0.05", "--threads", "2", "--gc",
                        "--http", urls, "--genai", urls, "--http-ca", srv.cafile)
    prices = tmp_path / "prices.txt"
    prices.write_text(PRICES)
    col = start.collector(wl.pid, "--file-root", os.path.join(str(tmp_path), "work"),
                          "--gen-ai-prices", str(prices))
    wl.proc.stdin.write("go\n")
    wl.proc.stdin.flush()
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [%s]\n"
        "scrape_configs:\n"
        "  - job_name: aet-collector\n"
        "    static_configs: [{targets: ['127.0.0.1:%d']}]\n" % (json.dumps(RULES), col.port))
    p = subprocess.Popen([PROMETHEUS, "--config.file=%s" % cfg,
                          "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = "http://127.0.0.1:%d" % port
    try:
        # Enough samples for rates and quantiles, and rules evaluated on them.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if (query(url, "count_over_time(up[1m]) >= 15")
                        and query(url, "aet:task_failure_ratio:rate5m")
                        and query(url, "aet:gen_ai_tokens:rate5m")):
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("prometheus gathered no data in 90 s")
        yield url, col
    finally:
        p.terminate()
        p.communicate(timeout=30)


def row_targets(panels, row):
    """panel_targets() of the panels under the row titled row."""
    under = False
    for p in panels:
        if p.get("type") == "row":
            under = p.get("title") == row
        if under:
            yield from panel_targets([p])


def test_every_panel_and_rule_returns_data(prometheus):
    url, col = prometheus
    empty = []
    for path in sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json"))):
        with open(path) as f:
            dash = json.load(f)
        for title, ref, expr in panel_targets(dash["panels"]):
            if not query(url, expr.replace("$__rate_interval", "1m")):
                empty.append("%s: %s [%s] %s" % (os.path.basename(path), title, ref, expr))
    with open(RULES) as f:
        records = [line.split("record:", 1)[1].strip() for line in f if "record:" in line]
    assert len(records) >= 4
    for rec in records:
        if not query(url, rec):
            empty.append("rule %s" % rec)
    assert not empty, "queries without data:\n" + "\n".join(empty)
    # The outbound calls are the servers' and both directions', not series
    # of some other origin (each server is called, over HTTP and HTTPS).
    with open(os.path.join(ROOT, "dashboards", "aet-agent-performance.json")) as f:
        outbound = list(row_targets(json.load(f)["panels"], "Outbound calls"))
    assert len(outbound) == 5
    for title, ref, expr in outbound:
        got = query(url, expr.replace("$__rate_interval", "1m"))
        labels = {(k, v) for r in got for k, v in r["metric"].items()}
        want = ({("direction", "request"), ("direction", "response")} if "direction" in expr
                else {("server_address", "127.0.0.1"), ("server_address", "localhost")})
        assert want <= labels, (title, ref, expr, got)
    # The cost is the priced models', both providers'; the unpriced model's
    # calls are counted apart.
    with open(os.path.join(ROOT, "dashboards", "aet-model-calls.json")) as f:
        exprs = [e for _, _, e in panel_targets(json.load(f)["panels"])]
    cost = [e for e in exprs if "aet_gen_ai_cost_usd_total" in e and "vector(0)" not in e]
    assert len(cost) == 2
    for expr in cost:
        got = query(url, expr.replace("$__rate_interval", "1m"))
        assert {r["metric"]["model"] for r in got} == {"gpt-4o-mini-2025", "claude-test-2025"}
        assert all(float(r["value"][1]) > 0 for r in got), (expr, got)
    unpriced = query(url, "sum by (model) (aet_gen_ai_cost_unpriced_requests_total)")
    assert "gpt-test-2025" in {r["metric"]["model"] for r in unpriced}, unpriced
    # The exposition itself passes promtool's checks.
    ok, out = promtool_check(col.metrics())
    assert ok, out


def test_rules_pass_promtool():
    r = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
