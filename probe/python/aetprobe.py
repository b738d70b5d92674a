"""Python binding of the AET probe ABI (include/aet/probe.h), stdlib only.

    import aetprobe

    with aetprobe.cycle():
        with aetprobe.task(aetprobe.next_id(), "coder", "generation") as t:
            with aetprobe.agent(None, "coder", "write_code"):
                ...
            if gave_up:
                t.status = aetprobe.TIMEOUT
        aetprobe.event("task_completed")

Each function calls the aet_probe_* function of the same name in
libaetprobe.so, which does nothing but call a probe: aet-collector
observes the calls with uprobes. The library is $AETPROBE_LIBRARY if set, else what
ctypes.util.find_library("aetprobe") finds, else "libaetprobe.so". When it
cannot be loaded or speaks another ABI version, `available` is False,
`error` says why and every function is a no-op (abi_version() returns 0):
the application never fails because of its observability.

The context managers cycle(), task(), agent() and span() call begin on entry
and end on exit. The end status is SUCCESS when the block completes, TIMEOUT
when it raises TimeoutError, FAILURE for any other Exception, and CANCELLED
for a BaseException that is not an Exception (asyncio.CancelledError, and
also KeyboardInterrupt, SystemExit, GeneratorExit: the work was interrupted,
it did not fail). The exception propagates. Setting `status` on the object
the `with` yields overrides this. An id of None takes one from next_id().

Custom metrics (ABI version 2), aggregated by the collector and exposed as
aet_custom_NAME:

    aetprobe.counter("tokens_used", agent="coder").add(812)
    aetprobe.gauge("queue_depth", queue="tasks").set(3)
    aetprobe.histogram("reply_seconds", agent="coder").observe(0.25)
    aetprobe.histogram("latency_seconds", buckets=[0.1, 0.5, 1, 5], agent="coder")

Labels are keyword arguments (at most 4), sent as "k=v;k=v". A histogram
value is sent in millionths (fixed point). A histogram's buckets are those
of the durations unless its name declares its own, buckets= (or
histogram_buckets(name, buckets)): 1 to 16 finite upper bounds, strictly
increasing once rounded to millionths, a last +Inf allowed and implied;
others raise ValueError, library or not. The declaration is made each time
buckets= is given, and must come before the name's first observe: the
collector ignores (and counts) a late one or one with other bounds, and
the same bounds again are what a collector attached later needs. A library
of ABI version 1 makes the custom metrics no-ops and everything else works.

String arguments are str, sent as UTF-8 (lone surrogates from
surrogateescape become the bytes they stand for), or bytes, sent as they
are.
"""
import ctypes
import ctypes.util
import itertools
import math
import os
from types import SimpleNamespace

ABI_VERSION = 2
SUCCESS, FAILURE, TIMEOUT, CANCELLED = 0, 1, 2, 3

_u64, _i32, _i64, _str = ctypes.c_uint64, ctypes.c_int32, ctypes.c_int64, ctypes.c_char_p
# name (after aet_probe_) -> (restype, argtypes), exactly as in probe.h.
_SIGNATURES = {
    "abi_version": (ctypes.c_int, ()),
    "cycle_begin": (None, (_u64,)),
    "cycle_end": (None, (_u64, _i32)),
    "task_begin": (None, (_u64, _str, _str)),
    "task_end": (None, (_u64, _i32)),
    "agent_begin": (None, (_u64, _str, _str)),
    "agent_end": (None, (_u64, _i32)),
    "event": (None, (_str,)),
    "span_begin": (None, (_u64, _str, _str)),
    "span_end": (None, (_u64, _i32)),
    "trace_context": (None, (_str,)),
}
# Those of ABI version 2 only.
_SIGNATURES_2 = {
    "counter_add": (None, (_str, _str, _u64)),
    "gauge_set": (None, (_str, _str, _i64)),
    "gauge_add": (None, (_str, _str, _i64)),
    "observe": (None, (_str, _str, _i64)),
}
# Added to version 2 later: a library without it still has the rest.
_SIGNATURES_2_LATER = {
    "histogram_buckets": (ctypes.c_int, (_str, ctypes.POINTER(ctypes.c_double), ctypes.c_size_t)),
}
BUCKETS_MAX = 16


def _noop(*args):
    pass


def _bind(lib, signatures):
    table = {}
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, "aet_probe_" + name)
        fn.restype, fn.argtypes = restype, argtypes
        table[name] = fn
    return table


def _load():
    """Returns (function table, None), or (a table of no-ops, the reason)."""
    path = os.environ.get("AETPROBE_LIBRARY")
    try:
        path = path or ctypes.util.find_library("aetprobe") or "libaetprobe.so"
        lib = ctypes.CDLL(path)
        table = _bind(lib, _SIGNATURES)
        version = table["abi_version"]()
        if version == 1:
            table.update(dict.fromkeys(list(_SIGNATURES_2) + list(_SIGNATURES_2_LATER), _noop))
            return SimpleNamespace(**table), None
        if version == ABI_VERSION:
            table.update(_bind(lib, _SIGNATURES_2))
            try:
                table.update(_bind(lib, _SIGNATURES_2_LATER))
            except AttributeError:
                table.update(dict.fromkeys(_SIGNATURES_2_LATER, _noop))
            return SimpleNamespace(**table), None
        reason = "%s speaks probe ABI version %d, not 1 or %d" % (path, version, ABI_VERSION)
    except Exception as e:  # whatever goes wrong here must not stop the application
        reason = "cannot load %s: %s" % (path or "libaetprobe", e)
    table = dict.fromkeys(list(_SIGNATURES) + list(_SIGNATURES_2) + list(_SIGNATURES_2_LATER),
                          _noop)
    table["abi_version"] = lambda: 0
    return SimpleNamespace(**table), reason


# The function table every call goes through (tests replace it).
_c, error = _load()
available = error is None


def _b(s):
    """s as the bytes of a char * argument."""
    if isinstance(s, str):
        try:
            return s.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate surrogateescape did not make
            return s.encode("utf-8", "surrogatepass")
    return s


def abi_version():
    return _c.abi_version()


def cycle_begin(cycle_id):
    _c.cycle_begin(cycle_id)


def cycle_end(cycle_id, status):
    _c.cycle_end(cycle_id, status)


def task_begin(task_id, agent, mode):
    _c.task_begin(task_id, _b(agent), _b(mode))


def task_end(task_id, status):
    _c.task_end(task_id, status)


def agent_begin(request_id, agent, operation):
    _c.agent_begin(request_id, _b(agent), _b(operation))


def agent_end(request_id, status):
    _c.agent_end(request_id, status)


def event(event_type):
    _c.event(_b(event_type))


def span_begin(span_id, name, attributes=""):
    _c.span_begin(span_id, _b(name), _b(attributes))


def span_end(span_id, status):
    _c.span_end(span_id, status)


def trace_context(traceparent):
    _c.trace_context(_b(traceparent))


# next() on a count is one C call, atomic under the GIL: ids never repeat.
_ids = itertools.count(1)


def next_id():
    """A new id, unique within the process."""
    return next(_ids)


def _status_of(exc_type):
    if exc_type is None:
        return SUCCESS
    if issubclass(exc_type, TimeoutError):
        return TIMEOUT
    if issubclass(exc_type, Exception):
        return FAILURE
    return CANCELLED


class _Scope:
    """An open cycle, task, agent request or span (see the module docstring)."""

    __slots__ = ("id", "status", "_begin", "_end", "_args")

    def __init__(self, begin, end, id, args):
        self.id = next_id() if id is None else id
        self.status = None  # None: decided by how the block exits
        self._begin, self._end, self._args = begin, end, args

    def __enter__(self):
        self._begin(self.id, *self._args)
        return self

    def __exit__(self, exc_type, exc, tb):
        self._end(self.id, _status_of(exc_type) if self.status is None else self.status)
        # Returns None, so an exception propagates.


def cycle(cycle_id=None):
    return _Scope(cycle_begin, cycle_end, cycle_id, ())


def task(task_id, agent, mode):
    return _Scope(task_begin, task_end, task_id, (agent, mode))


def agent(request_id, agent, operation):
    return _Scope(agent_begin, agent_end, request_id, (agent, operation))


def span(span_id, name, attributes=""):
    return _Scope(span_begin, span_end, span_id, (name, attributes))


def counter_add(name, labels, delta):
    _c.counter_add(_b(name), _b(labels), delta)


def gauge_set(name, labels, value):
    _c.gauge_set(_b(name), _b(labels), value)


def gauge_add(name, labels, delta):
    _c.gauge_add(_b(name), _b(labels), delta)


def observe(name, labels, value):
    """value in units (seconds, tokens...): sent in millionths."""
    _c.observe(_b(name), _b(labels), round(value * 1000000))


def _bounds(buckets):
    """The bounds as floats, a last +Inf dropped; ValueError unless
    aet_probe_histogram_buckets (include/aet/probe.h) would take them."""
    b = [float(x) for x in buckets]
    if b and b[-1] == math.inf:
        b.pop()
    if not 1 <= len(b) <= BUCKETS_MAX:
        raise ValueError("histogram buckets: 1 to %d finite bounds, not %d" % (BUCKETS_MAX, len(b)))
    micros = []
    for d in b:
        if not -9e12 <= d <= 9e12:
            raise ValueError("histogram bucket %r: not finite, or past 9e12" % d)
        m = d * 1e6  # as the library rounds: the nearest millionth, halves away from zero
        micros.append(int(m - 0.5 if m < 0 else m + 0.5))
        if len(micros) > 1 and micros[-1] <= micros[-2]:
            raise ValueError("histogram buckets: not strictly increasing in millionths: %r" % b)
    return b


def histogram_buckets(name, buckets):
    """Declares the buckets of histogram name (see the module docstring)."""
    b = _bounds(buckets)
    _c.histogram_buckets(_b(name), (ctypes.c_double * len(b))(*b), len(b))


def _labels(kw):
    return b";".join(_b(k) + b"=" + _b(v) for k, v in kw.items())


class _Metric:
    """A custom metric and label set, its labels encoded once."""

    __slots__ = ("name", "labels")

    def __init__(self, name, labels):
        self.name, self.labels = _b(name), _labels(labels)


class _Counter(_Metric):
    __slots__ = ()

    def add(self, delta=1):
        _c.counter_add(self.name, self.labels, delta)


class _Gauge(_Metric):
    __slots__ = ()

    def set(self, value):
        _c.gauge_set(self.name, self.labels, value)

    def add(self, delta):
        _c.gauge_add(self.name, self.labels, delta)


class _Histogram(_Metric):
    __slots__ = ()

    def observe(self, value):
        _c.observe(self.name, self.labels, round(value * 1000000))


def counter(name, **labels):
    return _Counter(name, labels)


def gauge(name, **labels):
    return _Gauge(name, labels)


def histogram(name, buckets=None, **labels):
    """buckets: declares them (histogram_buckets) first."""
    if buckets is not None:
        histogram_buckets(name, buckets)
    return _Histogram(name, labels)
