#!/bin/sh
# skel-same.sh NATIVE.skel.h COMPAT.skel.h NAME: fails when the two builds
# of bpf/NAME.bpf.c differ in what the skeleton describes (maps, programs,
# globals and their layout), which would make user space open the compat
# object wrongly through the native skeleton.
set -eu
upper=$(echo "$3" | tr a-z A-Z)
layout() {
	sed -n '1,/__elf_bytes(size_t \*sz)$/p' "$1" |
		sed "s/${2}_bpf_compat/${2}_bpf/g; s/${upper}_BPF_COMPAT/${upper}_BPF/g"
}
if ! layout "$1" "$3" >"$2.native" || ! layout "$2" "$3" >"$2.compat" ||
	! diff -u "$2.native" "$2.compat" >"$2.diff"; then
	echo "$2: the compat build of bpf/$3.bpf.c differs from the native one:" >&2
	cat "$2.diff" >&2
	rm -f "$2"
	exit 1
fi
rm -f "$2.native" "$2.compat" "$2.diff"
