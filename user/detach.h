/* SPDX-License-Identifier: MIT */
/* Detaching many BPF links at once. */
#ifndef AET_DETACH_H
#define AET_DETACH_H

struct bpf_object_skeleton;

/* Destroys every link of skeleton s, in parallel, and clears them, so that
 * the skeleton's __destroy() has none left to detach. */
void skel_detach(struct bpf_object_skeleton *s);

#endif /* AET_DETACH_H */
