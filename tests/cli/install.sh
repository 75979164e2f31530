# make install: the binary, libballast.a, libballast.so with its soname,
# ballast.h and ballast.pc land under PREFIX; the shared library exports
# exactly the functions lib/ballast.h declares; a tiny C program compiles
# against the installed copy through pkg-config and runs, dynamically and
# statically linked.
. "$TOP/tests/cli/lib.sh"

bdir=$(dirname "$B")
inst=$PWD/inst
ver=$(sed -n 's/^#define BALLAST_VERSION "\(.*\)"/\1/p' "$TOP/lib/ballast.h")
if ! command -v pkg-config >/dev/null || ! command -v nm >/dev/null; then
	skip "install" "pkg-config or nm missing"
	exit 0
fi

run make -s -C "$TOP" B="$bdir" PREFIX="$inst" install
expect_rc 0 "make install PREFIX=... succeeds"
check "installs bin/ballast, include/ballast.h, lib/libballast.a" \
	test -x "$inst/bin/ballast" -a -f "$inst/include/ballast.h" -a -f "$inst/lib/libballast.a"
check "installs libballast.so.$ver with the .so.0 and .so links" \
	test -f "$inst/lib/libballast.so.$ver" -a -L "$inst/lib/libballast.so.0" -a -L "$inst/lib/libballast.so"
soname=$(readelf -d "$inst/lib/libballast.so.$ver" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
[ "$soname" = libballast.so.0 ] && ok "the soname is libballast.so.0" || bad "the soname is libballast.so.0" "got '$soname'"

# --- exports: nm -D against the header, as the compiler reads it ------------
nm -D --defined-only "$inst/lib/libballast.so" | awk '$2 == "T" {print $3}' | sort > exported
echo '#include "ballast.h"' > decl.c
if cc -std=c11 -D_GNU_SOURCE -I"$TOP/lib" -aux-info decl.txt -c decl.c -o decl.o 2>/dev/null; then
	grep 'lib/ballast.h' decl.txt | grep -v ' static ' |
		sed -n 's/.* \**\(bl_[a-z0-9_]*\) (.*/\1/p' | sort -u > declared
else
	# not gcc: the declarations as the header writes them
	sed -n '/^static/d; /^typedef/d; s/^[a-z][^(]*[ *]\(bl_[a-z0-9_]*\)(.*/\1/p' "$TOP/lib/ballast.h" | sort -u > declared
fi
if [ -s declared ] && cmp -s exported declared; then
	ok "the .so exports exactly the $(wc -l < declared) functions ballast.h declares"
else
	bad "the .so exports exactly what ballast.h declares" "$(diff declared exported | head -10)"
fi
# the internal helpers (lib/*_int.h) are there in the archive, hidden in the .so
internal=$(cat "$TOP"/lib/*_int.h | sed -n 's/^[a-z][^(]*[ *]\(bl_[a-z0-9_]*\)(.*/\1/p' | sort -u)
leaked=$(for f in $internal; do grep -qx "$f" exported && echo "$f"; done)
n_int=$(echo "$internal" | grep -c .)
if [ "$n_int" -gt 0 ] && [ -z "$leaked" ] &&
   nm -g --defined-only "$inst/lib/libballast.a" | grep -q " T $(echo "$internal" | head -1)\$"; then
	ok "none of the $n_int internal bl_ helpers of lib/*_int.h is exported"
else
	bad "internal helpers hidden" "leaked: $leaked"
fi
nm -D --defined-only "$inst/lib/libballast.so" | awk '$2 ~ /^[TDBR]$/ && $3 !~ /^bl_/ {print $3}' > others
[ ! -s others ] && ok "no other symbol is exported" || bad "no other symbol is exported" "$(head -5 others)"

# --- a tiny program against the installed copy, through pkg-config -----------
cat > tiny.c <<'EOF'
#include <ballast.h>
#include <stdio.h>

int main(void)
{
	uint64_t seed = 0;
	bl_buf b;

	if (bl_version_number() != BALLAST_VERSION_NUMBER)
		return 1;
	if (bl_seed_parse("18446744073709551615", &seed) != BL_OK || seed != UINT64_MAX ||
	    bl_seed_parse("18446744073709551616", &seed) != BL_FAILED)
		return 2;
	bl_buf_init(&b, 0);
	bl_manifest_json_str(&b, "k\xff", 2);
	printf("%d %s %s\n", bl_version_number(), BALLAST_VERSION, b.buf);
	bl_buf_release(&b);
	return 0;
}
EOF
export PKG_CONFIG_PATH="$inst/lib/pkgconfig"
run pkg-config --modversion ballast
[ "$out" = "$ver" ] && ok "pkg-config finds ballast $ver" || bad "pkg-config finds ballast" "$out $(cat err.txt)"
want="$(sed -n 's/^#define BALLAST_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$TOP/lib/ballast.h" |
	{ read a; read b; read c; echo $((a * 10000 + b * 100 + c)); }) $ver \"k\\udcff\""
# shellcheck disable=SC2046
if cc ${BALLAST_BUILD_SAN:-} -o tiny tiny.c $(pkg-config --cflags --libs ballast) 2> cc.err; then
	run env LD_LIBRARY_PATH="$inst/lib" ./tiny
	[ "$rc" -eq 0 ] && [ "$out" = "$want" ] && ok "a program built with pkg-config --cflags --libs runs ($out)" ||
		bad "a program built against the installed library runs" "rc $rc, '$out', wanted '$want'"
	LD_LIBRARY_PATH="$inst/lib" ldd ./tiny 2>/dev/null | grep -q "libballast.so.0 => $inst/lib/libballast.so.0" &&
		ok "and uses the installed libballast.so.0" || bad "and uses the installed libballast.so.0" "$(LD_LIBRARY_PATH="$inst/lib" ldd ./tiny | grep ballast)"
else
	bad "a program compiles against the installed library" "$(head -5 cc.err)"
fi
# libballast.a and the packages ballast.pc says it needs (Requires.private;
# their own static archives are not all in Debian, so they link shared)
# shellcheck disable=SC2046
if cc ${BALLAST_BUILD_SAN:-} -o tiny-static tiny.c $(pkg-config --cflags ballast) "$inst/lib/libballast.a" \
	$(pkg-config --libs $(pkg-config --print-requires-private ballast)) -lm -pthread 2> cc.err; then
	run ./tiny-static
	[ "$rc" -eq 0 ] && [ "$out" = "$want" ] && ok "the same linked with libballast.a and ballast.pc's Requires.private" ||
		bad "statically linked" "rc $rc, '$out'"
else
	bad "a program links statically against libballast.a" "$(head -5 cc.err)"
fi
