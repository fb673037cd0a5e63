/* Who may call the REST API from a browser: Host names (against DNS rebinding), CORS
 * origins and body types, checked before any route runs, for HTTP/1.1 and HTTP/2 alike.
 * A cross-site page can POST text/plain to /ksql without asking; here it cannot. */
#include "api_server.h"
#include "http/front.h"
#include "http/origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ksqlDB's own request types, besides JSON. */
static const char *const api_body_types[] = {"application/vnd.ksqlapi.delimited.v1",
                                             "application/vnd.ksql.v1+json"};

static const char **load_list(api_server *srv, const char *key, size_t *count) {
  size_t n = srv->host->config_list_count(srv->stage, key);
  *count = 0;
  if (!n) return NULL;
  const char **v = calloc(n, sizeof *v);
  if (!v) return NULL;
  for (size_t i = 0; i < n; i++) v[i] = srv->host->config_list_item(srv->stage, key, i);
  *count = n;
  return v;
}

void api_policy_load(api_server *srv) {
  srv->allowed_hosts = load_list(srv, "allowed_hosts", &srv->allowed_host_count);
  srv->cors_origins = load_list(srv, "cors_origins", &srv->cors_origin_count);
}

void api_policy_free(api_server *srv) {
  free(srv->allowed_hosts);
  free(srv->cors_origins);
}

static void refuse(api_server *srv, api_reply *r, int code, hf_refusal why, const char *msg) {
  api_buf b = {0};
  api_error_body(&b, code, msg, NULL);
  r->status = code / 100;
  r->content_type = "application/json";
  r->body = api_buf_take(&b, &r->body_len);
  if (!r->body) r->body_len = 0;
  if (srv->front) hf_front_count(srv->front, why);
  srv->host->log(srv->stage, SD_LOG_WARN, "API request refused: %s", msg);
}

/* `curl -d '{"ksql":...}'` labels its JSON as a form, and ksqlDB takes it: so does this
 * API, but only without an Origin header. Browsers send Origin with every POST, so a page
 * still cannot use the form type to skip the preflight. */
static int curl_form(const api_request *req) {
  if (req->origin || !req->content_type) return 0;
  const char *ct = req->content_type;
  while (*ct == ' ') ct++;
  return strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

int api_policy_check(api_server *srv, const api_request *req, api_reply *r) {
  memset(r, 0, sizeof *r);
  char msg[400];
  if (!hf_host_allowed(req->host, srv->allowed_hosts, srv->allowed_host_count)) {
    snprintf(msg, sizeof msg,
             "Host '%.100s' is not this server: add it to allowed_hosts (loopback names and IP "
             "addresses are always allowed)",
             req->host ? req->host : "");
    refuse(srv, r, 40300, HF_REFUSED_HOST, msg);
    return 1;
  }
  if (!hf_origin_allowed(req->origin, req->host, srv->cors_origins, srv->cors_origin_count)) {
    snprintf(msg, sizeof msg,
             "Origin '%.100s' may not call this API: add it to cors_origins to allow it",
             req->origin);
    refuse(srv, r, 40300, HF_REFUSED_ORIGIN, msg);
    return 1;
  }
  /* A cross-origin caller that is allowed gets its origin echoed back. */
  if (req->origin && *req->origin) r->cors_origin = req->origin;
  if (strcmp(req->method, "OPTIONS") == 0 && req->origin && req->cors_request_method) {
    r->status = 204;
    r->preflight = 1;
    return 1;
  }
  if (strcmp(req->method, "POST") == 0 &&
      !hf_json_content_type(req->content_type, api_body_types,
                            sizeof api_body_types / sizeof *api_body_types) &&
      !curl_form(req)) {
    snprintf(msg, sizeof msg,
             "Content-Type '%.80s' is not accepted: send application/json or "
             "application/vnd.ksql.v1+json",
             req->content_type);
    const char *origin = r->cors_origin;
    refuse(srv, r, 41500, HF_REFUSED_MEDIA_TYPE, msg);
    r->cors_origin = origin;
    return 1;
  }
  return 0;
}
