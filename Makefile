# ballast - build, test, demo.
#
#   make            build build/ballast and build/libballast.a
#   make deps       install missing Debian packages (as root), else print the command
#   make deps-optional  also python3-torch, PIL, fonts and the clients' modules (tests that use them)
#   make demo       deps + build + synthetic shards + the whole chain
#   make test       build + unit, CLI and real-data tests (checks packages, installs none)
#   make check      build + unit tests and the quick CLI scripts (under a minute)
#   make asan       the whole suite under AddressSanitizer + UBSan (build-asan/)
#   make eval       precision/recall of the shipped filters on the labelled set
#   make bench      benchmarks (not part of make test), results in BENCHMARKS.md
#   make fuzz       run the fuzz targets under libFuzzer (clang), FUZZ_SECONDS each
#   make install    PREFIX=/usr/local: the binary, libballast.a, libballast.so
#                   (with its soname), ballast.h and ballast.pc
#
# Objects go to $(B)/ (build/ by default) so that sanitizer builds live beside
# the normal one.

CC      ?= cc
B       ?= build
PKGS    := libarchive libturbojpeg sqlite3 libpcre2-8 libcjson libpng nettle zlib liblzma \
           libzstd
DEBPKGS := pkg-config libarchive-dev libturbojpeg0-dev libjpeg62-turbo-dev \
           libsqlite3-dev libpcre2-dev libcjson-dev libpng-dev nettle-dev zlib1g-dev \
           liblzma-dev libzstd-dev libbz2-dev zstd xz-utils bzip2 python3 sqlite3
# not needed to build or test: without them the tests that use them skip
OPTPKGS := python3-torch python3-pil fonts-dejavu-core python3-numpy python3-braceexpand \
           python3-toml python3-voluptuous chromium

OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wpointer-arith -Wundef -Wwrite-strings \
           -Wold-style-definition -Wno-unused-parameter
ifneq ($(CI),)
WARN    += -Werror
endif
SAN     ?=
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(OPT) $(WARN) $(SAN) -Ilib $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -pthread $(SAN) $(LDFLAGS)
LIBS    = $(PKG_LIBS) -lbz2 -lm

LIB_SRC   := $(sort $(wildcard lib/*.c))
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(B)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(B)/%.o) $(B)/tests/unit/main.o
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(B)/fuzz-replay-%)

.PHONY: all deps demo test check asan eval bench fuzz clean nm-check install
all: $(B)/ballast $(B)/test-unit $(FUZZ_REPLAY) $(B)/libballast.so

$(B)/%.o: %.c lib/ballast.h $(wildcard lib/*_int.h) $(wildcard tools/*.h) | deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libballast.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/ballast: $(TOOL_OBJ) $(B)/libballast.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(TOOL_OBJ) $(B)/libballast.a $(LIBS)

# Unit tests register themselves with BL_TEST(name); the list is generated.
$(B)/tests/unit/list.h: $(TEST_SRC)
	@mkdir -p $(dir $@)
	@grep -ho '^BL_TEST([a-z0-9_]*)' $(TEST_SRC) | sed 's/BL_TEST(\(.*\))/X(\1)/' > $@.tmp && mv $@.tmp $@

$(B)/tests/unit/main.o: tests/unit/main.c tests/unit/test.h $(B)/tests/unit/list.h lib/ballast.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(B)/tests/unit -c $< -o $@

$(B)/tests/unit/%.o: tests/unit/%.c tests/unit/test.h lib/ballast.h $(wildcard lib/*_int.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/test-unit: $(TEST_OBJ) $(B)/libballast.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(B)/libballast.a $(LIBS)

# Fuzz targets (tests/fuzz/fuzz_*.c): replayed over the saved corpus by
# 'make test' through a plain main (replay.c); 'make fuzz' runs them under
# libFuzzer (clang) for FUZZ_SECONDS each and keeps what they find.

$(B)/fuzz-replay-%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(B)/libballast.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/fuzz/replay.c $< $(B)/libballast.a $(LIBS)

FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) B=build-fuzz CC=clang OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" build-fuzz/libballast.a
	@for n in $(FUZZ_NAMES); do \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ilib $(PKG_CFLAGS) \
	    -o build-fuzz/fuzz-$$n tests/fuzz/fuzz_$$n.c build-fuzz/libballast.a $(PKG_LIBS) -lbz2 -lm -pthread || exit 1; \
	  mkdir -p build-fuzz/corpus-$$n; \
	  echo "== fuzzing $$n for $(FUZZ_SECONDS) s (new inputs in build-fuzz/corpus-$$n)"; \
	  build-fuzz/fuzz-$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/crash-$$n- build-fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; \
	done

# Every exported symbol of the library carries the bl_ prefix.
nm-check: $(B)/libballast.a
	@bad=$$(nm -g --defined-only $(B)/libballast.a | awk 'NF==3 {print $$3}' | grep -v '^bl_' || true); \
	if [ -n "$$bad" ]; then echo "unprefixed exported symbols: $$bad"; exit 1; fi

# ---- the shared library and install ---------------------------------------
# libballast.so.MAJOR.MINOR.PATCH with soname libballast.so.MAJOR exports
# exactly the functions declared in lib/ballast.h: a version script made
# from the header hides every other symbol (the bl_ helpers of lib/*_int.h
# included).  Library objects are position independent for it.
VERSION := $(shell sed -n 's/^\#define BALLAST_VERSION "\(.*\)"/\1/p' lib/ballast.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libballast.so.$(SOMAJOR)
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin

$(LIB_OBJ): ALL_CFLAGS += -fPIC
$(LIB_OBJ): Makefile

# every function declared at the start of a line of the header (static
# inline helpers and typedefs are no symbols)
$(B)/ballast.map: lib/ballast.h
	@mkdir -p $(dir $@)
	@{ echo '{ global:'; \
	   sed -n '/^static/d; /^typedef/d; s/^[a-z][^(]*[ *]\(bl_[a-z0-9_]*\)(.*/  \1;/p' lib/ballast.h | sort -u; \
	   echo 'local: *; };'; } > $@.tmp && mv $@.tmp $@

$(B)/libballast.so.$(VERSION): $(LIB_OBJ) $(B)/ballast.map
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=$(B)/ballast.map \
	  -o $@ $(LIB_OBJ) $(LIBS)

$(B)/libballast.so: $(B)/libballast.so.$(VERSION)
	ln -sf libballast.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

install: $(B)/ballast $(B)/libballast.a $(B)/libballast.so
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 755 $(B)/ballast $(DESTDIR)$(BINDIR)/ballast
	install -m 644 $(B)/libballast.a $(DESTDIR)$(LIBDIR)/libballast.a
	install -m 755 $(B)/libballast.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libballast.so.$(VERSION)
	ln -sf libballast.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libballast.so
	install -m 644 lib/ballast.h $(DESTDIR)$(INCDIR)/ballast.h
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	  'Name: ballast' \
	  'Description: measure and correct skew in image-caption training sets' \
	  'Version: $(VERSION)' \
	  'Requires.private: $(PKGS)' \
	  'Libs: -L$${libdir} -lballast' \
	  'Libs.private: -lm -pthread' \
	  'Cflags: -I$${includedir}' > $(DESTDIR)$(LIBDIR)/pkgconfig/ballast.pc

# ---- dependencies --------------------------------------------------------
# deps installs what is missing (as root) or says what to run: `make deps`
# and `make demo` do that.  Everything else only checks (deps-ok) and says
# what to run: `make test` never calls apt-get.
.PHONY: deps-ok deps-optional
MISSING = missing=""; for p in $(DEBPKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done
deps-ok:
	@pkg-config --exists $(PKGS) 2>/dev/null && exit 0; \
	$(MISSING); \
	echo "missing Debian packages:$$missing"; \
	echo "run 'make deps' (as root it installs them), or: sudo apt-get install$$missing"; exit 1

deps-optional:
	@$(MAKE) --no-print-directory deps DEBPKGS="$(OPTPKGS)"

deps:
	@$(MISSING); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	else \
	  echo "missing Debian packages; run:"; echo "  sudo apt-get install$$missing"; exit 1; \
	fi

# ---- test, demo ----------------------------------------------------------
# make check: the unit tests and the quick CLI scripts (under a minute);
# make test: everything.  CLI scripts run TEST_JOBS at a time (default:
# the CPU count).
test check: deps-ok all nm-check
	@BALLAST=$(CURDIR)/$(B)/ballast TEST_UNIT=$(CURDIR)/$(B)/test-unit FUZZ_REPLAY_DIR=$(CURDIR)/$(B) \
	  BALLAST_BUILD_SAN="$(SAN)" TEST_TIER=$(if $(filter check,$@),quick,full) sh tests/run.sh

asan:
	$(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test

demo: deps all
	@sh tools/demo.sh $(CURDIR)/$(B)/ballast

eval: deps-ok all
	@sh tests/eval/run.sh $(CURDIR)/$(B)/ballast

bench: deps-ok all
	@sh tests/bench/run.sh $(CURDIR)/$(B)/ballast

clean:
	rm -rf build build-asan build-fuzz demo-out
