# Unit tests of the core's config parsing/validation and logging modules.
UNIT_TESTS += test_config test_log
test_config_SRCS := tests/core_config/test_config.c
test_config_LIBS :=
test_log_SRCS := tests/core_config/test_log.c
test_log_LIBS :=
