#!/bin/sh
# Boots a kernel fetched by fetch.sh in qemu (TCG: nested KVM does not work
# on these hosts) and runs one command in it, as root, in a chroot of this
# host's root shared read-only over 9p; its output goes to stdout, then a
# line "AET-EXIT STATUS". Exits 0 when the guest ran the command (whatever
# its status), 1 when the guest did not get that far.
#
#   scripts/kernels/boot.sh KERNEL_DIR 'COMMAND'
#
# Why the host's root: the collector, its libraries, Debian's python3 and
# the reference workload are then the very files the host tests; nothing
# is copied into the guest but busybox and the kernel's own 9p modules.
# The share is read-only; TMPDIR (/dev/shm) is a tmpfs.
set -eu

kdir=${1:?usage: boot.sh KERNEL_DIR COMMAND}
cmd=${2:?usage: boot.sh KERNEL_DIR COMMAND}
timeout=${AET_KERNELS_TIMEOUT:-900}
release=$(cat "$kdir/release")
mods="$kdir/lib/modules/$release/kernel"

work=$(mktemp -d)
trap '[ -n "${AET_KERNELS_KEEP:-}" ] || rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/bin" "$root/modules" "$root/proc" "$root/sys" "$root/dev" "$root/host"
cp /bin/busybox "$root/bin/busybox"

# The modules the share needs, in load order; those built in are absent.
# Packages compress them (xz, zstd): insmod gets them plain.
order="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci fscache
	netfs 9pnet 9pnet_virtio 9p"
for m in $order; do
	f=$(find "$mods" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n 1)
	case $f in
	"") continue ;;
	*.xz) xz -dc "$f" >"$root/modules/$m.ko" ;;
	*.zst) zstd -qdc "$f" >"$root/modules/$m.ko" ;;
	*) cp "$f" "$root/modules/$m.ko" ;;
	esac
	echo "$m" >>"$root/modules/order"
done
touch "$root/modules/order"
printf '%s\n' "$cmd" >"$root/command"
# The guest's settings (tests/kernels/guest.py): this environment's
# AET_GUEST_* variables, else the guest has none of them.
env | grep '^AET_GUEST_[A-Z_]*=[0-9A-Za-z._-]*$' >"$root/env" || true

cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# Twice: a module whose dependency comes later in the list loads then.
for pass in 1 2; do
	for m in $(cat /modules/order); do
		grep -q "^$m " /proc/modules || insmod /modules/$m.ko 2>/dev/null
	done
done
ip link set lo up
if mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host; then
	mount -t proc proc /host/proc
	mount -t sysfs sys /host/sys
	mount -t devtmpfs dev /host/dev
	# Somewhere to write that hides nothing of the host (the checkout
	# may well be under /tmp): TMPDIR.
	mkdir -p /host/dev/shm
	mount -t tmpfs shm /host/dev/shm
	echo "AET-GUEST $(uname -r)"
	chroot /host /usr/bin/env TMPDIR=/dev/shm $(cat /env) /bin/sh -c "$(cat /command)" </dev/null 2>&1
	echo "AET-EXIT $?"
else
	echo "AET-GUEST-FAILED: cannot mount the host's root over 9p"
	cat /proc/modules
fi
sync
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initramfs.gz"

# One vCPU by default (AET_KERNELS_SMP): with two, each on a TCG thread of
# its own, a guest ran code another vCPU was patching (jump labels switched
# by perf_event_open), and the 6.12 and 7.3 guests panicked.
out="$work/console"
rc=0
smp=${AET_KERNELS_SMP:-1}
timeout "$timeout" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 2048 -smp "$smp" \
	-nographic \
	-no-reboot -kernel "$kdir/vmlinuz" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-nic none </dev/null >"$out" 2>&1 || rc=$?
tr -d '\r' <"$out" | sed -n 's/.*\(AET-GUEST\)/\1/; /AET-GUEST/,$p'
if [ "$rc" -eq 124 ]; then
	echo "AET-TIMEOUT after $timeout s"
	exit 1
fi
grep -q '^AET-EXIT' "$out" || {
	echo "boot.sh: the guest did not run the command; its console:" >&2
	tr -d '\r' <"$out" | tail -n 30 >&2
	exit 1
}
