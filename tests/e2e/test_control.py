"""The emergency switch: POST /control/disable and /control/enable, SIGUSR1
and SIGUSR2, AET_METRICS_ENABLED=false. Disabled, nothing of the collector
stays attached: the target's calls are not seen at all."""
import json
import os
import signal
import time

from harness import Collector, by_labels, parse_exposition, wait_ticks, wait_until


def tasks(col, target, n):
    """Makes the target run n tasks; returns aet_tasks_total, summed."""
    target.stdin.write("agents %d\n" % n)
    target.stdin.flush()
    assert target.stdout.readline().strip() == "done"
    s, _ = parse_exposition(col.metrics())
    return sum(by_labels(s, "aet_tasks_total").values())


def status(col):
    return json.loads(col.get("/status")[2])


def wait_enabled(col, on):
    wait_until(lambda: status(col)["enabled"] == on,
               "the switch to %s done (/status)" % ("enabled" if on else "disabled"))


def post(col, path, **headers):
    return col.get(path, method="POST", headers=headers)[0]


def test_post_disables_and_enables(start, target):
    col = start.collector(target.pid_)
    assert tasks(col, target, 100) == 100
    assert col.get("/control/disable")[0] == 405  # GET: POST only
    assert post(col, "/control/disable") == 202
    wait_enabled(col, False)
    code, _, body = col.get("/ready")
    assert code == 503 and b"POST /control/disable" in body
    s, _ = parse_exposition(col.metrics())
    assert s[("aet_collector_enabled", frozenset())] == 0
    assert tasks(col, target, 100) == 100  # not seen: nothing attached
    assert post(col, "/control/enable") == 202
    wait_enabled(col, True)
    assert col.get("/ready")[0] == 200
    assert tasks(col, target, 100) == 200
    code, err = col.stop()
    assert code == 0, err


def test_signals_switch(start, target):
    col = start.collector(target.pid_)
    col.proc.send_signal(signal.SIGUSR1)
    wait_enabled(col, False)
    assert tasks(col, target, 50) == 0
    col.proc.send_signal(signal.SIGUSR2)
    wait_enabled(col, True)
    assert tasks(col, target, 50) == 50
    code, err = col.stop()
    assert code == 0, err


def test_control_token(start, target):
    col = start.collector(target.pid_, "--control-token", "s3cret")
    assert post(col, "/control/disable") == 401
    assert post(col, "/control/disable", Authorization="Bearer wrong!") == 401
    assert post(col, "/control/disable", Authorization="Bearer s3cret") == 202
    wait_enabled(col, False)
    code, err = col.stop()
    assert code == 0, err


def test_starts_disabled(target):
    col = Collector(target.pid_, env={"AET_METRICS_ENABLED": "false"}, wait_ready=False)
    try:
        wait_enabled(col, False)
        st = status(col)
        assert st["disabled_by"] == "AET_METRICS_ENABLED=false"
        assert col.get("/ready")[0] == 503
        assert tasks(col, target, 10) == 0
        col.proc.send_signal(signal.SIGUSR2)
        wait_enabled(col, True)
        assert tasks(col, target, 10) == 10
    finally:
        code, err = col.stop()
    assert code == 0, err


def test_least_privilege(start, target):
    """Loaded and attached, the collector keeps what reading the maps,
    reading the target and attaching again (the switch above) need."""
    col = start.collector(target.pid_)
    kept = {2: "cap_dac_read_search", 19: "cap_sys_ptrace", 21: "cap_sys_admin",
            38: "cap_perfmon", 39: "cap_bpf", 40: "cap_checkpoint_restore"}
    mask = sum(1 << c for c in kept)
    with open("/proc/%d/status" % col.proc.pid) as f:
        caps = dict(line.split(":\t") for line in f if line.startswith("Cap"))
    # every thread: the HTTP thread's is what a client could ever reach
    for tid in os.listdir("/proc/%d/task" % col.proc.pid):
        with open("/proc/%d/task/%s/status" % (col.proc.pid, tid)) as f:
            eff = next(line for line in f if line.startswith("CapEff"))
        assert int(eff.split()[1], 16) == mask, tid
    assert int(caps["CapPrm"], 16) == mask and int(caps["CapBnd"], 16) == mask
    assert int(caps["CapInh"], 16) == 0 and int(caps["CapAmb"], 16) == 0
    assert status(col)["capabilities"] == [kept[c] for c in sorted(kept)]
    assert tasks(col, target, 10) == 10
    code, err = col.stop()
    assert code == 0, err


def test_last_post_wins(start, target):
    """Requests sent while a switch is under way: the last one decides."""
    col = start.collector(target.pid_)
    for path in ("/control/disable", "/control/enable", "/control/disable"):
        assert post(col, path) == 202
    posted = time.monotonic()
    wait_enabled(col, False)
    # Any switch still to come has come: each turn of the main loop takes
    # one of the control signals (SIGRTMIN, queued: one a POST) and switches
    # before it ticks; three whole turns after the last POST take them all.
    wait_ticks(col, 3, after=posted)
    assert status(col)["enabled"] is False
    code, err = col.stop()
    assert code == 0, err


def test_capabilities_given_by_the_service_manager(start, target):
    """Started as the systemd unit does, with a bounding set of its own and
    no cap_setpcap: it starts, keeps what it uses of it, and switches."""
    col = start.collector(target.pid_, wrap=(
        "setpriv", "--bounding-set=-all,+bpf,+perfmon,+sys_admin,+sys_ptrace,"
        "+dac_read_search,+sys_resource", "--"))
    assert status(col)["capabilities"] == [
        "cap_dac_read_search", "cap_sys_ptrace", "cap_sys_admin", "cap_perfmon", "cap_bpf"]
    assert post(col, "/control/disable") == 202
    wait_enabled(col, False)
    assert post(col, "/control/enable") == 202
    wait_enabled(col, True)
    assert tasks(col, target, 10) == 10
    code, err = col.stop()
    assert code == 0, err
