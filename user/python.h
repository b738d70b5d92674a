/* SPDX-License-Identifier: MIT */
/*
 * The target's CPython runtime, from the USDT probes of its interpreter
 * (bpf/python.bpf.c): aet_python_gc_*{generation}; /status member
 * "python". Opening finds the interpreter with the probes: the target's
 * executable (/proc/PID/exe), else a libpython3.N.so it maps (through
 * /proc/PID/root). -ENOENT when neither has them (a CPython built without
 * --with-dtrace): the family is not loaded, and /status and --check say
 * why. Attached to that pid only; in follow mode it moves to each target
 * adopted, the counts going on.
 */
#ifndef AET_PYTHON_H
#define AET_PYTHON_H

#include "family.h"

#define PY_PROVIDER "python" /* the SDT notes' provider */

extern const struct family_ops python_family;

/* The file its probes are attached in ("" for NULL). */
const char *python_interpreter(const void *f);

#endif /* AET_PYTHON_H */
