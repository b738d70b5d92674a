/* SPDX-License-Identifier: MIT */
/* Where a library's symbols are in its file. */
#ifndef AET_ELFSYM_H
#define AET_ELFSYM_H

#include <gelf.h>

/* The file offset of dynamic symbol name (a function or an object) defined
 * in the ELF file elf, or -1. */
long elfsym_offset(Elf *elf, const char *name);

/* The same, of the file at path. */
long elfsym_path_offset(const char *path, const char *name);

#endif /* AET_ELFSYM_H */
