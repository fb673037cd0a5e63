# query_local's stream log (plugins/query_local/tlog*.c) and its record encoding
# (qlog_codec.c): append/read, roll, indexes, retention, torn-tail recovery, CRC32C.
UNIT_TESTS += test_query_local_log
test_query_local_log_SRCS := tests/query_local_log/test_log.c \
  tests/query_local_engine/test_support.c plugins/query_local/tlog.c \
  plugins/query_local/tlog_segment.c plugins/query_local/tlog_crc32c.c \
  plugins/query_local/qlog_codec.c $(QL_ENGINE_SRCS)
test_query_local_log_LIBS := -lzstd -ljansson -lm -lpthread
