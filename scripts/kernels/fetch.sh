#!/bin/sh
# Downloads a Debian kernel once and keeps it in the cache, outside the
# repository; prints the directory holding it.
#
#   scripts/kernels/fetch.sh SUITE[/PACKAGE]
#
# SUITE is a Debian suite (bullseye, bookworm, trixie, trixie-backports,
# ...); PACKAGE a linux-image-* package of it, by default the suite's
# linux-image-amd64, resolved to the versioned image it depends on. From 7.x
# the image package is empty and depends on linux-binary-* (vmlinuz) and
# linux-modules-*: those are fetched with it.
#
# apt runs with a private configuration (its own sources.list, state and
# cache under the cache directory): the host's apt setup is not touched and
# nothing is installed. The mirror is the one the host's apt uses.
#
# The result, $AET_KERNELS_CACHE/kernels/RELEASE/, holds vmlinuz, config,
# release (uname -r) and lib/modules/RELEASE/ as the package ships it.
# A spec resolved once is not looked up again (AET_KERNELS_REFRESH=1 does).
set -eu

CACHE=${AET_KERNELS_CACHE:-/var/cache/aet-kernels}
spec=${1:?usage: fetch.sh SUITE[/PACKAGE]}
suite=${spec%%/*}
pkg=linux-image-amd64
case $spec in */*) pkg=${spec#*/} ;; esac

say() { echo "fetch: $*" >&2; }
die() {
	say "$*"
	exit 1
}

# The Debian mirror the host's apt uses (deb.debian.org when none is found).
mirror() {
	if [ -n "${AET_KERNELS_MIRROR:-}" ]; then
		echo "$AET_KERNELS_MIRROR"
		return
	fi
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' |
		grep -E '/debian/?$' | head -n 1 || true)
	if [ -z "$m" ]; then
		m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
			awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }' |
			grep -E '/debian/?$' | head -n 1 || true)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

key=$(echo "$spec" | tr '/' '_')
stamp="$CACHE/specs/$key"
if [ -z "${AET_KERNELS_REFRESH:-}" ] && [ -f "$stamp" ]; then
	dir="$CACHE/kernels/$(cat "$stamp")"
	if [ -f "$dir/vmlinuz" ] && [ -f "$dir/release" ]; then
		echo "$dir"
		exit 0
	fi
fi

[ "$(id -u)" -eq 0 ] || die "downloading kernels into $CACHE needs root"
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing"

# A private apt for this suite.
apt_dir="$CACHE/apt/$suite"
mkdir -p "$apt_dir/etc/parts" "$apt_dir/etc/prefs" "$apt_dir/state/lists/partial" \
	"$apt_dir/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" \
	>"$apt_dir/etc/sources.list"
set -- -o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" \
	-o "Dir::Etc::SourceParts=$apt_dir/etc/parts" \
	-o "Dir::Etc::Preferences=$apt_dir/etc/prefs/none" \
	-o "Dir::Etc::PreferencesParts=$apt_dir/etc/prefs" \
	-o "Dir::State=$apt_dir/state" -o "Dir::Cache=$apt_dir/cache" \
	-o "APT::Architectures=amd64" -o "Acquire::Languages=none" \
	-o "Debug::NoLocking=1" -q=2
say "$spec: updating the package index of $suite ($(mirror))"
apt-get "$@" update >&2 || die "apt-get update of $suite failed"

depends() {
	apt-cache "$@" show --no-all-versions "$pkgname" 2>/dev/null |
		sed -n 's/^Depends: //p' | tr ',' '\n' | sed 's/^ *//; s/[ |].*//'
}

# linux-image-amd64 depends on the versioned image.
pkgname=$pkg
case $pkg in
linux-image-[0-9]*) ;;
*)
	pkgname=$(depends "$@" | grep -E '^linux-image-[0-9]' | head -n 1)
	[ -n "$pkgname" ] || die "$spec: $pkg depends on no linux-image-VERSION package"
	;;
esac
image=$pkgname
pkgs="$image $(depends "$@" | grep -E '^linux-(binary|modules)-[0-9]' | tr '\n' ' ')"

dl="$CACHE/download.$$"
rm -rf "$dl"
mkdir -p "$dl/root"
trap 'rm -rf "$dl"' EXIT
say "$spec: downloading $pkgs"
# shellcheck disable=SC2086 # the list of packages
(cd "$dl" && apt-get "$@" download $pkgs >&2) || die "$spec: apt-get download failed"
for deb in "$dl"/*.deb; do
	dpkg-deb -x "$deb" "$dl/root"
done

release=$(ls "$dl/root/lib/modules" 2>/dev/null | head -n 1)
[ -n "$release" ] || release=$(ls "$dl/root/usr/lib/modules" 2>/dev/null | head -n 1)
[ -n "$release" ] || die "$spec: no lib/modules/RELEASE in $pkgs"
# /boot/vmlinuz-RELEASE; from 7.x /usr/lib/modules/RELEASE/vmlinuz
vmlinuz=$(find "$dl/root" \( -name "vmlinuz-$release" -o -path "*/modules/$release/vmlinuz" \) \
	-type f | head -n 1)
[ -n "$vmlinuz" ] || die "$spec: no vmlinuz-$release in $pkgs"
config=$(find "$dl/root" \( -name "config-$release" -o -path "*/modules/$release/config" \) \
	-type f | head -n 1)
moddir=$(find "$dl/root" -type d -path "*/modules/$release" | head -n 1)
[ -n "$moddir" ] && [ -d "$moddir/kernel" ] || die "$spec: no modules of $release in $pkgs"

out="$CACHE/kernels/$release"
rm -rf "$out"
mkdir -p "$out/lib/modules"
mv "$vmlinuz" "$out/vmlinuz"
[ -z "$config" ] || mv "$config" "$out/config"
mv "$moddir" "$out/lib/modules/$release"
echo "$release" >"$out/release"
echo "$pkgs" >"$out/packages"
mkdir -p "$CACHE/specs"
echo "$release" >"$stamp"
say "$spec: $release in $out"
echo "$out"
