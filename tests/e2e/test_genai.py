"""Model calls (the http family's gen_ai part): the workload's agents call
OpenAI-shaped and Anthropic-shaped APIs (tests/e2e/httpd.py), plain and
over TLS, through urllib.request and a requests.Session: JSON answers,
gzip'd or not, event streams with and without a final usage event, 429 and
500 answers, a stream cut by a reset, an answer that does not come before
the client's timeout. The workload's truth is its plan:
calls per (agent, provider, operation, model, status) and tokens per
(agent, provider, model, token type), compared exactly with
aet_gen_ai_requests_total and aet_gen_ai_tokens_total; the duration and
time-to-first-chunk histograms count every call and every stream.

The agent of a call is the agent whose request is open on the thread that
makes it, with tracing on or off. With tracing on, each call's HTTP client
span is its GenAI span: named "{operation} {request model}", with the
provider, the models, the finish reason and the tokens its answer gave,
the child of the agent request span that names its agent; each is compared
with the truth's calls, and none carries the prompt.

The collector is given prices (--gen-ai-prices) for two of the models that
answer: aet_gen_ai_cost_usd_total per (agent, model) is the truth's tokens
at those prices, and the calls of every other model (the third, and the
requests' models that errors keep) count in
aet_gen_ai_cost_unpriced_requests_total.
"""
import collections
import time

import pytest

from harness import by_labels, labels, parse_exposition, render_label
from test_http_client import established
from test_late_attach import LateWorkload, differences
from test_spans import otel_env

REQUESTS = "aet_gen_ai_requests_total"
TOKENS = "aet_gen_ai_tokens_total"
DURATION = "aet_gen_ai_client_operation_duration_seconds"
FIRST = "aet_gen_ai_client_time_to_first_chunk_seconds"
PER_CHUNK = "aet_gen_ai_client_time_per_output_chunk_seconds"
MISSING = "aet_gen_ai_usage_missing_total"
COST = "aet_gen_ai_cost_usd_total"
UNPRICED = "aet_gen_ai_cost_unpriced_requests_total"
MODEL_PATHS = ("/v1/chat/completions", "/v1/messages")  # the workload's model APIs

# USD per million tokens: input, output, cached input. Anthropic counts its
# cache reads beside the input, OpenAI as part of it (README, "Model calls").
PRICES = {"gpt-4o-mini-2025": (0.15, 0.6, 0.075), "claude-test-2025": (3.0, 15.0, 0.3)}
PRICES_FILE = """# model  input  output  cached input (USD per million tokens)
gpt-4o-mini-2025\t0.15 0.60 0.075   # OpenAI-shaped
claude-test-2025  3 15 .3
"""


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


def want_cost(truth):
    """{(agent, model): USD} of the truth's tokens, and {model: calls} of
    the models not priced."""
    tokens = collections.defaultdict(collections.Counter)
    provider = {}
    for r in truth["genai"]["tokens"]:
        tokens[r["agent"], r["model"]][r["token_type"]] += r["tokens"]
        provider[r["agent"], r["model"]] = r["provider"]
    cost = {}
    for key, t in tokens.items():
        if key[1] not in PRICES:
            continue
        pin, pout, pcached = PRICES[key[1]]
        uncached = t["input"] if provider[key] == "anthropic" else t["input"] - t["cached_input"]
        cost[key] = (uncached * pin + t["cached_input"] * pcached + t["output"] * pout) / 1e6
    unpriced = collections.Counter()
    for r in truth["genai"]["requests"]:
        if r["model"] not in PRICES:
            unpriced[r["model"]] += r["count"]
    return cost, unpriced


def check_cost(samples, types, truth):
    cost, unpriced = want_cost(truth)
    assert types[COST] == types[UNPRICED] == "counter"
    # Both providers priced, one model not, and calls of it to count.
    assert {m for _, m in cost} == set(PRICES) and "gpt-test-2025" in unpriced, (cost, unpriced)
    got = {(dict(k)["agent"], dict(k)["model"]): v for k, v in by_labels(samples, COST).items()}
    assert set(got) == {(render_label(a), m) for a, m in cost}, (got, cost)
    for (agent, model), usd in cost.items():
        assert got[render_label(agent), model] == pytest.approx(usd, rel=1e-12, abs=0), (
            agent, model)
    got = {dict(k)["model"]: v for k, v in by_labels(samples, UNPRICED).items()}
    assert got == unpriced


def check_coverage(truth):
    rows = truth["genai"]["requests"]
    assert {r["provider"] for r in rows} == {"openai", "anthropic", "groq"}
    assert {"success", "4xx", "5xx", "connection_reset", "timeout"} <= {
        r["status"] for r in rows}, rows
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


def span_status(a):
    """A span's call status as the metrics' status label says it."""
    code, error = a.get("http.response.status_code"), a.get("error.type")
    if error is None:
        return "success" if 200 <= code < 300 else "%dxx" % (code // 100)
    return "%dxx" % (code // 100) if error == str(code) else error


def span_calls(spans):
    """The model call spans as the truth's call rows say them, and what
    else is wrong with them."""
    by_id = {s["span_id"]: s for s in spans}
    got, wrong = collections.Counter(), []
    for s in spans:
        a = s["attributes"]
        if "gen_ai.operation.name" not in a:
            continue
        agent, up = None, by_id.get(s["parent_span_id"])
        while up and agent is None:  # the agent request it is in (maybe in a custom span)
            agent = up["attributes"].get("gen_ai.agent.name")
            up = by_id.get(up["parent_span_id"])
        status = span_status(a)
        key = (agent, a["gen_ai.provider.name"], a["gen_ai.operation.name"],
               a.get("gen_ai.request.model"), status)
        if status == "success":
            finish = a.get("gen_ai.response.finish_reasons") or [""]
            key += (a.get("gen_ai.response.model", ""), finish[0],
                    a.get("gen_ai.usage.input_tokens", -1), a.get("gen_ai.usage.output_tokens", -1))
        else:
            key += ("", "", -1, -1)
        got[key] += 1
        if s["name"] != "%s %s" % (key[2], key[3]) or s["kind"] != 3:
            wrong.append("span %r of kind %d" % (s["name"], s["kind"]))
        if any("say" in str(v) for v in a.values()):
            wrong.append("span %r carries the prompt: %r" % (s["name"], a))
    return got, wrong


def check_spans(receiver, truth, timeout=10):
    want = collections.Counter()
    for r in truth["genai"]["calls"]:
        want[(r["agent"], r["provider"], r["operation"], r["request_model"], r["status"],
              r["response_model"], r["finish"], r["input"], r["output"])] += r["count"]
    deadline = time.monotonic() + timeout
    while True:
        got, wrong = span_calls(receiver.spans)
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not wrong, wrong[:5]
    names = collections.Counter(s["name"] for s in receiver.spans)
    assert got == want, "spans named %s; of the spans, not in the truth: %s; missing: %s" % (
        dict(names), sorted((got - want).items())[:5], sorted((want - got).items())[:5])


@pytest.mark.parametrize("tracing", [True, False], ids=["tracing", "no_tracing"])
def test_model_calls_match_the_plan(start, servers, receiver, tmp_path, tracing):
    prices = tmp_path / "prices.txt"
    prices.write_text(PRICES_FILE)
    wl = start.workload("--seed", "5", "--threads", "2", "--tasks", "120", "--genai",
                        "%s,%s" % (servers.plain_url, servers.tls_url), "--http-ca",
                        servers.cafile)
    env = otel_env(receiver, OTEL_TRACES_SAMPLER="always_on") if tracing else otel_env()
    col = start.collector(wl.pid, "--gen-ai-prices", str(prices), env=env)
    truth = wl.go()
    check_coverage(truth)
    samples, types, wrong = settled(col, truth)
    assert not wrong, "%d series differ from the truth:\n%s" % (len(wrong), "\n".join(wrong))
    assert (types[REQUESTS], types[TOKENS], types[DURATION], types[FIRST], types[PER_CHUNK]) == (
        "counter", "counter", "histogram", "histogram", "histogram")
    # Every stream with more than one chunk observed its gaps.
    assert sum(by_labels(samples, PER_CHUNK + "_count").values()) > 0
    assert not any(v for v in by_labels(samples, "aet_collector_gen_ai_bytes_lost_total").values())
    check_cost(samples, types, truth)
    if tracing:
        check_spans(receiver, truth)
        samples, _ = parse_exposition(col.metrics())
        assert samples[("aet_collector_gen_ai_spans_unjoined_total", frozenset())] == 0
    code, err = col.stop()
    assert code == 0, err


def test_late_attach_counts_model_calls_exactly(start, servers, receiver):
    """A target that made model calls before the collector came, its
    kept-alive connections and TLS sessions set up: what follows the attach
    is counted exactly, and its spans are whole, over those connections."""
    wl = LateWorkload(start.tmp_path, "--warm", "2", "--seed", "43", "--threads", "2",
                      "--tasks", "120", "--genai", "%s,%s" % (servers.plain_url, servers.tls_url),
                      "--http-ca", servers.cafile)
    start.stops.append(wl.kill)
    ports = {servers.plain_port, servers.tls_port}
    before = established(wl.pid, ports)
    assert set(before.values()) == ports, before
    assert sum(e["path"] in MODEL_PATHS for e in servers.log()) > 2  # the warm-up's calls
    col = start.collector(wl.pid, "--require", "http",
                          env=otel_env(receiver, OTEL_TRACES_SAMPLER="always_on"))
    t_go = time.time()
    truth = wl.go()
    check_coverage(truth)
    reused = {e["tls"] for e in servers.log()
              if e["time"] >= t_go and e["path"] in MODEL_PATHS and e["peer"] in before}
    assert reused == {False, True}, reused
    samples, _, wrong = settled(col, truth)
    assert not wrong, "%d series differ from the truth:\n%s" % (len(wrong), "\n".join(wrong))
    check_spans(receiver, truth)
    code, err = col.stop()
    assert code == 0, err
