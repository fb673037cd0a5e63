# query_local's REST API wire formats (the engine has its own suite in query_local_engine/).
UNIT_TESTS += test_query_local_api
test_query_local_api_SRCS := tests/query_local/test_api_json.c plugins/query_local/api_json.c
test_query_local_api_LIBS := -lm
