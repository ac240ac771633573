# Fuzzing (docs/FUZZING.md), included from the Makefile.
#
#   make fuzz                       build the libFuzzer targets with clang
#                                   (ASan + UBSan) and run each for
#                                   FUZZ_SECONDS on its corpus
#   make fuzz FUZZ_SECONDS=1800     the long run
#   make fuzz FUZZ_TARGETS=fuzz_hl7 one target
#
# Each target is fuzz/<target>.c with LLVMFuzzerTestOneInput. `make` also
# links each one with fuzz/driver.c into $(BUILD)/fuzz-replay/<target>, a
# plain program (the build's compiler and sanitizers) that replays files;
# the tests run it over fuzz/corpus/ and fuzz/regressions/.

FUZZ_TARGETS ?= fuzz_envelope fuzz_hl7 fuzz_csv fuzz_pbjson
FUZZ_SECONDS ?= 30
FUZZ_DIR = build/fuzz
FUZZ_CC = clang
FUZZ_SANFLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer
# A message with seven mirrored fields of 1 KiB must be reachable by fuzz_hl7.
FUZZ_MAX_LEN = 16384
FUZZ_COMMON_OBJ = $(BUILD)/obj/fuzz/fuzz_common.o

# ---------------------------------------------------------------- replay

FUZZ_REPLAY_BINS = $(patsubst %,$(BUILD)/fuzz-replay/%,$(FUZZ_TARGETS))
all: $(FUZZ_REPLAY_BINS)

$(BUILD)/fuzz-replay/%: $(BUILD)/obj/fuzz/%.o $(BUILD)/obj/fuzz/driver.o $(FUZZ_COMMON_OBJ) \
		$(ADAPTER_LIBA) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# fuzz_envelope's seeds are made from the sample day: `make fuzz-seeds`
# writes them into fuzz/corpus/fuzz_envelope/, where they are kept.
$(BUILD)/fuzz-tools/seed_envelopes: $(BUILD)/obj/fuzz/seed_envelopes.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

.PHONY: fuzz-seeds
fuzz-seeds: $(BUILD)/fuzz-tools/seed_envelopes
	@mkdir -p fuzz/corpus/fuzz_envelope
	$< fuzz/corpus/fuzz_envelope < tests/data/scenario-day.jsonl

# ---------------------------------------------------------------- libFuzzer

# Made by a sub-make with BUILD=$(FUZZ_DIR), CC=clang and the fuzzer's
# instrumentation, so that every source is also built warning-free by clang.
$(BUILD)/fuzz-bin/%: $(BUILD)/obj/fuzz/%.o $(FUZZ_COMMON_OBJ) $(ADAPTER_LIBA) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm

.PHONY: fuzz fuzz-build
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) \
		SANFLAGS="$(FUZZ_SANFLAGS)" $(patsubst %,$(FUZZ_DIR)/fuzz-bin/%,$(FUZZ_TARGETS))

# Dictionaries: the tokens of a format, for the mutator.
FUZZ_DICT_fuzz_hl7 = -dict=fuzz/hl7.dict
FUZZ_DICT_fuzz_csv = -dict=fuzz/csv.dict
FUZZ_DICT_fuzz_pbjson = -dict=fuzz/json.dict

# New inputs go to $(FUZZ_DIR)/corpus/<target> (the repository's seeds are
# read, never written); crashes to $(FUZZ_DIR)/crashes/. A target that
# finds one fails, and make stops.
fuzz: $(patsubst %,fuzz-run-%,$(FUZZ_TARGETS))

fuzz-run-%: fuzz-build
	@mkdir -p $(FUZZ_DIR)/crashes $(FUZZ_DIR)/corpus/$*
	@echo "fuzz: $* for $(FUZZ_SECONDS) s"
	$(FUZZ_DIR)/fuzz-bin/$* -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/$*- $(FUZZ_DICT_$*) \
		$(FUZZ_DIR)/corpus/$* fuzz/corpus/$*

# make format covers the fuzz sources too.
.PHONY: fuzz-format
format: fuzz-format
fuzz-format:
	clang-format -i $(wildcard fuzz/*.c fuzz/*.h)
