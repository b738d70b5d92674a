#!/bin/sh
# SPDX-License-Identifier: MIT
# make test-load: runs a command (the end-to-end tests) on a busy machine,
# as CI machines are: two CPU hogs and an I/O hog (64 MiB written and
# fsync'd in a loop, in a directory of its own under DIR) run beside it.
# They are started here and stopped when the command ends, whatever its
# result; should this script be killed, each still ends after SECONDS.
# The exit status is the command's.
#
#   sh scripts/load.sh SECONDS DIR COMMAND...
set -eu
[ $# -ge 3 ] || { echo "usage: $0 SECONDS DIR COMMAND..." >&2; exit 2; }
seconds=$1 parent=$2
shift 2

mkdir -p "$parent"
dir=$(mktemp -d "$parent/load.XXXXXX")
pids=
# shellcheck disable=SC2086,SC2317 # a list of pids; run by the trap
stop() {
	# timeout(1) passes the signal on to its command's process group.
	if [ -n "$pids" ]; then
		kill $pids 2>/dev/null || true
		wait $pids 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

for _ in 1 2; do
	timeout "$seconds" sh -c 'while :; do :; done' &
	pids="$pids $!"
done
# shellcheck disable=SC2016 # expanded by the hog's shell
timeout "$seconds" sh -c 'while :; do
	dd if=/dev/zero of="$1/hog" bs=1M count=64 conv=fsync status=none || exit
done' sh "$dir" &
pids="$pids $!"
echo "load: two CPU hogs and an I/O hog (pids$pids, at most $seconds s) beside: $*"

start=$(date +%s)
status=0
"$@" || status=$?
echo "load: $(($(date +%s) - start)) s under load, exit status $status"
exit "$status"
