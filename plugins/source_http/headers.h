/* Request-header rules of source_http that need no server: which media types each path
 * takes, whether a CORS origin is allowed, and the listen address syntax. */
#ifndef SOURCE_HTTP_HEADERS_H
#define SOURCE_HTTP_HEADERS_H

#include <stddef.h>
#include <sys/socket.h>

/* Content-Type of a Sensor Logger push: application/json or application/<x>+json,
 * parameters (charset) ignored. A missing header is accepted: the original producer never
 * looked at it. */
int hdr_json_type_ok(const char *content_type);
/* Content-Type for /records: JSON, or NDJSON (application/x-ndjson, application/ndjson,
 * application/jsonl, application/x-jsonlines); missing is accepted. */
int hdr_records_type_ok(const char *content_type);

/* The value for Access-Control-Allow-Origin, or NULL when origin is not allowed (or
 * absent). "*" in the list allows any origin. */
const char *hdr_cors_origin(const char *origin, const char *const *allowed, size_t count);

#endif
