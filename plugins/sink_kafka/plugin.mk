# sink_kafka: librdkafka producer. Its configuration passthrough (lib/kafka/kafka_conf.c)
# comes from the shared archive, which every plugin links.
sink_kafka_SRCS := plugins/sink_kafka/sink_kafka.c plugins/sink_kafka/kafka_json.c
sink_kafka_LIBS := -lrdkafka -ljansson -lpthread
