# source_http unit tests: body parsers (jansson, and the simdjson fast path against it),
# body buffer (gzip, limits), header rules and the LAN address of the start-up line.
UNIT_TESTS += test_source_http_ingest test_source_http_fast test_source_http_body \
  test_source_http_rules
test_source_http_ingest_SRCS := tests/source_http/test_ingest.c tests/source_http/recorder.c \
  plugins/source_http/ingest.c
test_source_http_ingest_LIBS := -ljansson
# The fast path's object comes from plugins/source_http/plugin.mk (a .o passes through).
test_source_http_fast_SRCS := tests/source_http/test_fast.c tests/source_http/recorder.c \
  plugins/source_http/ingest.c $(SOURCE_HTTP_FAST_OBJ)
test_source_http_fast_LIBS := -ljansson -lsimdjson -lstdc++
test_source_http_body_SRCS := tests/source_http/test_body.c plugins/source_http/body.c
test_source_http_body_LIBS := -lz
test_source_http_rules_SRCS := tests/source_http/test_rules.c plugins/source_http/auth.c \
  plugins/source_http/headers.c
test_source_http_rules_LIBS :=

# The server itself on loopback, with a small host table, out of memory on demand.
UNIT_TESTS += test_source_http_server
test_source_http_server_SRCS := tests/source_http/test_server_errors.c $(source_http_SRCS)
test_source_http_server_LIBS := -lmicrohttpd -ljansson -lsimdjson -lz -lstdc++ \
  -Wl,--wrap=json_dumps,--wrap=asprintf,--wrap=calloc
