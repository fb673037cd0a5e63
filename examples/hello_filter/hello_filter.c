/* hello_filter: an example query plugin built outside the sensord tree against the
 * installed <sensord/plugin.h> only. It passes the records whose field `field` equals
 * `equals` and tags each passing record with `seen_by = <stage name>`. */
#include <sensord/plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const sd_config_key hello_keys[] = {
    {.name = "field",
     .type = SD_CFG_STRING,
     .flags = SD_CFG_REQUIRED,
     .description = "name of the field to compare; records without it are dropped"},
    {.name = "equals",
     .type = SD_CFG_STRING,
     .flags = SD_CFG_REQUIRED,
     .description = "value the field must have to pass: compared as text for strings, as a "
                    "number for int and double fields, true/false for bools, null for nulls"},
    {.name = NULL}};

#define SEEN_BY "seen_by"

typedef struct hello {
  const sd_host_api *host;
  sd_stage *stage;
  const char *field;
  size_t field_len;
  const char *equals;
  size_t equals_len;
  int equals_is_int;
  int64_t equals_int;
  int equals_is_double;
  double equals_double;
  const char *name; /* our stage name, the value of seen_by */
  sd_metric *records_in;
  sd_metric *records_passed;
  sd_metric *emit_refused;
} hello;

static sd_result hello_validate(const sd_host_api *host, sd_stage *stage) {
  const char *field = host->config_string(stage, "field");
  if (field && strcmp(field, SEEN_BY) == 0)
    return host->config_error(stage, "field",
                              "\"%s\" is the field this stage adds; pick another", SEEN_BY);
  return SD_OK;
}

static sd_result hello_init(const sd_host_api *host, sd_stage *stage, void **state) {
  hello *h = calloc(1, sizeof(*h));
  if (!h) return SD_ERR;
  h->host = host;
  h->stage = stage;
  h->field = host->config_string(stage, "field");
  h->field_len = strlen(h->field);
  h->equals = host->config_string(stage, "equals");
  h->equals_len = strlen(h->equals);
  h->name = host->stage_name(stage);

  char *end = NULL;
  errno = 0;
  long long i = strtoll(h->equals, &end, 10);
  h->equals_is_int = h->equals[0] != '\0' && *end == '\0' && errno == 0;
  h->equals_int = (int64_t)i;
  errno = 0;
  double d = strtod(h->equals, &end);
  h->equals_is_double = h->equals[0] != '\0' && *end == '\0' && errno == 0;
  h->equals_double = d;

  h->records_in = host->counter(stage, "hello_filter_records_in_total",
                                "Records this filter looked at", NULL);
  h->records_passed = host->counter(stage, "hello_filter_records_passed_total",
                                    "Records that matched and were passed on", NULL);
  h->emit_refused = host->counter(stage, "hello_filter_emit_refused_total",
                                  "Output batches downstream refused (busy or error)", NULL);
  host->log(stage, SD_LOG_INFO, "passing records where %s = %s", h->field, h->equals);
  *state = h;
  return SD_OK;
}

static int value_matches(const hello *h, const sd_value *v) {
  switch (v->type) {
  case SD_STRING:
    return v->as.s.len == h->equals_len && memcmp(v->as.s.ptr, h->equals, h->equals_len) == 0;
  case SD_INT:
    return h->equals_is_int && v->as.i == h->equals_int;
  case SD_DOUBLE:
    return h->equals_is_double && v->as.d == h->equals_double;
  case SD_BOOL:
    return strcmp(h->equals, v->as.i ? "true" : "false") == 0;
  case SD_NULL:
    return strcmp(h->equals, "null") == 0;
  default:
    return 0;
  }
}

static int record_matches(const hello *h, const sd_record_view *r) {
  for (uint64_t i = 0; i < r->field_count; i++) {
    const sd_field *f = &r->fields[i];
    if (f->name_len == h->field_len && memcmp(f->name, h->field, h->field_len) == 0)
      return value_matches(h, &f->value);
  }
  return 0;
}

/* Copies a record and appends seen_by. */
static sd_result copy_tagged(const hello *h, sd_batch *out, const sd_record_view *r) {
  const sd_host_api *host = h->host;
  if (host->record_begin(out, r->timestamp_ns, r->key, r->key ? r->key_len : 0) != SD_OK)
    return SD_ERR;
  for (uint64_t i = 0; i < r->field_count; i++) {
    const sd_field *f = &r->fields[i];
    if (f->name_len == strlen(SEEN_BY) && memcmp(f->name, SEEN_BY, f->name_len) == 0)
      continue; /* an upstream hello_filter's tag is replaced by ours */
    if (host->field_value(out, f->name, f->name_len, &f->value) != SD_OK) return SD_ERR;
  }
  return host->field_string(out, SEEN_BY, strlen(SEEN_BY), h->name, strlen(h->name));
}

static sd_result hello_process(void *state, sd_delivery *delivery) {
  hello *h = state;
  const sd_host_api *host = h->host;
  const sd_batch *in = host->delivery_batch(delivery);
  size_t count = host->batch_count(in);
  host->metric_add(h->records_in, (double)count);

  sd_batch *out = NULL;
  size_t passed = 0;
  for (size_t i = 0; i < count; i++) {
    sd_record_view r;
    if (host->batch_record(in, i, &r) != SD_OK || !record_matches(h, &r)) continue;
    if (!out && !(out = host->batch_new(h->stage, count - i))) break;
    if (copy_tagged(h, out, &r) != SD_OK) {
      host->log(h->stage, SD_LOG_ERROR, "could not copy a record into the output batch");
      host->batch_free(out);
      host->complete(delivery, SD_STATUS_FAIL);
      return SD_OK;
    }
    passed++;
  }
  if (passed == 0) {
    if (out) host->batch_free(out);
    host->complete(delivery, SD_STATUS_OK);
    return SD_OK;
  }

  /* Emitting from process() links `out` to the input: the input completes only once the
   * stages downstream completed `out`, so completing the delivery now is correct. */
  sd_result rc = host->emit(h->stage, out, NULL, NULL);
  if (rc != SD_OK) {
    host->batch_free(out);
    host->metric_add(h->emit_refused, 1);
    host->log(h->stage, SD_LOG_WARN, "downstream %s a batch of %zu records",
              rc == SD_BUSY ? "is full and refused" : "refused", passed);
    host->complete(delivery, rc == SD_BUSY ? SD_STATUS_RETRY : SD_STATUS_FAIL);
    return SD_OK;
  }
  host->metric_add(h->records_passed, (double)passed);
  host->complete(delivery, SD_STATUS_OK);
  return SD_OK;
}

static void hello_destroy(void *state) {
  free(state);
}

static const sd_plugin_descriptor hello_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "hello_filter",
    .version = "1.0.0",
    .description = "example filter: passes records whose field equals a value, tags them",
    .kind = SD_KIND_QUERY,
    .config_keys = hello_keys,
    .validate = hello_validate,
    .init = hello_init,
    .process = hello_process,
    .destroy = hello_destroy,
};

SD_PLUGIN_DEFINE(hello_descriptor)
