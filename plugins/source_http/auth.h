/* Authorization check for source_http: the whole header value against the configured
 * token, in time that does not depend on where the two differ. */
#ifndef SOURCE_HTTP_AUTH_H
#define SOURCE_HTTP_AUTH_H

#include <stddef.h>

/* 1 when header (may be NULL) is exactly "Bearer <token>" ("Bearer" in any case, the
 * token byte for byte) or exactly "<token>" (Sensor
 * Logger sends its "Auth Header" field verbatim, and users type either form). Both forms
 * are always compared, byte by byte over the whole header, so timing tells nothing about
 * the token's content. */
int auth_header_ok(const char *header, const char *token, size_t token_len);

#endif
