# query_local's SQL engine (parser, planner, evaluator, streams, windows, /ksql entities),
# tested without the plugin glue or the REST API.
QL_ENGINE_SRCS := plugins/query_local/sql_lexer.c plugins/query_local/sql_parser.c \
  plugins/query_local/sql_plan.c plugins/query_local/sql_eval.c \
  plugins/query_local/sql_functions.c plugins/query_local/streams.c \
  plugins/query_local/windows.c plugins/query_local/ddl.c plugins/query_local/engine.c

UNIT_TESTS += test_query_local_engine
test_query_local_engine_SRCS := tests/query_local_engine/test_engine.c \
  tests/query_local_engine/test_support.c $(QL_ENGINE_SRCS)
test_query_local_engine_LIBS := -ljansson -lm -lpthread

# The same engine with calloc wrapped, to run aggregates out of memory on demand.
UNIT_TESTS += test_query_local_agg_oom
test_query_local_agg_oom_SRCS := tests/query_local_engine/test_agg_oom.c \
  tests/query_local_engine/test_support.c $(QL_ENGINE_SRCS)
test_query_local_agg_oom_LIBS := -ljansson -lm -lpthread -Wl,--wrap=calloc
