# source_kafka: librdkafka consumer; shares sink_kafka's configuration passthrough.
source_kafka_SRCS := plugins/source_kafka/source_kafka.c plugins/source_kafka/kafka_record.c \
  plugins/sink_kafka/kafka_conf.c
source_kafka_LIBS := -lrdkafka -ljansson -lpthread
