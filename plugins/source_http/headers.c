/* Media-type matching, CORS origin lookup and listen-address parsing for source_http:
 * small string rules kept apart from the server so unit tests can pin them. */
#include "headers.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies the media type (before ';', trimmed) of a Content-Type into out. */
static int hdr_media_type(const char *content_type, char *out, size_t out_len) {
  while (*content_type == ' ' || *content_type == '\t') content_type++;
  size_t n = strcspn(content_type, ";");
  while (n && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t')) n--;
  if (n == 0 || n >= out_len) return -1;
  memcpy(out, content_type, n);
  out[n] = '\0';
  return 0;
}

static int hdr_is_json(const char *type) {
  size_t n = strlen(type);
  if (!strcasecmp(type, "application/json")) return 1;
  return !strncasecmp(type, "application/", 12) && n > 17 && !strcasecmp(type + n - 5, "+json");
}

int hdr_json_type_ok(const char *content_type) {
  char type[128];
  if (!content_type) return 1;
  if (hdr_media_type(content_type, type, sizeof type)) return 0;
  return hdr_is_json(type);
}

int hdr_records_type_ok(const char *content_type) {
  static const char *const lines[] = {"application/x-ndjson", "application/ndjson",
                                      "application/jsonl", "application/x-jsonlines"};
  char type[128];
  if (!content_type) return 1;
  if (hdr_media_type(content_type, type, sizeof type)) return 0;
  if (hdr_is_json(type)) return 1;
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    if (!strcasecmp(type, lines[i])) return 1;
  return 0;
}

const char *hdr_cors_origin(const char *origin, const char *const *allowed, size_t count) {
  if (!origin || !*origin) return NULL;
  for (size_t i = 0; i < count; i++) {
    if (!strcmp(allowed[i], "*")) return "*";
    if (!strcasecmp(allowed[i], origin)) return allowed[i];
  }
  return NULL;
}
