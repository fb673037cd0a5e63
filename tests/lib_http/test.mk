# Unit tests of the shared HTTP layer's pure rules (lib/http): request framing, and the
# Host, Origin and Content-Type rules. The front end itself is exercised by tests/hostile.
UNIT_TESTS += test_http_rules
test_http_rules_SRCS := tests/lib_http/test_http_rules.c lib/http/framing.c lib/http/origin.c
test_http_rules_LIBS :=
