# libFuzzer targets, run by `make fuzz` (= make -f tests/fuzz/fuzz.mk BUILD=... fuzz).
# Each target is built with clang -fsanitize=fuzzer,address,undefined into $(BUILD)/fuzz,
# seeded from what the project already has (samples, INI files, the tests' requests), and run
# for FUZZ_TIME seconds; any crash, leak or sanitizer report fails the make. docs/FUZZING.md
# says what each one covers.

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

# ---- query_local: REST API request bodies (/ksql, /query-stream, /query, /close-query) -----
# The routes, the push sessions and the wire formats over the real engine; the listener
# (api_server.c) and the transports are left out: the target hands api_route the body.
QL_API_FUZZ_SRCS := $(QL_ENGINE_FUZZ_SRCS) $(addprefix plugins/query_local/,api_routes.c \
  api_json.c api_push.c)

$(FUZZ_DIR)/fuzz_query_api: tests/fuzz/fuzz_query_api.c $(QL_API_FUZZ_SRCS) \
  $(wildcard plugins/query_local/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_query_api.c $(QL_API_FUZZ_SRCS) -ljansson \
	  -lm -lpthread

# Seeds: the request bodies the tests send, and every SQL seed wrapped as each endpoint's
# body (tests/fuzz/query_api_seeds.py); tests/fuzz/seeds_query_api/ keeps what it found.
$(FUZZ_DIR)/seeds_query_api/.stamp: tests/fuzz/query_api_seeds.py tests/fuzz/sql_seeds.py \
  $(SQL_SEED_SRCS)
	@rm -rf $(dir $@) && mkdir -p $(dir $@)
	@python3 tests/fuzz/query_api_seeds.py . $(dir $@)
	@touch $@

fuzz-query_api: $(FUZZ_DIR)/fuzz_query_api $(FUZZ_DIR)/seeds_query_api/.stamp
	@mkdir -p $(FUZZ_DIR)/corpus_query_api $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_query_api -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=4096 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/query_api.dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/query_api- \
	  $(FUZZ_DIR)/corpus_query_api $(FUZZ_DIR)/seeds_query_api tests/fuzz/seeds_query_api

# ---- out_websocket: what clients send after the upgrade (wslay and ws.c's handlers) -------
# ws.c is #included by the target (its callbacks are static); the hub, routes and stream
# writer it builds on (lib/stream) and the lib/ parts they use are linked beside it.
WS_FUZZ_SRCS := $(wildcard lib/stream/*.c lib/http/*.c lib/net/*.c)

$(FUZZ_DIR)/fuzz_ws: tests/fuzz/fuzz_ws.c plugins/out_websocket/ws.c $(WS_FUZZ_SRCS) \
  $(wildcard lib/*/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -Ilib -DSENSORD_VERSION='"fuzz"' -o $@ tests/fuzz/fuzz_ws.c \
	  $(WS_FUZZ_SRCS) -lmicrohttpd -ljansson -lwslay -lnettle -lpthread -lm

# Seeds: client frames (masked, as clients must send them) built by tests/fuzz/ws_seeds.py.
$(FUZZ_DIR)/seeds_ws/.stamp: tests/fuzz/ws_seeds.py
	@rm -rf $(dir $@) && mkdir -p $(dir $@)
	@python3 tests/fuzz/ws_seeds.py $(dir $@)
	@touch $@

fuzz-ws: $(FUZZ_DIR)/fuzz_ws $(FUZZ_DIR)/seeds_ws/.stamp
	@mkdir -p $(FUZZ_DIR)/corpus_ws $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_ws -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=16384 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/ws.dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/ws- \
	  $(FUZZ_DIR)/corpus_ws $(FUZZ_DIR)/seeds_ws

# ---- lib/http: strict request framing (target, Content-Length, Transfer-Encoding, Host) ---
$(FUZZ_DIR)/fuzz_framing: tests/fuzz/fuzz_framing.c lib/http/framing.c lib/http/framing.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -Ilib -o $@ tests/fuzz/fuzz_framing.c lib/http/framing.c

# Seeds: request heads, ordinary and smuggling-shaped (tests/fuzz/seeds_framing/).
fuzz-framing: $(FUZZ_DIR)/fuzz_framing
	@mkdir -p $(FUZZ_DIR)/corpus_framing $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_framing -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=2048 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/framing.dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/framing- \
	  $(FUZZ_DIR)/corpus_framing tests/fuzz/seeds_framing

# ---- core: the pipeline file (INI syntax, typed keys, graph and listen checks) ----------
# The whole core but main.c and the loader (tests/fuzz/fuzz_ini.c has fake plugins instead of
# dlopen); getaddrinfo is renamed so that only numeric addresses resolve (no DNS queries).
INI_FUZZ_SRCS := $(filter-out core/main.c core/loader.c core/tsan_c11threads.c,\
  $(wildcard core/*.c)) $(wildcard lib/net/*.c lib/http/*.c)

$(FUZZ_DIR)/fuzz_ini: tests/fuzz/fuzz_ini.c $(INI_FUZZ_SRCS) $(wildcard core/*.h lib/*/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -Icore -Ilib -DSENSORD_VERSION='"fuzz"' -DSENSORD_LIBDIR='"/fuzz"' \
	  -Dgetaddrinfo=fz_getaddrinfo -o $@ tests/fuzz/fuzz_ini.c $(INI_FUZZ_SRCS) \
	  -lmicrohttpd -ljansson -linih -ldl -lpthread -lm

# Seeds: every INI file in the tree and every INI text the tests write (tests/fuzz/ini_seeds.py),
# plus hand-written odd ones (tests/fuzz/seeds_ini/).
INI_SEED_SRCS := $(shell git ls-files etc examples tests 2>/dev/null | grep -v '^tests/fuzz/')
$(FUZZ_DIR)/seeds_ini/.stamp: tests/fuzz/ini_seeds.py $(INI_SEED_SRCS) \
  $(wildcard tests/fuzz/seeds_ini/*)
	@rm -rf $(dir $@) && mkdir -p $(dir $@)
	@python3 tests/fuzz/ini_seeds.py . $(dir $@)
	@cp tests/fuzz/seeds_ini/* $(dir $@)
	@touch $@

fuzz-ini: $(FUZZ_DIR)/fuzz_ini $(FUZZ_DIR)/seeds_ini/.stamp
	@mkdir -p $(FUZZ_DIR)/corpus_ini $(FUZZ_DIR)/artifacts
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_ini -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=8192 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/ini.dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/ini- \
	  $(FUZZ_DIR)/corpus_ini $(FUZZ_DIR)/seeds_ini

FUZZ_RUNS := fuzz-source_http fuzz-source_http_diff fuzz-sql fuzz-ini fuzz-query_api fuzz-ws \
  fuzz-framing

.PHONY: fuzz $(FUZZ_RUNS)
fuzz: $(FUZZ_RUNS)
