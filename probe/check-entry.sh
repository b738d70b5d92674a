#!/bin/sh
# Fails unless every aet_probe_* symbol of the library $1 begins with
# nopl 0x0(%rax,%rax,1); push %rbp (0f 1f 44 00 00 55): docs/DESIGN.md, 3. The probe ABI.
set -eu
lib=$1
# aet_probe_histogram_buckets is C: it checks and converts the bounds, then
# calls the probe aet_probe_histogram_bounds; no uprobe is placed on it.
syms=$(nm -D --defined-only "$lib" |
	awk '$3 ~ /^aet_probe_/ && $3 != "aet_probe_histogram_buckets" { print $3 }')
[ -n "$syms" ] || { echo "$lib: no aet_probe_* symbols" >&2; exit 1; }
n=0
for s in $syms; do
	bytes=$(objdump -d "$lib" --disassemble="$s" |
		awk '/^ *[0-9a-f]+:\t/ { sub(/^[^\t]*\t/, ""); sub(/\t.*/, ""); printf "%s", $0 }' |
		tr -d ' ' | cut -c1-12)
	if [ "$bytes" != "0f1f44000055" ]; then
		echo "$lib: $s begins with $bytes, not 0f1f44000055 (nop5; push %rbp)" >&2
		exit 1
	fi
	n=$((n + 1))
done
[ "$n" -eq 16 ] || { echo "$lib: expected 16 aet_probe_* symbols, found $n" >&2; exit 1; }
