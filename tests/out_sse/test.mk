# out_sse / out_websocket unit tests: the hub (routing, replay, queues, overflow, heartbeats)
# and the row serializer. Integration tests are t_*.sh and *.test.mjs beside this file.
UNIT_TESTS += test_out_hub
test_out_hub_SRCS := tests/out_sse/test_out_hub.c lib/stream/hub.c lib/stream/rowjson.c
test_out_hub_LIBS := -lpthread -lm
