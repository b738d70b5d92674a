"""user/traceparent.c carries a copy of the trace context parser of
bpf/probes.bpf.c (its unit tests and fuzz target run that copy): the two must
stay the same, byte for byte. Change both, or neither."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BPF = os.path.join(ROOT, "bpf", "probes.bpf.c")
COPY = os.path.join(ROOT, "user", "traceparent.c")
FUNCTIONS = ("parse_hex", "parse_traceparent", "parse_local")


def definition(text, name):
    """The comment above function name, its signature and body."""
    m = re.search(r"(/\*(?:(?!\*/).)*\*/\n)?static __always_inline bool %s\(.*?\n}\n" % name,
                  text, re.S)
    assert m, "no %s" % name
    return m.group(0)


def test_the_copy_is_the_bpf_code():
    with open(BPF) as f:
        bpf = f.read()
    with open(COPY) as f:
        copy = f.read()
    for name in FUNCTIONS:
        assert definition(copy, name) == definition(bpf, name), \
            "%s differs between %s and %s" % (name, BPF, COPY)
    define = re.compile(r"^#define TRACEPARENT_LEN .*$", re.M)
    assert define.findall(copy) == define.findall(bpf) != []
