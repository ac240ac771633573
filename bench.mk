# bench.mk: the benchmark programs of bench/ and `make bench` (bench/README.md).
# Included by the Makefile. The programs build with everything else, into
# $(BUILD)/bench/bin/, so that they never rot (tests/e2e/test_bench_smoke.py
# runs them); `make bench` builds the optimised ones and runs bench/run.

BENCH_PROGRAMS = pack floor_zmq floor_lmdb ingest hl7 replay load
BENCH_BINS = $(patsubst %,$(BUILD)/bench/bin/bench-%,$(BENCH_PROGRAMS))

all: $(BENCH_BINS)

$(BUILD)/bench/bin/bench-%: $(BUILD)/obj/bench/%.o $(BUILD)/obj/bench/bench.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

# Every figure is measured afresh; bench/run prints them and writes
# bench/results.md. BENCH_RUNS=N runs each N times (3); BENCH_QUICK=1 runs
# everything small, as a smoke test.
bench: deps
	@$(MAKE) --no-print-directory SAN=0 all
	/usr/bin/python3 bench/run

# Keep the objects: they are not intermediates to throw away.
.SECONDARY: $(patsubst %,$(BUILD)/obj/bench/%.o,$(BENCH_PROGRAMS) bench)
