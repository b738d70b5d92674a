"""probe/check-entry.sh: the build fails unless every probe begins nop5; push %rbp."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "probe", "check-entry.sh")
LIBRARY = os.path.join(ROOT, "build", "libaetprobe.so")
NAMES = ("abi_version cycle_begin cycle_end task_begin task_end agent_begin agent_end "
         "event span_begin span_end trace_context keyed_counter_add keyed_gauge_set "
         "keyed_gauge_add keyed_observe").split()


def build(tmp_path, body):
    src = tmp_path / "probe.c"
    src.write_text("".join("void aet_probe_%s(void) { %s }\n" % (n, body) for n in NAMES))
    lib = tmp_path / "libaetprobe.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return lib


def check(lib):
    return subprocess.run(["sh", CHECK, str(lib)], capture_output=True, text=True)


@pytest.mark.skipif(not os.path.exists(LIBRARY), reason="build/libaetprobe.so not built")
def test_the_built_library_passes():
    r = check(LIBRARY)
    assert r.returncode == 0, r.stderr


def test_a_compiled_library_fails(tmp_path):
    # What a compiler makes of an empty function: ret (or endbr64) first.
    r = check(build(tmp_path, ""))
    assert r.returncode == 1
    assert "not 0f1f44000055" in r.stderr


def test_missing_symbols_fail(tmp_path):
    lib = tmp_path / "libempty.so"
    (tmp_path / "e.c").write_text("int unrelated(void) { return 0; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "e.c")],
                   check=True)
    r = check(lib)
    assert r.returncode == 1 and "no aet_probe_* symbols" in r.stderr
