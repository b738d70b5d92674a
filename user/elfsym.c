// SPDX-License-Identifier: MIT
/* Where a library's symbols are in its file. */
#include <fcntl.h>
#include <gelf.h>
#include <string.h>
#include <unistd.h>

#include "elfsym.h"

long elfsym_offset(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t nph;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(d, (int)i, &sym) ||
			    (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
			     GELF_ST_TYPE(sym.st_info) != STT_OBJECT) ||
			    !sym.st_value)
				continue;
			n = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!n || strcmp(n, name))
				continue;
			/* The address to the offset in the file: its PT_LOAD segment. */
			for (size_t k = 0; !elf_getphdrnum(elf, &nph) && k < nph; k++) {
				GElf_Phdr ph;

				if (gelf_getphdr(elf, (int)k, &ph) && ph.p_type == PT_LOAD &&
				    sym.st_value >= ph.p_vaddr &&
				    sym.st_value < ph.p_vaddr + ph.p_filesz)
					return (long)(sym.st_value - ph.p_vaddr + ph.p_offset);
			}
			return -1;
		}
	}
	return -1;
}

long elfsym_path_offset(const char *path, const char *name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long off = -1;
	Elf *elf;

	if (fd < 0)
		return -1;
	elf = elf_version(EV_CURRENT) == EV_NONE ? NULL : elf_begin(fd, ELF_C_READ, NULL);
	if (elf)
		off = elfsym_offset(elf, name);
	elf_end(elf);
	close(fd);
	return off;
}
