#!/usr/bin/env bash
# query_local's REST API over HTTP/2 cleartext with prior knowledge (nghttp2): the same
# endpoint and format checks as HTTP/1.1, on the same port.
. "$(dirname "$0")/../lib.sh"
HTTP=2
. "$(dirname "$0")/api_lib.sh"
. "$(dirname "$0")/api_checks.sh"
echo "ok"
