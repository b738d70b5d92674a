#!/bin/sh
# Fails unless every aet_probe_* symbol of the library $1 begins with
# nopl 0x0(%rax,%rax,1); push %rbp (0f 1f 44 00 00 55): docs/DESIGN.md, 3. The probe ABI.
set -eu
lib=$1
# The C functions (probe/buckets.c, probe/custom.c) call the probes; no
# uprobe is placed on them: aet_probe_histogram_buckets, the four of the
# custom metrics and their counter of attached programs.
c='^aet_probe_(histogram_buckets|counter_add|gauge_set|gauge_add|observe|custom_attached)$'
syms=$(nm -D --defined-only "$lib" |
	awk -v c="$c" '$3 ~ /^aet_probe_/ && $3 !~ c { print $3 }')
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
