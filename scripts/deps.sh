#!/bin/sh
# Installs the Debian packages the build, the tests and the benchmarks need,
# when they are missing. Quiet when nothing is missing.
set -eu

# build: clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libmicrohttpd-dev
#   libcurl4-openssl-dev (the OTLP exporter) libyajl-dev (model call bodies)
# tests: libcriterion-dev, python3-pytest, python3-yaml, prometheus (promtool),
#   protobuf-compiler and python3-protobuf (decoding OTLP with a schema of our own),
#   python3-requests (the workload's keep-alive HTTP client, --http)
# third-party targets (tests/e2e/test_thirdparty.py): strace (the ground truth),
#   git and sqlite3 (programs run as targets)
# bench: python3-prometheus-client (the earlier in-process approach)
# kernels (make test-kernels): qemu-system-x86, busybox-static, xz-utils and
#   zstd (modules), debian-archive-keyring (the kernel packages' signatures)
# fuzz: libclang-rt-14-dev (libFuzzer and the sanitizer runtimes of clang 14;
#   clang only recommends it)
# asan: libasan8 and libubsan1 (gcc's sanitizer runtimes, for make asan)
PKGS="gcc make clang llvm bpftool binutils pkg-config libbpf-dev libelf-dev zlib1g-dev
libmicrohttpd-dev libcurl4-openssl-dev libyajl-dev libcriterion-dev python3 python3-pytest python3-yaml
prometheus python3-prometheus-client protobuf-compiler python3-protobuf python3-requests
libclang-rt-14-dev
libasan8 libubsan1 qemu-system-x86 busybox-static xz-utils zstd debian-archive-keyring
strace git sqlite3"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the list is meant
apt-get install -y -qq --no-install-recommends $missing >/dev/null
