# libFuzzer targets, run by `make fuzz` (= make -f tests/fuzz/fuzz.mk BUILD=... fuzz).
# Each target is built with clang -fsanitize=fuzzer,address,undefined into $(BUILD)/fuzz,
# seeded from the Sensor Logger samples (plain and gzip'd), and run for FUZZ_TIME seconds;
# any crash, leak or sanitizer report fails the make.

BUILD     ?= build
FUZZ_TIME ?= 60
CLANG     ?= clang
CLANGXX   ?= clang++
FUZZ_DIR  := $(BUILD)/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

SAMPLES := $(wildcard tests/data/sensorlogger/*.json)

# ---- source_http: body parsers and the gzip body buffer -----------------------------
SOURCE_HTTP_FUZZ_SRCS := tests/fuzz/fuzz_source_http.c plugins/source_http/ingest.c \
  plugins/source_http/body.c

$(FUZZ_DIR)/fuzz_source_http: $(SOURCE_HTTP_FUZZ_SRCS) $(wildcard plugins/source_http/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(SOURCE_HTTP_FUZZ_SRCS) -ljansson -lz

# Seeds: every sample as sent, gzip'd, and as NDJSON flat records.
$(FUZZ_DIR)/seeds_source_http/.stamp: $(SAMPLES)
	@rm -rf $(dir $@) && mkdir -p $(dir $@)
	@for f in $(SAMPLES); do b=$$(basename $$f .json); cp $$f $(dir $@)$$b.json; \
	  gzip -9nc $$f > $(dir $@)$$b.json.gz; done
	@printf '{"name":"a","time":1,"x":0.5,"deviceId":"d"}\n{"time":"7","o":{"k":[1]}}\n' \
	  > $(dir $@)records.ndjson
	@printf '[{"time":9223372036854775807,"b":true,"n":null}]' > $(dir $@)records.json
	@touch $@

fuzz-source_http: $(FUZZ_DIR)/fuzz_source_http $(FUZZ_DIR)/seeds_source_http/.stamp
	@mkdir -p $(FUZZ_DIR)/corpus_source_http $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_source_http -max_total_time=$(FUZZ_TIME) -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/source_http.dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/source_http- \
	  $(FUZZ_DIR)/corpus_source_http $(FUZZ_DIR)/seeds_source_http

# ---- source_http: simdjson fast path against the jansson parsers (differential) ------
# C++ in the mix: objects compiled apart, linked by clang++ (the C++ sanitizer runtimes).
FUZZ_CXXFLAGS := -std=c++17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
  -fno-sanitize-recover=undefined -fno-omit-frame-pointer
DIFF_FUZZ_C := tests/fuzz/fuzz_source_http_diff.c plugins/source_http/ingest.c
DIFF_FUZZ_OBJS := $(DIFF_FUZZ_C:%.c=$(FUZZ_DIR)/obj/%.o) \
  $(FUZZ_DIR)/obj/plugins/source_http/ingest_fast.o

$(FUZZ_DIR)/obj/%.o: %.c $(wildcard plugins/source_http/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/obj/plugins/source_http/ingest_fast.o: plugins/source_http/ingest_fast.cpp \
  $(wildcard plugins/source_http/*.h)
	@mkdir -p $(dir $@)
	$(CLANGXX) $(FUZZ_CXXFLAGS) -Iinclude -c $< -o $@

$(FUZZ_DIR)/fuzz_source_http_diff: $(DIFF_FUZZ_OBJS)
	$(CLANGXX) -fsanitize=fuzzer,address,undefined -o $@ $^ -ljansson -lsimdjson

fuzz-source_http_diff: $(FUZZ_DIR)/fuzz_source_http_diff $(FUZZ_DIR)/seeds_source_http/.stamp
	@mkdir -p $(FUZZ_DIR)/corpus_source_http_diff $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_source_http_diff -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=65536 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/source_http.dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/source_http_diff- \
	  $(FUZZ_DIR)/corpus_source_http_diff $(FUZZ_DIR)/seeds_source_http

# ---- query_local: SQL lexer, parser, planner and the engine running what they made -----
QL_ENGINE_FUZZ_SRCS := $(addprefix plugins/query_local/,sql_lexer.c sql_parser.c sql_plan.c \
  sql_eval.c sql_functions.c streams.c windows.c ddl.c engine.c)

$(FUZZ_DIR)/fuzz_sql: tests/fuzz/fuzz_sql.c $(QL_ENGINE_FUZZ_SRCS) \
  $(wildcard plugins/query_local/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_sql.c $(QL_ENGINE_FUZZ_SRCS) -ljansson -lm \
	  -lpthread

# Seeds: every statement in docs/SQL.md, the INI files and the tests (tests/fuzz/sql_seeds.py),
# re-extracted whenever one of those files changes.
SQL_SEED_SRCS := docs/SQL.md $(shell git ls-files tests etc examples bench 2>/dev/null | \
  grep -v '^tests/fuzz/')
$(FUZZ_DIR)/seeds_sql/.stamp: tests/fuzz/sql_seeds.py $(SQL_SEED_SRCS)
	@rm -rf $(dir $@) && mkdir -p $(dir $@)
	@python3 tests/fuzz/sql_seeds.py . $(dir $@)
	@touch $@

fuzz-sql: $(FUZZ_DIR)/fuzz_sql $(FUZZ_DIR)/seeds_sql/.stamp
	@mkdir -p $(FUZZ_DIR)/corpus_sql $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_sql -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=4096 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/sql.dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/sql- \
	  $(FUZZ_DIR)/corpus_sql $(FUZZ_DIR)/seeds_sql

FUZZ_RUNS := fuzz-source_http fuzz-source_http_diff fuzz-sql

.PHONY: fuzz $(FUZZ_RUNS)
fuzz: $(FUZZ_RUNS)
