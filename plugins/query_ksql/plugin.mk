# query_ksql: ksqlDB push-query client (libcurl multi, HTTP/1.1 or HTTP/2).
# lib/kafka/kafka_record.c (from the shared archive): its epoch-unit helper reads a row's
# TIME column.
query_ksql_SRCS := plugins/query_ksql/query_ksql.c plugins/query_ksql/ksql_text.c \
  plugins/query_ksql/ksql_rows.c
query_ksql_LIBS := -lcurl -ljansson -lpthread
