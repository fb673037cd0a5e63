#!/usr/bin/env bash
# The shipped Kafka deployment configs pass `sensord -t` (plugins present, every key and
# kafka.* property valid), and a broken copy of each is refused.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins source_http sink_kafka source_kafka query_local query_ksql out_sse sink_null
for f in "$SENSORD_ROOT"/etc/pipeline-kafka*.ini; do
  out=$("$SENSORD_BIN" -c "$f" -p "$SENSORD_PLUGIN_DIR" -t 2>&1) || fail "$(basename "$f") refused: $out"
  sed -e 's/^plugin *= *\(sink_kafka\|source_kafka\|query_ksql\)$/&\nkafka_typo = 1/' "$f" >"$T_DIR/broken.ini"
  "$SENSORD_BIN" -c "$T_DIR/broken.ini" -p "$SENSORD_PLUGIN_DIR" -t >/dev/null 2>&1 &&
    fail "a broken copy of $(basename "$f") was accepted"
done
note "etc/pipeline-kafka*.ini: $(ls "$SENSORD_ROOT"/etc/pipeline-kafka*.ini | wc -l) configs check out"
