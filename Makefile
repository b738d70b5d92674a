# SPDX-License-Identifier: MIT
# aet-collector: `make` builds into build/, `make test` runs every test,
# `make demo` starts the collector on the reference workload. V=1 shows
# every command.

OUTPUT := build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
LLVM_STRIP ?= llvm-strip
LLVM_OBJDUMP ?= llvm-objdump
PYTHON := /usr/bin/python3
ARCH := x86
PREFIX ?= /usr/local

CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -MMD -MP $(EXTRA_CFLAGS)
CPPFLAGS := -Iinclude -Iuser -I$(OUTPUT)
LDLIBS := -lbpf -lelf -lz -lyajl -lmicrohttpd -lcurl -lpthread
# CO-RE against the committed vmlinux.h; the asm headers of the host triplet.
BPF_CFLAGS := -g -O2 -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -MMD -MP \
	-Ivmlinux/$(ARCH) -Iinclude -I/usr/include/x86_64-linux-gnu

BPF_SRCS := $(wildcard bpf/*.bpf.c)
# Each object twice: native (Linux 5.12+) and compat (5.8+; bpf/compat.bpf.h).
# The compat skeletons only carry their object's bytes to user/variant.c.
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS)) \
	$(patsubst bpf/%.bpf.c,$(OUTPUT)/%.compat.skel.h,$(BPF_SRCS))
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS)) \
	$(patsubst bpf/%.bpf.c,$(OUTPUT)/%.compat.bpf.o,$(BPF_SRCS))
# Pure modules: no libbpf, unit-tested on their own.
PURE := buf expo procfs config log sqlverb otlp otelenv spanconv traceparent privs samples custom_expo \
	genai_body genai_prices genai_api
PURE_OBJS := $(patsubst %,$(OUTPUT)/user/%.o,$(PURE))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(wildcard user/*.c))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(wildcard tests/unit/test_*.c))

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS) $(OUTPUT)/floor.bpf.o $(OUTPUT)/floor_files.bpf.o $(OUTPUT)/span_gen.bpf.o
.PHONY: all binaries deps test test-unit test-e2e test-load demo bench soak vmlinux clean format format-check \
	install fuzz fuzz-run asan test-asan test-faults test-kernels test-compat

all: deps
	$(Q)$(MAKE) --no-print-directory binaries

deps:
	$(Q)sh scripts/deps.sh

binaries: $(OUTPUT)/aet-collector $(OUTPUT)/libaetprobe.so

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests:
	$(Q)mkdir -p $@

# Stripped of DWARF (BTF and its line info stay): the skeletons embed the
# objects, and loading reads them whole into the collector's RSS.
$(OUTPUT)/%.bpf.o: bpf/%.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

# -mcpu=v2, and no atomic that returns the old value (5.12): clang 14 emits
# one for a __sync_fetch_and_add whose result is used, even at v2, and 5.10
# refuses the program (EINVAL).
$(OUTPUT)/%.compat.bpf.o: bpf/%.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(subst -mcpu=v3,-mcpu=v2,$(BPF_CFLAGS)) -DAET_COMPAT -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@
	$(Q)if $(LLVM_OBJDUMP) -d $@ | grep -q 'atomic_fetch\|xchg'; then \
		echo "$@: an atomic 5.8-5.11 refuse (fetch, xchg)" >&2; rm -f $@; exit 1; fi

$(OUTPUT)/%.bpf.o: bench/%.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# User space opens the compat object through the native skeleton: both
# must have the same maps, programs and globals.
$(OUTPUT)/%.compat.skel.h: $(OUTPUT)/%.compat.bpf.o $(OUTPUT)/%.skel.h scripts/skel-same.sh
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf_compat > $@
	$(Q)sh scripts/skel-same.sh $(OUTPUT)/$*.skel.h $@ $*

# Objects include their skeletons: the first build needs them generated.
$(USER_OBJS): | $(SKELS)

$(OUTPUT)/user/%.o: user/%.c | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

$(OUTPUT)/libaetpure.a: $(PURE_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/aet-collector: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# The probe functions must begin with nop5; push %rbp (docs/DESIGN.md, 3. The probe ABI).
$(OUTPUT)/libaetprobe.so: probe/aetprobe.S probe/buckets.c probe/custom.c include/aet/probe.h \
		probe/check-entry.sh | $(OUTPUT)
	$(call msg,LIB,$@)
	$(Q)$(CC) -shared -fPIC -O2 -Wall -Wextra -Iinclude -Wl,-z,noexecstack \
		-Wl,-soname,libaetprobe.so -o $@ probe/aetprobe.S probe/buckets.c probe/custom.c
	$(Q)sh probe/check-entry.sh $@

$(OUTPUT)/tests/%: tests/unit/%.c $(OUTPUT)/libaetpure.a | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) $< $(OUTPUT)/libaetpure.a -lcriterion -lz -lyajl -o $@

test: all
	$(Q)$(MAKE) --no-print-directory test-unit test-e2e

test-unit: $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t --jobs 1; done

# End-to-end: real BPF, the real workload. Needs root; see tests/e2e.
E2E := env AETPROBE_LIBRARY=$(CURDIR)/$(OUTPUT)/libaetprobe.so \
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/python tests/e2e
test-e2e: binaries $(OUTPUT)/bench-probe-hit
	$(Q)$(E2E)

# The same on a busy machine, as CI's are: two CPU hogs and an I/O hog
# beside the tests (scripts/load.sh, its files under build/), stopped when
# the tests end whatever their result, each ending after LOAD_SECONDS anyway.
LOAD_SECONDS ?= 3600
test-load: binaries $(OUTPUT)/bench-probe-hit
	$(Q)sh scripts/load.sh $(LOAD_SECONDS) $(OUTPUT) $(E2E)

# The end-to-end tests of what the compat BPF build changes (bpf/compat.bpf.h),
# with that build on this kernel.
COMPAT_TESTS := test_metrics test_spans test_files test_sqlite test_follow test_bounds test_families \
	test_late_attach test_thirdparty test_http_client test_http_edges test_python \
	test_custom
test-compat: binaries $(OUTPUT)/bench-probe-hit
	$(Q)AET_BPF_BUILD=compat AETPROBE_LIBRARY=$(CURDIR)/$(OUTPUT)/libaetprobe.so \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(patsubst %,tests/e2e/%.py,$(COMPAT_TESTS))

# Every kernel our users run, in qemu (tests/kernels/run.sh): Debian's 5.10,
# 6.1, 6.12 and newest 7.x, downloaded once into /var/cache/aet-kernels.
test-kernels: all $(OUTPUT)/bench-probe-hit
	$(Q)sh tests/kernels/run.sh

# The fault tests alone (tests/e2e/test_faults.py), printing their figures.
test-faults: binaries $(OUTPUT)/bench-probe-hit
	$(Q)AETPROBE_LIBRARY=$(CURDIR)/$(OUTPUT)/libaetprobe.so \
		$(PYTHON) -m pytest -q -s -p no:cacheprovider tests/e2e/test_faults.py

# The collector built with AddressSanitizer and UndefinedBehaviorSanitizer
# (gcc's runtimes; any report aborts), and the end-to-end tests run against
# it: harness.py takes AET_COLLECTOR, and fails a test whose collector's
# stderr holds a sanitizer report (LeakSanitizer's at exit included).
# tests/e2e/lsan.supp says which third-party leaks are suppressed, and why.
ASAN_DIR := $(OUTPUT)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_OBJS := $(patsubst user/%.c,$(ASAN_DIR)/user/%.o,$(wildcard user/*.c))
ASAN_ENV := AET_COLLECTOR=$(CURDIR)/$(ASAN_DIR)/aet-collector AET_SANITIZED=1 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/e2e/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(ASAN_DIR)/user:
	$(Q)mkdir -p $@

$(ASAN_OBJS): | $(SKELS)

$(ASAN_DIR)/user/%.o: user/%.c | $(ASAN_DIR)/user
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) $(CPPFLAGS) -c $< -o $@

$(ASAN_DIR)/aet-collector: $(ASAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) $^ $(LDLIBS) -o $@

asan: deps
	$(Q)$(MAKE) --no-print-directory $(ASAN_DIR)/aet-collector

test-asan: asan
	$(Q)$(MAKE) --no-print-directory binaries $(OUTPUT)/bench-probe-hit
	$(Q)$(ASAN_ENV) AETPROBE_LIBRARY=$(CURDIR)/$(OUTPUT)/libaetprobe.so \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

# make demo LISTEN=ADDR:PORT: the reference workload running, then the
# collector attached to it, serving on LISTEN; Ctrl-C stops both and removes
# what the demo made (scripts/demo.py).
LISTEN ?= 127.0.0.1:9478
demo: all
	$(Q)$(PYTHON) scripts/demo.py --listen '$(LISTEN)'

BENCH_BINS := $(OUTPUT)/bench-floor $(OUTPUT)/bench-probe-hit $(OUTPUT)/bench-floor-files \
	$(OUTPUT)/bench-floor-http $(OUTPUT)/bench-syscall $(OUTPUT)/bench-span-drain

$(OUTPUT)/bench-floor: bench/floor.c user/elfsym.c $(OUTPUT)/floor.skel.h
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) $(filter %.c,$^) $(LDLIBS) -o $@

$(OUTPUT)/bench-floor-files: bench/floor_files.c $(OUTPUT)/floor_files.skel.h
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) $< $(LDLIBS) -o $@

$(OUTPUT)/bench-floor-http: bench/floor_http.c $(OUTPUT)/floor_http.skel.h
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) $< $(LDLIBS) -o $@

$(OUTPUT)/bench-span-drain: bench/span_drain.c $(OUTPUT)/span_gen.skel.h $(OUTPUT)/libaetpure.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) $< $(OUTPUT)/libaetpure.a $(LDLIBS) -o $@

$(OUTPUT)/bench-syscall: bench/syscall.c | $(OUTPUT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/bench-probe-hit: bench/probe_hit.c $(OUTPUT)/libaetprobe.so
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) $< -L$(OUTPUT) -laetprobe -Wl,-rpath,'$$ORIGIN' -o $@

bench: all
	$(Q)$(MAKE) --no-print-directory $(BENCH_BINS)
	$(Q)$(PYTHON) -u bench/run.py

# The collector over SOAK_MINUTES (default 10) of the workload with spans
# on and a scrape every second: prints each minute, fails on growth.
soak: all
	$(Q)$(PYTHON) -u bench/soak.py

# libFuzzer targets (clang, ASan, UBSan) of the pure parsers and writers:
# tests/fuzz/fuzz_NAME.c with its seed corpus tests/fuzz/corpus/NAME/.
# fuzz-run runs each for FUZZ_SECONDS, growing a corpus under build/fuzz/.
FUZZ_SECONDS ?= 30
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst %,$(OUTPUT)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_SAN := address,undefined
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all -MMD -MP
FUZZ_PURE_OBJS := $(patsubst %,$(OUTPUT)/fuzz/%.o,$(PURE))
.SECONDARY: $(FUZZ_PURE_OBJS)

$(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/fuzz/%.o: user/%.c | $(OUTPUT)/fuzz
	$(call msg,CC-FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) $(CPPFLAGS) -c $< -o $@

$(OUTPUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_PURE_OBJS)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) $(CPPFLAGS) $< \
		$(FUZZ_PURE_OBJS) -lz -lyajl -lm -o $@

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz-run: fuzz
	$(Q)failed=; for f in $(FUZZ_NAMES); do \
		log=$(OUTPUT)/fuzz/$$f.log; \
		echo "== fuzz_$$f: $(FUZZ_SECONDS) s (log: $$log)"; \
		mkdir -p $(OUTPUT)/fuzz/corpus/$$f; \
		if $(OUTPUT)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(OUTPUT)/fuzz/$$f- $(OUTPUT)/fuzz/corpus/$$f \
			tests/fuzz/corpus/$$f >$$log 2>&1; then \
			grep -E '^(Done |stat::peak_rss_mb)' $$log; \
		else \
			tail -n 40 $$log; failed="$$failed fuzz_$$f"; \
		fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-run: failed:$$failed" >&2; exit 1; fi

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

FORMAT_SRCS = $(wildcard bpf/*.c bpf/*.h user/*.c user/*.h include/*.h include/aet/*.h tests/unit/*.c \
	bench/*.c tests/fuzz/*.c tests/fuzz/*.h)

format:
	$(Q)clang-format -i $(FORMAT_SRCS)

format-check:
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)

# PREFIX and DESTDIR as usual: make install DESTDIR=/tmp/pkg PREFIX=/usr
# The Python binding is importable by Debian's python3 through aetprobe.pth
# in PYSITE (on its path for PREFIX /usr/local and /usr); the loader finds
# libaetprobe.so once ldconfig has run (done here without DESTDIR).
PYSITE ?= $(PREFIX)/lib/python3.$(shell $(PYTHON) -c 'import sys; print(sys.version_info[1])')/dist-packages
install: binaries
	install -D -m 0755 $(OUTPUT)/aet-collector $(DESTDIR)$(PREFIX)/sbin/aet-collector
	install -D -m 0755 $(OUTPUT)/libaetprobe.so $(DESTDIR)$(PREFIX)/lib/libaetprobe.so
	install -D -m 0644 include/aet/probe.h $(DESTDIR)$(PREFIX)/include/aet/probe.h
	install -D -m 0644 probe/python/aetprobe.py \
		$(DESTDIR)$(PREFIX)/share/aet-collector/python/aetprobe.py
	install -d $(DESTDIR)$(PYSITE)
	printf '%s\n' '$(PREFIX)/share/aet-collector/python' >$(DESTDIR)$(PYSITE)/aetprobe.pth
	install -D -m 0644 man/aet-collector.8 $(DESTDIR)$(PREFIX)/share/man/man8/aet-collector.8
	install -d $(DESTDIR)$(PREFIX)/share/aet-collector/dashboards/provisioning
	install -m 0644 dashboards/*.yml $(wildcard dashboards/*.json) dashboards/README.md \
		$(DESTDIR)$(PREFIX)/share/aet-collector/dashboards/
	install -m 0644 dashboards/provisioning/*.yml \
		$(DESTDIR)$(PREFIX)/share/aet-collector/dashboards/provisioning/
	if [ -z "$(DESTDIR)" ]; then ldconfig; fi

clean:
	rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/user/*.d $(OUTPUT)/tests/*.d $(OUTPUT)/fuzz/*.d \
	$(ASAN_DIR)/user/*.d)
