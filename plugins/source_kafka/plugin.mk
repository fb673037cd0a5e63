# source_kafka: librdkafka consumer. The configuration passthrough and the message parser
# (lib/kafka/kafka_conf.c, kafka_record.c) come from the shared archive.
source_kafka_SRCS := plugins/source_kafka/source_kafka.c
source_kafka_LIBS := -lrdkafka -ljansson -lpthread
