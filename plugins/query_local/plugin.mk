# query_local: the in-process push-query engine and its ksqlDB-compatible REST API
# (HTTP/1.1 through libmicrohttpd, HTTP/2 cleartext through nghttp2, JSON through jansson).
query_local_SRCS := $(wildcard plugins/query_local/*.c)
query_local_LIBS := -lmicrohttpd -lnghttp2 -ljansson -lzstd -lpthread -lm
