# The Python package's ctypes structures (tools/python/ballast/_clib.py)
# against lib/ballast.h as the C compiler lays it out: every structure's
# size, and every field's offset, must be the same, or the package reads
# garbage from the library (a field added to bl_limits did exactly that).
# Needs only python3 and cc: runs where torch is absent too.
. "$TOP/tests/cli/lib.sh"

py=python3
command -v cc >/dev/null || { skip "python abi" "no C compiler"; exit 0; }
PYTHONPATH="$TOP/tools/python" BALLAST_LIB=/nonexistent $py - > layout.c 2> py.err <<'EOF_PY'
import ctypes, importlib.util, os, sys
spec = importlib.util.spec_from_file_location("_clib", os.path.join(os.environ["TOP"], "tools/python/ballast/_clib.py"))
src = open(spec.origin).read()
# import the module's classes without loading the library
ns = {}
code = src.split("\ndef ", 1)[0]
exec(compile(code, spec.origin, "exec"), ns)
names = {"Span": "bl_span", "Members": "bl_members", "Entry": "bl_entry",
         "Limits": "bl_limits", "ImageLimits": "bl_image_limits",
         "LoaderOptions": "bl_loader_options", "Loaded": "bl_loaded"}
print('#include <stddef.h>\n#include <stdio.h>\n#include "ballast.h"\nint main(void)\n{')
for py, c in names.items():
    cls = ns[py]
    print('\tprintf("' + c + ' %zu ' + str(ctypes.sizeof(cls)) + '\\n", sizeof(' + c + '));')
    for f in cls._fields_:
        off = getattr(cls, f[0]).offset
        print('\tprintf("' + c + '.' + f[0] + ' %zu ' + str(off) + '\\n", offsetof(' + c + ', ' + f[0] + '));')
print("\treturn 0;\n}")
EOF_PY
if [ ! -s layout.c ]; then
	bad "python abi: layout program" "$(cat py.err)"
	exit 0
fi
if cc -std=c11 -I"$TOP/lib" -o layout layout.c 2> cc.err; then
	./layout > layout.txt
	# each line: NAME C-value PY-value
	awk '$2 != $3 { print "  " $1 ": C " $2 ", ctypes " $3 }' layout.txt > diff.txt
	if [ -s diff.txt ]; then bad "python abi: ctypes layouts equal the C layouts" "$(cat diff.txt)"
	else ok "python abi: $(wc -l < layout.txt) sizes and offsets of the ctypes structures equal the C layouts"; fi
else
	bad "python abi: the ctypes fields name the C fields" "$(head -5 cc.err)"
fi
