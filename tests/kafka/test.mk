# Kafka plugins: unit suites, the mock broker tool the shell tests drive, and its rule.
UNIT_TESTS += test_kafka_json
test_kafka_json_SRCS := tests/kafka/test_kafka_json.c plugins/sink_kafka/kafka_json.c
test_kafka_json_LIBS := -ljansson -lm

# core/tsan_c11threads.c is empty unless SAN=thread, where librdkafka needs it (see there).
$(BUILD)/tests-tools/mock_broker: tests/kafka/mock_broker.c core/tsan_c11threads.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lrdkafka

# Built with the tests (order-only: not linked into the suite).
$(BUILD)/tests/test_kafka_json: | $(BUILD)/tests-tools/mock_broker

UNIT_TESTS += test_ksql_text
test_ksql_text_SRCS := tests/kafka/test_ksql_text.c plugins/query_ksql/ksql_text.c
test_ksql_text_LIBS :=

UNIT_TESTS += test_ksql_rows
test_ksql_rows_SRCS := tests/kafka/test_ksql_rows.c plugins/query_ksql/ksql_rows.c \
  lib/kafka/kafka_record.c
test_ksql_rows_LIBS := -ljansson
