"""Model calls (the http family's gen_ai part): the workload's agents call
OpenAI-shaped and Anthropic-shaped APIs (tests/e2e/httpd.py), plain and
over TLS, through urllib.request and a requests.Session: JSON answers,
gzip'd or not, event streams with and without a final usage event, 429 and
500 answers, a stream cut by a reset. The workload's truth is its plan:
calls per (agent, provider, operation, model, status) and tokens per
(agent, provider, model, token type), compared exactly with
aet_gen_ai_requests_total and aet_gen_ai_tokens_total; the duration and
time-to-first-chunk histograms count every call and every stream.

The agent of a call is the agent whose request is open on the thread that
makes it: spans are on (the collector follows what is open on a thread
from them).
"""
import collections
import os
import time

import pytest

from harness import by_labels, parse_exposition, render_label
from httpd import Servers
from otlp import Receiver
from test_late_attach import differences
from test_spans import otel_env

REQUESTS = "aet_gen_ai_requests_total"
TOKENS = "aet_gen_ai_tokens_total"
DURATION = "aet_gen_ai_client_operation_duration_seconds"
FIRST = "aet_gen_ai_client_time_to_first_chunk_seconds"
PER_CHUNK = "aet_gen_ai_client_time_per_output_chunk_seconds"
MISSING = "aet_gen_ai_usage_missing_total"


@pytest.fixture
def servers(tmp_path):
    s = Servers(os.path.join(str(tmp_path), "httpd"))
    yield s
    s.stop()


@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.stop()


def labels(**kw):
    return frozenset((k, render_label(v)) for k, v in kw.items())


def want(truth):
    g = truth["genai"]
    out = {REQUESTS: collections.Counter(), TOKENS: collections.Counter(),
           DURATION + "_count": collections.Counter(), FIRST + "_count": collections.Counter(),
           MISSING: collections.Counter()}
    for r in g["requests"]:
        out[REQUESTS][labels(agent=r["agent"], provider=r["provider"],
                             operation=r["operation"], model=r["model"],
                             status=r["status"])] += r["count"]
        out[DURATION + "_count"][labels(provider=r["provider"], operation=r["operation"],
                                        model=r["model"])] += r["count"]
    for r in g["tokens"]:
        out[TOKENS][labels(agent=r["agent"], provider=r["provider"], model=r["model"],
                           token_type=r["token_type"])] += r["tokens"]
    for r in g["streams"]:
        out[FIRST + "_count"][labels(provider=r["provider"], model=r["model"])] += r["count"]
    for r in g["missing"]:
        out[MISSING][labels(reason=r["reason"])] += r["count"]
    return out


def check_coverage(truth):
    rows = truth["genai"]["requests"]
    assert {r["provider"] for r in rows} == {"openai", "anthropic"}
    assert {"success", "4xx", "5xx", "connection_reset"} <= {r["status"] for r in rows}, rows
    assert truth["genai"]["streams"] and truth["genai"]["missing"]
    assert len({r["agent"] for r in rows}) > 1


def mismatches(samples, truth):
    out = []
    for name, series in want(truth).items():
        got = {k: v for k, v in by_labels(samples, name).items() if v}
        out += differences(name, got, series)
    return out


def settled(col, truth, timeout=10):
    """The metrics once they match the truth, or after timeout seconds (a
    call's end is drained within milliseconds)."""
    deadline = time.monotonic() + timeout
    while True:
        samples, types = parse_exposition(col.metrics())
        wrong = mismatches(samples, truth)
        if not wrong or time.monotonic() > deadline:
            return samples, types, wrong
        time.sleep(0.2)


def test_model_calls_match_the_plan(start, servers, receiver):
    wl = start.workload("--seed", "5", "--threads", "2", "--tasks", "120", "--genai",
                        "%s,%s" % (servers.plain_url, servers.tls_url), "--http-ca",
                        servers.cafile)
    col = start.collector(wl.pid, env=otel_env(receiver, OTEL_TRACES_SAMPLER="always_on"))
    truth = wl.go()
    check_coverage(truth)
    samples, types, wrong = settled(col, truth)
    assert not wrong, "%d series differ from the truth:\n%s" % (len(wrong), "\n".join(wrong))
    assert (types[REQUESTS], types[TOKENS], types[DURATION], types[FIRST], types[PER_CHUNK]) == (
        "counter", "counter", "histogram", "histogram", "histogram")
    # Every stream with more than one chunk observed its gaps.
    assert sum(by_labels(samples, PER_CHUNK + "_count").values()) > 0
    assert not any(v for v in by_labels(samples, "aet_collector_gen_ai_bytes_lost_total").values())
    code, err = col.stop()
    assert code == 0, err
