# commissiond: a plain Makefile. Read top to bottom.
#
#   make            build everything (sanitized: ASan + UBSan) into build/
#   make test       install deps, build, run every test suite
#   make run        install deps, build, start the daemon on embedded defaults
#   make deps       install missing Debian packages (deps/debian-packages.txt)
#   make release    optimised build without sanitizers into build/release/
#   make bench      build optimised, run the benchmarks (bench.mk, bench/README.md)
#   make clean

SAN ?= 1
ifeq ($(SAN),1)
BUILD ?= build
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer
OPTFLAGS = -O1 -g
else
BUILD ?= build/release
SANFLAGS =
OPTFLAGS = -O2 -g
endif

PKGS = libzmq libprotobuf-c libevent liblmdb libsystemd libsodium inih jansson
# liblmdb ships no .pc file on Debian: fall back to -llmdb.
PKG_CFLAGS := $(shell pkg-config --cflags $(filter-out liblmdb,$(PKGS)) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(filter-out liblmdb,$(PKGS)) 2>/dev/null) -llmdb

CC ?= cc
CFLAGS ?= $(OPTFLAGS)
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wformat=2 -Wno-format-nonliteral
CPPFLAGS_ALL = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	       -I$(BUILD)/gen -Ilib -Istore -Iprojections -Idaemon \
	       -Iadapters/common -Iadapters/hl7 -Iadapters/spool -Idashboard $(PKG_CFLAGS) -MMD -MP
ALL_CFLAGS = $(CPPFLAGS_ALL) $(WARN) $(SANFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

GEN = $(BUILD)/gen/commissioning.pb-c.c
LIB_SRC = $(wildcard lib/*.c) $(wildcard store/*.c) $(wildcard projections/*.c)
DAEMON_SRC = $(wildcard daemon/*.c)
CTL_SRC = $(wildcard ctl/*.c)
# The adapters' code, all but their mains, is a library the unit tests link.
ADAPTER_SRC = $(filter-out %/main.c,$(wildcard adapters/common/*.c adapters/hl7/*.c adapters/spool/*.c))
UNIT_SRC = $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ = $(call obj,$(LIB_SRC)) $(BUILD)/obj/gen/commissioning.pb-c.o
LIBA = $(BUILD)/libcommissioning.a
ADAPTER_LIBA = $(BUILD)/libadapters.a
BINS = $(BUILD)/bin/commissiond $(BUILD)/bin/commissionctl \
       $(if $(wildcard adapters/hl7/main.c),$(BUILD)/bin/commissiond-hl7) \
       $(if $(wildcard adapters/spool/main.c),$(BUILD)/bin/commissiond-spool)
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/test/%,$(UNIT_SRC))

.PHONY: all deps test run release bench clean format
all: $(BINS) $(UNIT_BINS)

deps:
	@./deps/install

# Generated code is made at build time and never committed.
$(BUILD)/gen/commissioning.pb-c.c $(BUILD)/gen/commissioning.pb-c.h: proto/commissioning.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

# Every object may include the generated header.
$(BUILD)/obj/%.o: %.c $(BUILD)/gen/commissioning.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# protoc-c output is not ours to warn about beyond what it can take.
$(BUILD)/obj/gen/commissioning.pb-c.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(SANFLAGS) $(CFLAGS) -w -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ADAPTER_LIBA): $(call obj,$(ADAPTER_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/commissiond-hl7: $(BUILD)/obj/adapters/hl7/main.o $(ADAPTER_LIBA) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/bin/commissiond-spool: $(BUILD)/obj/adapters/spool/main.o $(ADAPTER_LIBA) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# The dashboard's files are embedded in commissiond at build time: nothing
# is fetched from elsewhere when it runs. Chart.js is Debian's.
CHARTJS = /usr/share/javascript/chart.js/chart.min.js
DASHBOARD_FILES = dashboard/index.html dashboard/dashboard.js dashboard/dashboard.css
$(BUILD)/gen/embedded_files.c: tools/embed $(DASHBOARD_FILES) $(CHARTJS)
	@mkdir -p $(dir $@)
	/usr/bin/python3 tools/embed $@ \
		"dashboard/index.html:/index.html:text/html; charset=utf-8" \
		"dashboard/dashboard.js:/dashboard.js:text/javascript; charset=utf-8" \
		"dashboard/dashboard.css:/dashboard.css:text/css; charset=utf-8" \
		"$(CHARTJS):/chart.js:text/javascript; charset=utf-8"

$(BUILD)/obj/gen/embedded_files.o: $(BUILD)/gen/embedded_files.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(SANFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/bin/commissiond: $(call obj,$(DAEMON_SRC)) $(BUILD)/obj/gen/embedded_files.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/bin/commissionctl: $(call obj,$(CTL_SRC)) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# test_outbox fails the outbox's LMDB commits, cursor steps and log syncs at will.
$(BUILD)/test/test_outbox: ALL_LDFLAGS += -Wl,--wrap=mdb_txn_commit -Wl,--wrap=fdatasync \
	-Wl,--wrap=mdb_cursor_get

$(BUILD)/test/%: $(BUILD)/obj/tests/unit/%.o $(ADAPTER_LIBA) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -lm

test: deps
	@$(MAKE) --no-print-directory all
	@# The optimised build warns about things -O1 does not see: build it too.
	@$(MAKE) --no-print-directory SAN=0 build/release/bin/commissiond build/release/bin/commissionctl
	@/usr/bin/python3 tests/run_tests.py --build $(BUILD)

run: deps
	@$(MAKE) --no-print-directory all
	tools/run-local $(BUILD)

release:
	@$(MAKE) --no-print-directory SAN=0 all

format:
	clang-format -i $(LIB_SRC) $(DAEMON_SRC) $(CTL_SRC) $(UNIT_SRC) \
		$(wildcard lib/*.h store/*.h daemon/*.h)

clean:
	rm -rf build

include install.mk
include bench.mk
include fuzz.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
