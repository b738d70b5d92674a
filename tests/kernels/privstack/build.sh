#!/bin/sh
# Builds the reproducer into build/privstack (run from the repository's top).
set -eu
o=build/privstack
mkdir -p $o
clang -g -O2 -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Ivmlinux/x86 -I/usr/include/x86_64-linux-gnu \
	-c tests/kernels/privstack/privstack.bpf.c -o $o/privstack.bpf.o
bpftool gen skeleton $o/privstack.bpf.o >$o/privstack.skel.h
cc -O2 -g -Wall -I$o tests/kernels/privstack/privstack.c -o $o/privstack -lbpf -lpthread
