/* Host and Origin rules for servers a browser can reach: which Host names are this server
 * (against DNS rebinding), which cross-origin pages may call it (CORS), and which request
 * bodies a page could have sent without asking first. Pure functions. */
#ifndef SD_LIB_HTTP_ORIGIN_H
#define SD_LIB_HTTP_ORIGIN_H

#include <stddef.h>

/* 1 when host (a Host header or :authority, with or without port) names this server: an
 * IP literal, "localhost" or a name under ".localhost", or one of names ("*" = any name).
 * A rebinding page reaches the server under its own host name, never under these. NULL or
 * empty host: 0 (HTTP/1.1 requires one). */
int hf_host_allowed(const char *host, const char *const *names, size_t count);

/* 1 when a request carrying origin may be answered: no Origin header (not a browser, or a
 * same-origin GET), an origin whose host and port equal host's, or one of allowed (exact
 * "scheme://host[:port]" match; "*" = any origin). */
int hf_origin_allowed(const char *origin, const char *host, const char *const *allowed,
                      size_t count);

/* 1 for a body type a JSON API takes: application/json, application/<x>+json, or one of
 * extra (e.g. "application/vnd.ksqlapi.delimited.v1"); parameters such as charset are
 * ignored. NULL (no Content-Type) counts as JSON. The three types a page may send across
 * origins without a preflight (text/plain, form and multipart) are never JSON. */
int hf_json_content_type(const char *content_type, const char *const *extra, size_t count);

#endif
