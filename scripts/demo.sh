#!/bin/sh
# make demo: the reference workload in a loop, the collector attached to it.
# Ctrl-C stops both. Needs root (the collector loads BPF programs).
set -eu
cd "$(dirname "$0")/.."
listen=${AET_DEMO_LISTEN:-127.0.0.1:9478}
work=$(mktemp -d /tmp/aet-demo.XXXXXX)

[ "$(id -u)" -eq 0 ] || { echo "demo: the collector loads BPF programs: run as root" >&2; exit 1; }

AETPROBE_LIBRARY=$PWD/build/libaetprobe.so /usr/bin/python3 tests/workload/aet_workload.py \
	--loop --rate 50 --threads 2 --dir "$work" 2>"$work/workload.log" &
wl=$!
cleanup() {
	kill "$wl" 2>/dev/null || true
	[ -n "${col:-}" ] && kill "$col" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM
sleep 0.5 # let the workload load the probe library

build/aet-collector --pid "$wl" --listen "$listen" --file-root "$work" &
col=$!
sleep 0.5
kill -0 "$col" 2>/dev/null || { echo "demo: the collector did not start" >&2; exit 1; }
cat <<MSG

aet-collector is attached to the reference workload (pid $wl).
Scrape it:   curl -s http://$listen/metrics
Readiness:   curl -s http://$listen/ready
Status:      curl -s http://$listen/status
Spans:       OTEL_EXPORTER_CONSOLE=true make demo prints them as JSON lines;
             OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4318 make demo sends them
Ctrl-C stops the demo.
MSG
wait "$col"
