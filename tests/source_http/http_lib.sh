# shellcheck shell=bash
# Helpers for source_http integration tests (sourced after ../lib.sh): a pipeline file
# with free ports, POSTs that record status/headers/body, waiting for sink output, and
# reading one sample from the admin /metrics page.

# http_ini FILE STAGE_BODY...: writes a pipeline with a [sensord] section on a free
# admin port (ADMIN_PORT) followed by the given text.
http_ini() {
  local file=$1; shift
  ADMIN_PORT=$(free_port)
  {
    printf '[sensord]\nplugin_dir = %s\nadmin_listen = 127.0.0.1:%s\nlog_level = info\n' \
      "$SENSORD_PLUGIN_DIR" "$ADMIN_PORT"
    printf 'grace = %s\n\n' "${GRACE:-2s}"
    printf '%s\n' "$@"
  } >"$file"
}

# start_and_wait NAME INI URL...: starts sensord and waits for the admin port and each URL.
start_and_wait() {
  local name=$1 ini=$2 url; shift 2
  sd_start "$name" "$ini"
  wait_http "http://127.0.0.1:$ADMIN_PORT/metrics" 10
  wait_healthy 10
  for url in "$@"; do wait_http "$url" 10; done
}

# wait_healthy [seconds]: until /healthz answers 200, i.e. every stage's start() returned
# (the admin port answers before the sources listen; slow builds such as TSan show it).
wait_healthy() {
  local limit=$((${1:-10} * SD_TIME_SCALE)) i
  for ((i = 0; i < limit * 20; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
      "http://127.0.0.1:$ADMIN_PORT/healthz")" = 200 ] && return 0
    sleep 0.05
  done
  fail "sensord did not report healthy within ${limit}s"
}

# post URL [curl args...]: prints the status code; body in $T_DIR/body, headers in
# $T_DIR/headers.
post() {
  local url=$1; shift
  curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --max-time 20 \
    -X POST "$@" "$url"
}

# post_json URL FILE [curl args...]
post_json() {
  local url=$1 file=$2; shift 2
  post "$url" -H 'Content-Type: application/json' --data-binary "@$file" "$@"
}

body() { cat "$T_DIR/body"; }
header() { # header NAME: value of a response header of the last post
  grep -i "^$1:" "$T_DIR/headers" | head -n1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

# wait_lines FILE N [seconds]: until FILE has at least N lines.
wait_lines() {
  local file=$1 want=$2 limit=${3:-10} i n=0
  for ((i = 0; i < limit * 20; i++)); do
    n=$( (wc -l <"$file") 2>/dev/null || echo 0)
    [ "$n" -ge "$want" ] && return 0
    sleep 0.05
  done
  fail "$file: expected $want lines within ${limit}s, got $n"
}

# metric 'sensord_http_requests_total{stage="ingest",plugin="source_http",status="200"}'
metric() {
  curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk -v k="$1" 'index($0, k " ") == 1 { print $2; found = 1 } END { if (!found) print "missing" }'
}

# requests STAGE STATUS: value of sensord_http_requests_total for that stage and status.
requests() {
  metric "sensord_http_requests_total{stage=\"$1\",plugin=\"source_http\",status=\"$2\"}"
}
