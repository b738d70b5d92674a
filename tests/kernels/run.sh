#!/bin/sh
# make test-kernels: boots each kernel of KERNELS in qemu and runs
# tests/kernels/guest.py in it. One line per kernel:
#   PASS 6.1.0-50-amd64 (68 s)
#   FAIL 6.12.117+deb13-amd64: aet_tasks_total: 299, expected 300
#   UNSUPPORTED 5.10.0-32-amd64: this kernel lacks ... (as expected)
# A kernel in UNSUPPORTED must be refused with one clear line and nothing
# loaded; every other must pass. Exits 1 on anything else. The guests'
# figures (uprobe spot calibration, probe-hit cost at each spot) go to
# build/kernels.txt.
#
#   KERNELS="bullseye bookworm trixie trixie-backports" (Debian suites,
#   or SUITE/PACKAGE; see scripts/kernels/fetch.sh)
#   UNSUPPORTED="bullseye"
set -eu
cd "$(dirname "$0")/../.."
KERNELS=${KERNELS:-bullseye bookworm trixie trixie-backports}
UNSUPPORTED=${UNSUPPORTED-bullseye}
figures=build/kernels.txt
mkdir -p build
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
	arg=
	case " $UNSUPPORTED " in *" $spec "*) arg=--unsupported ;; esac
	log="build/kernels-$release.log"
	sh scripts/kernels/boot.sh "$kdir" "cd $PWD && /usr/bin/python3 tests/kernels/guest.py $arg" \
		>"$log" 2>&1 || true
	result=$(sed -n 's/^AET-RESULT //p' "$log" | head -n 1)
	secs=$(($(date +%s) - k0))
	sed -n "s/^AET-FIGURE /$release /p" "$log" >>"$figures"
	case $result in
	PASS*) echo "PASS $release ($secs s)" ;;
	UNSUPPORTED*)
		if [ -n "$arg" ]; then
			echo "UNSUPPORTED $release: ${result#UNSUPPORTED } (as expected, $secs s)"
		else
			echo "FAIL $release: ${result#UNSUPPORTED }"
			failed=1
		fi
		;;
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
