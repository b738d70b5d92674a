#!/bin/sh
# make test-kernels: boots each kernel of KERNELS in qemu and runs
# tests/kernels/guest.py in it. One line per kernel:
#   PASS 6.1.0-50-amd64 native (68 s)
#   FAIL 6.12.117+deb13-amd64: aet_tasks_total: 299, expected 300
# Every kernel must pass, with the BPF build it lacks features for
# (bpf/compat.bpf.h) when it is in COMPAT, else the native one. Exits 1
# on anything else. The guests' figures (the build and why, uprobe spot
# calibration, probe-hit cost at each spot) go to build/kernels.txt, and
# each guest's `aet-collector --check --json`, with the suite and the
# result, to build/kernels/RELEASE.json: scripts/kernels/table.py makes the
# README's table of them.
#
#   KERNELS="bullseye bookworm trixie trixie-backports" (Debian suites,
#   or SUITE/PACKAGE; see scripts/kernels/fetch.sh)
#   COMPAT="bullseye"
set -eu
cd "$(dirname "$0")/../.."
KERNELS=${KERNELS:-bullseye bookworm trixie trixie-backports}
COMPAT=${COMPAT-bullseye}
figures=build/kernels.txt
mkdir -p build/kernels
: >"$figures"
failed=0
t0=$(date +%s)
for spec in $KERNELS; do
	k0=$(date +%s)
	if ! kdir=$(sh scripts/kernels/fetch.sh "$spec" 2>build/kernels-fetch.log); then
		echo "FAIL $spec: cannot fetch it: $(tail -n 1 build/kernels-fetch.log)"
		failed=1
		continue
	fi
	release=$(cat "$kdir/release")
	build=native
	case " $COMPAT " in *" $spec "*) build=compat ;; esac
	log="build/kernels-$release.log"
	sh scripts/kernels/boot.sh "$kdir" \
		"cd $PWD && /usr/bin/python3 tests/kernels/guest.py --build $build" \
		>"$log" 2>&1 || true
	result=$(sed -n 's/^AET-RESULT //p' "$log" | head -n 1)
	secs=$(($(date +%s) - k0))
	sed -n "s/^AET-FIGURE /$release /p" "$log" >>"$figures"
	printf '{"spec":"%s","release":"%s","result":"%s","date":"%s","check":%s}\n' \
		"$spec" "$release" "$(echo "${result:-no result}" | sed 's/["\\]/ /g')" \
		"$(date -u +%Y-%m-%d)" "$(sed -n 's/^AET-CHECK //p' "$log" | head -n 1 | grep . || echo null)" \
		>"build/kernels/$release.json"
	case $result in
	PASS*) echo "PASS $release $build ($secs s)" ;;
	FAIL*)
		echo "FAIL $release: ${result#FAIL }"
		failed=1
		;;
	*)
		echo "FAIL $release: the guest gave no result ($log): $(tail -n 3 "$log" | tr '\n' ' ')"
		failed=1
		;;
	esac
done
echo "test-kernels: $(($(date +%s) - t0)) s; figures in $figures"
exit $failed
