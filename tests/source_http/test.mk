# source_http unit tests: body parsers, body buffer (gzip, limits), header rules.
UNIT_TESTS += test_source_http_ingest test_source_http_body test_source_http_rules
test_source_http_ingest_SRCS := tests/source_http/test_ingest.c tests/source_http/recorder.c \
  plugins/source_http/ingest.c
test_source_http_ingest_LIBS := -ljansson
test_source_http_body_SRCS := tests/source_http/test_body.c plugins/source_http/body.c
test_source_http_body_LIBS := -lz
test_source_http_rules_SRCS := tests/source_http/test_rules.c plugins/source_http/auth.c \
  plugins/source_http/headers.c
test_source_http_rules_LIBS :=
