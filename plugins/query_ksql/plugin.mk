# query_ksql: ksqlDB push-query client (libcurl multi, HTTP/1.1 or HTTP/2).
query_ksql_LIBS := -lcurl -ljansson -lpthread
