#!/usr/bin/env bash
# Applies the patches in this folder to a Debian linux-source tree and
# compiles the files they touch, for x86_64 with CONFIG_XEN_PVH=y; then looks
# for the port write in the built stub.  It boots nothing.
#
#   ./check-patch.sh [6.12|6.1]      (default 6.12)
#
# Needs /usr/src/linux-source-SERIES.tar.xz (apt-get install
# linux-source-SERIES), gcc, make, flex, bison, bc, libelf-dev and libssl-dev.
# Takes about two minutes on two cores; leaves nothing behind.
set -euo pipefail

series=${1:-6.12}
here=$(cd "$(dirname "$0")" && pwd)
tarball=/usr/src/linux-source-$series.tar.xz
if [ ! -r "$tarball" ]; then
	echo "check-patch: $tarball not found (apt-get install linux-source-$series)" >&2
	exit 2
fi

work=$(mktemp -d /tmp/pvmm-kpatch.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "check-patch: unpacking $tarball"
tar -xJf "$tarball" -C "$work"
src=$work/linux-source-$series
cd "$src"

# git apply refuses fuzz, as git am does; offsets are allowed by both.
for p in "$here"/0*.patch; do
	echo "check-patch: applying $(basename "$p")"
	git apply --verbose "$p"
done

build=$work/build
mk() { make -s -j"$(nproc)" O="$build" ARCH=x86_64 "$@"; }
mk defconfig
scripts/config --file "$build/.config" -e HYPERVISOR_GUEST -e PARAVIRT \
	-e XEN -e XEN_PVH -e ACPI -e HVC_XEN -e XEN_BLKDEV_FRONTEND \
	-e XEN_NETDEV_FRONTEND
mk olddefconfig
for opt in XEN XEN_PVH; do
	grep -qx "CONFIG_$opt=y" "$build/.config" ||
		{ echo "check-patch: CONFIG_$opt did not stay on" >&2; exit 1; }
done
echo "check-patch: compiling"
mk KCFLAGS=-Werror arch/x86/kernel/head_64.o arch/x86/xen/enlighten.o \
	arch/x86/xen/enlighten_hvm.o arch/x86/xen/enlighten_pvh.o

if ! objdump -d "$build/arch/x86/kernel/head_64.o" |
	sed -n '/<xen_hypercall_pvmm>:/,/^$/p' | grep -q 'out  *%eax,\$0x9c'; then
	echo "check-patch: xen_hypercall_pvmm in head_64.o does not write port 0x9c" >&2
	exit 1
fi
echo "check-patch: linux-source-$series ($(make -s kernelversion)): patches apply and compile"
