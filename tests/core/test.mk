# Core unit tests (Check): ABI layout, batches, queues/backpressure/acks, metrics.
UNIT_TESTS += test_core_layout test_core_batch test_core_flow test_core_metrics
test_core_layout_SRCS := tests/core/test_core_layout.c
test_core_batch_SRCS := tests/core/test_core_batch.c
test_core_flow_SRCS := tests/core/test_core_flow.c
test_core_metrics_SRCS := tests/core/test_core_metrics.c
