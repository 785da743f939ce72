#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# unit_mirrorverbs_pkgconfig: libmirrorverbs installed under a fresh prefix
# ('cmake --install --component libmirrorverbs --prefix DIR') is what
# 'pkg-config --cflags --libs mirrorverbs' finds there: a program built with
# those flags alone compiles, links and runs, and binds its symbols to their
# version nodes; every exported function has a declaration in the installed
# header and an installed man page.
#
# Usage: mirrorverbs_pkgconfig.sh CMAKE BUILD_DIR CC
set -euo pipefail

cmake=$1 build=$2 cc=$3
fail() {
	echo "not ok - $*"
	exit 1
}

prefix=$(mktemp -d /tmp/mv-inst.XXXXXX)
trap 'rm -rf "$prefix"' EXIT

# Only libmirrorverbs' component: the provider's driver file has an
# absolute destination (/etc/libibverbs.d) that --prefix does not move.
"$cmake" --install "$build" --prefix "$prefix" --component libmirrorverbs \
	>/dev/null || fail "cmake --install"
pc=$(find "$prefix" -name mirrorverbs.pc)
[ -n "$pc" ] || fail "no mirrorverbs.pc under $prefix"
export PKG_CONFIG_PATH=${pc%/*}
flags=$(pkg-config --cflags --libs mirrorverbs) ||
	fail "pkg-config --cflags --libs mirrorverbs"
echo "# pkg-config: $flags"
[[ " $flags " == *" -I$prefix/include "* ]] ||
	fail "the include flag is not the prefix's: $flags"
libdir=$(pkg-config --variable=libdir mirrorverbs)
[[ $libdir == "$prefix"/* && -e $libdir/libmirrorverbs.so.1 ]] ||
	fail "libdir $libdir is not the prefix's or lacks libmirrorverbs.so.1"
[[ " $flags " == *" -L$libdir "* && " $flags " == *" -lmirrorverbs "* ]] ||
	fail "the link flags are not the prefix's: $flags"

# A program that uses a function of each version node.
cat >"$prefix/prog.c" <<'PROG'
#include <errno.h>
#include <infiniband/mirrorverbs.h>
#include <stdio.h>

int main(void)
{
	struct mirrorv_odp_counters c;

	if (mirrorv_is_mirror_device(NULL))
		return 1;
	if (mirrorv_query_odp_counters(NULL, &c) != EINVAL)
		return 2;
	if (mirrorv_reg_implicit_mr(NULL, 0) || errno != EINVAL)
		return 3;
	puts("prog ran");
	return 0;
}
PROG
# shellcheck disable=SC2086 # the flags are words
"$cc" -Wall -Wextra -Werror -o "$prefix/prog" "$prefix/prog.c" $flags ||
	fail "compiling with the pkg-config flags"
LD_LIBRARY_PATH=$libdir "$prefix/prog" || fail "the program failed ($?)"
ldd_out=$(LD_LIBRARY_PATH=$libdir ldd "$prefix/prog")
grep -q "libmirrorverbs.so.1 => $libdir/" <<<"$ldd_out" ||
	fail "the program does not load the prefix's library: $ldd_out"
syms=$(objdump -T "$prefix/prog")
grep -Eq '\(MIRRORV_1\.0\) +mirrorv_is_mirror_device$' <<<"$syms" ||
	fail "mirrorv_is_mirror_device not bound to MIRRORV_1.0"
grep -Eq '\(MIRRORV_1\.1\) +mirrorv_query_odp_counters$' <<<"$syms" ||
	fail "mirrorv_query_odp_counters not bound to MIRRORV_1.1"

# Every exported function: declared in the header, with a man page.
header=$prefix/include/infiniband/mirrorverbs.h
mandir=$(find "$prefix" -type d -name man3)
exported=$(objdump -T "$libdir/libmirrorverbs.so.1" |
	awk '$2 == "g" && $4 == ".text" { print $NF }')
[ "$(wc -w <<<"$exported")" -ge 6 ] ||
	fail "too few exported functions: $exported"
for fn in $exported; do
	[[ $fn == mirrorv_* ]] || fail "exported symbol without prefix: $fn"
	grep -Eq "[ *]$fn\(" "$header" || fail "$fn is not declared in the header"
	[ -s "$mandir/$fn.3" ] || fail "no man page $fn.3"
done
[ -s "${mandir%/man3}/man7/mirrorverbs.7" ] || fail "no mirrorverbs.7"
echo "ok - installed under a prefix, pkg-config flags build and run a program ($(wc -w <<<"$exported") functions, all with man pages)"
