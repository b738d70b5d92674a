/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* A descriptor of the current task, to the open file it refers to. */
#ifndef AET_FD_FILE_BPF_H
#define AET_FD_FILE_BPF_H

/* The open file behind fd in the current task, or NULL: probe reads down
 * the task's descriptor table. */
static __always_inline struct file *fd_file(int fd)
{
	struct fdtable *fdt =
		BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

#endif /* AET_FD_FILE_BPF_H */
