# sink_kafka: librdkafka producer. kafka_conf.c is shared with source_kafka.
sink_kafka_SRCS := plugins/sink_kafka/sink_kafka.c plugins/sink_kafka/kafka_json.c \
  plugins/sink_kafka/kafka_conf.c
sink_kafka_LIBS := -lrdkafka -ljansson -lpthread
