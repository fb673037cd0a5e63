/* sensord plugin ABI: the only header a plugin needs.
 * Descriptor returned by the plugin, host function table handed to it, and the plain
 * value types (records, fields, config keys) that cross between them. */
#ifndef SENSORD_PLUGIN_H
#define SENSORD_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versioning ---------------------------------------------------------------------
 * Major: bumped when anything already published changes layout or meaning.
 * Minor: bumped when entries are appended to sd_host_api or sd_plugin_descriptor.
 * A plugin built against minor N loads into a host with minor >= N (see docs/ABI.md). */
#define SD_ABI_MAGIC  0x534E5344u /* "SNSD" */
#define SD_ABI_MAJOR  1
#define SD_ABI_MINOR  1
#define SD_ABI_VENDOR "sensord"

/* Build traits: pointer size and byte order, so a plugin built for another target is
 * refused with a message instead of crashing. */
#define SD_TRAIT_PTR64      0x1u
#define SD_TRAIT_BIG_ENDIAN 0x2u
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
#define SD__TRAIT_PTR SD_TRAIT_PTR64
#else
#define SD__TRAIT_PTR 0u
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SD__TRAIT_ORDER SD_TRAIT_BIG_ENDIAN
#else
#define SD__TRAIT_ORDER 0u
#endif
#define SD_BUILD_TRAITS (SD__TRAIT_PTR | SD__TRAIT_ORDER)

/* The one symbol a plugin exports. */
#define SD_PLUGIN_ENTRY_SYMBOL "sd_plugin_entry"
#if defined(__GNUC__)
#define SD_PLUGIN_EXPORT     __attribute__((visibility("default")))
#define SD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SD_PLUGIN_EXPORT
#define SD_PRINTF(fmt, args)
#endif

/* ---- Opaque handles (layouts are the core's business) ------------------------------ */
typedef struct sd_stage sd_stage;       /* one configured instance of a plugin */
typedef struct sd_batch sd_batch;       /* unit of flow, backpressure and acknowledgement */
typedef struct sd_schema sd_schema;     /* column names + ksqlDB type names of a query */
typedef struct sd_delivery sd_delivery; /* a batch handed to process(); complete it once */
typedef struct sd_metric sd_metric;     /* counter, gauge or histogram */
typedef struct sd_timer sd_timer;

/* ---- Results ------------------------------------------------------------------------ */
typedef enum sd_result {
  SD_OK = 0,
  SD_BUSY = 1, /* downstream full (on_full=reject): try later, nothing was taken */
  SD_ERR = 2   /* refused for good: nothing was taken */
} sd_result;

/* Outcome of a delivered batch, passed to complete() and to a source's ack callback. */
typedef enum sd_status {
  SD_STATUS_OK = 0,     /* every consumer finished it */
  SD_STATUS_RETRY = 1,  /* transient failure: the producer may resend */
  SD_STATUS_FAIL = 2,   /* permanent failure */
  SD_STATUS_DROPPED = 3 /* dropped by on_full=drop or shutdown (counted) */
} sd_status;

typedef enum sd_log_level {
  SD_LOG_ERROR = 0,
  SD_LOG_WARN = 1,
  SD_LOG_INFO = 2,
  SD_LOG_DEBUG = 3
} sd_log_level;

/* ---- Values and records --------------------------------------------------------------
 * Plain structs with explicit padding: their layout is pinned by a test and only changes
 * with the major version. Strings are NOT NUL-terminated in general; use len. */
typedef enum sd_type {
  SD_NULL = 0,
  SD_BOOL = 1,
  SD_INT = 2, /* int64 */
  SD_DOUBLE = 3,
  SD_STRING = 4 /* UTF-8 bytes */
} sd_type;

typedef struct sd_value {
  uint32_t type; /* sd_type */
  uint32_t reserved;
  union {
    int64_t i; /* SD_INT, and SD_BOOL as 0/1 */
    double d;  /* SD_DOUBLE */
    struct {
      const char *ptr;
      uint64_t len;
    } s; /* SD_STRING */
  } as;
} sd_value;

typedef struct sd_field {
  const char *name; /* NUL-terminated */
  uint64_t name_len;
  sd_value value;
} sd_field;

/* A read-only view of one record, valid while the batch is alive. */
typedef struct sd_record_view {
  int64_t timestamp_ns; /* event time, UTC epoch ns */
  const char *key;      /* NULL when the record has no key */
  uint64_t key_len;
  uint64_t field_count;
  const sd_field *fields; /* in insertion order */
} sd_record_view;

/* A read-only view of a schema. */
typedef struct sd_schema_view {
  const char *name; /* query or stream name that produced the rows */
  uint64_t column_count;
  const char *const *columns; /* e.g. "DEVICEID" */
  const char *const *types;   /* ksqlDB type names, e.g. "STRING", "BIGINT" */
} sd_schema_view;

/* ---- Configuration keys ----------------------------------------------------------- */
typedef enum sd_config_type {
  SD_CFG_STRING = 0,
  SD_CFG_INT = 1,  /* int64, bounds checked */
  SD_CFG_BOOL = 2, /* true/false/yes/no/on/off/1/0 */
  SD_CFG_DOUBLE = 3,
  SD_CFG_SIZE = 4,     /* bytes: "512", "64K", "16M", "1G" */
  SD_CFG_DURATION = 5, /* "250ms", "5s", "2m", "1h", "100us" -> nanoseconds */
  SD_CFG_ENUM = 6,     /* one of enum_values ("a|b|c") -> index */
  SD_CFG_LIST = 7,     /* comma-separated strings */
  SD_CFG_PREFIX = 8    /* name is a prefix ("kafka."): any key under it passes through */
} sd_config_type;

#define SD_CFG_REQUIRED 0x1u
#define SD_CFG_SECRET   0x2u /* never printed in logs or --plugin-info values */
#define SD_CFG_HAS_MIN  0x4u
#define SD_CFG_HAS_MAX  0x8u
#define SD_CFG_MULTI    0x10u /* PREFIX keys: a value may span continuation lines */

typedef struct sd_config_key {
  const char *name;
  uint32_t type;             /* sd_config_type */
  uint32_t flags;            /* SD_CFG_* */
  const char *default_value; /* text parsed like a config value; NULL = no default */
  double min;                /* bounds in the key's unit (bytes, ns, or the number) */
  double max;
  const char *enum_values; /* "accepted|delivered" for SD_CFG_ENUM */
  const char *description;
} sd_config_key;

/* ---- Plugin kinds ----------------------------------------------------------------- */
typedef enum sd_kind {
  SD_KIND_SOURCE = 1, /* produces batches; no inputs */
  SD_KIND_QUERY = 2,  /* consumes and produces */
  SD_KIND_SINK = 3    /* consumes; an output */
} sd_kind;

/* Callback types used by the host API. */
typedef void (*sd_ack_fn)(void *ctx, sd_status status);
typedef void (*sd_timer_fn)(void *state);
typedef void (*sd_config_each_fn)(void *ctx, const char *key, const char *value);

/* ---- Host API: a sized, append-only function table ---------------------------------
 * struct_size is first; a plugin that uses an entry added in a later minor checks
 * SD_HOST_HAS(host, member) first. Calls marked [any thread] are thread-safe; all other
 * calls are made from the stage's own callbacks. */
typedef struct sd_host_api {
  uint32_t struct_size;
  uint32_t abi_minor;

  /* Logging: one logfmt line per call; repeated lines are rate-limited. [any thread] */
  void (*log)(sd_stage *stage, sd_log_level level, const char *fmt, ...) SD_PRINTF(3, 4);
  void (*vlog)(sd_stage *stage, sd_log_level level, const char *fmt, va_list ap);
  int (*log_enabled)(sd_stage *stage, sd_log_level level);

  /* Typed config getters: values were validated before init(); an unset key returns its
   * default. Strings live as long as the stage. */
  const char *(*stage_name)(sd_stage *stage);
  const char *(*config_string)(sd_stage *stage, const char *key);
  int64_t (*config_int)(sd_stage *stage, const char *key);
  int (*config_bool)(sd_stage *stage, const char *key);
  double (*config_double)(sd_stage *stage, const char *key);
  int64_t (*config_size)(sd_stage *stage, const char *key);     /* bytes */
  int64_t (*config_duration)(sd_stage *stage, const char *key); /* ns */
  int (*config_enum)(sd_stage *stage, const char *key);         /* index */
  size_t (*config_list_count)(sd_stage *stage, const char *key);
  const char *(*config_list_item)(sd_stage *stage, const char *key, size_t index);
  /* Visit every key under a PREFIX key, in file order: key without the prefix. */
  void (*config_each)(sd_stage *stage, const char *prefix, sd_config_each_fn fn, void *ctx);
  /* From validate(): report a config error at the key's file:line. Returns SD_ERR. */
  sd_result (*config_error)(sd_stage *stage, const char *key, const char *fmt, ...)
      SD_PRINTF(3, 4);
  /* Where this plugin's static assets are installed (no trailing slash). */
  const char *(*asset_dir)(sd_stage *stage);

  /* Batches. A new batch belongs to the caller until emitted. [any thread] */
  sd_batch *(*batch_new)(sd_stage *stage, size_t record_hint);
  void (*batch_free)(sd_batch *batch); /* only for a batch that was never emitted */
  /* Start a record; fields are added to the last record begun. key may be NULL. */
  sd_result (*record_begin)(sd_batch *batch, int64_t timestamp_ns, const char *key,
                            size_t key_len);
  sd_result (*field_null)(sd_batch *batch, const char *name, size_t name_len);
  sd_result (*field_bool)(sd_batch *batch, const char *name, size_t name_len, int v);
  sd_result (*field_int)(sd_batch *batch, const char *name, size_t name_len, int64_t v);
  sd_result (*field_double)(sd_batch *batch, const char *name, size_t name_len, double v);
  sd_result (*field_string)(sd_batch *batch, const char *name, size_t name_len, const char *v,
                            size_t len);
  sd_result (*field_value)(sd_batch *batch, const char *name, size_t name_len,
                           const sd_value *v);
  /* Reading. */
  size_t (*batch_count)(const sd_batch *batch);
  size_t (*batch_bytes)(const sd_batch *batch);
  sd_result (*batch_record)(const sd_batch *batch, size_t index, sd_record_view *out);
  const sd_schema *(*batch_schema)(const sd_batch *batch); /* NULL when none */

  /* Schemas: a query stage makes one per query and attaches it to the batches it emits. */
  sd_schema *(*schema_new)(sd_stage *stage, const char *name, size_t column_count,
                           const char *const *columns, const char *const *types);
  void (*schema_release)(sd_schema *schema);
  void (*batch_set_schema)(sd_batch *batch, sd_schema *schema);
  void (*schema_view)(const sd_schema *schema, sd_schema_view *out);

  /* Emit a batch downstream. SD_OK: the core owns it and calls ack(ctx, status) once,
   * from any thread, when every downstream consumer completed it (ack may be NULL).
   * SD_BUSY/SD_ERR: nothing was taken; the caller still owns the batch. When called
   * from inside process(), the input's completion also waits for this batch. */
  sd_result (*emit)(sd_stage *stage, sd_batch *batch, sd_ack_fn ack, void *ack_ctx);

  /* Sinks and queries: finish a batch handed to process(). Exactly once. [any thread] */
  void (*complete)(sd_delivery *delivery, sd_status status);
  const sd_batch *(*delivery_batch)(const sd_delivery *delivery);

  /* Metrics: names are suffixed to "sensord_"; the core adds stage="..." and plugin="...".
   * labels: extra Prometheus labels, e.g. "status=\"200\"", or NULL. [any thread] */
  sd_metric *(*counter)(sd_stage *stage, const char *name, const char *help,
                        const char *labels);
  sd_metric *(*gauge)(sd_stage *stage, const char *name, const char *help, const char *labels);
  /* Buckets are upper bounds in the metric's unit, ascending; NULL = latency in seconds
   * from 50 us to 10 s. */
  sd_metric *(*histogram)(sd_stage *stage, const char *name, const char *help,
                          const char *labels, const double *buckets, size_t bucket_count);
  void (*metric_add)(sd_metric *metric, double delta);     /* counter, gauge */
  void (*metric_set)(sd_metric *metric, double value);     /* gauge */
  void (*metric_observe)(sd_metric *metric, double value); /* histogram */

  /* Timers and wakeups run their callback on the stage's own thread, serialized with
   * process(). */
  sd_timer *(*timer_start)(sd_stage *stage, int64_t interval_ns, int repeat, sd_timer_fn fn);
  void (*timer_stop)(sd_timer *timer);
  void (*wakeup)(sd_stage *stage); /* runs descriptor->on_wakeup soon. [any thread] */

  /* Clocks. [any thread] */
  int64_t (*now_mono_ns)(void);
  int64_t (*now_wall_ns)(void);

  /* Is the pipeline shutting down (sources should stop accepting)? [any thread] */
  int (*stopping)(sd_stage *stage);
} sd_host_api;

#define SD_HOST_HAS(host, member)                                                              \
  ((host)->struct_size >= offsetof(sd_host_api, member) + sizeof((host)->member))

/* Descriptor flags (ABI 1.1).
 * SD_PLUGIN_PROCESS_ON_CALLER: process() may run on the thread that emitted the batch
 * (an HTTP worker, another stage's thread) when the stage's own thread is idle with
 * nothing queued, saving a thread wake-up per batch. It is still never run at the same
 * time as the plugin's other callbacks. Set it only when process() is quick, never
 * blocks for long, and keeps no per-thread state between calls. */
#define SD_PLUGIN_PROCESS_ON_CALLER 0x1u
#define SD_PLUGIN_KNOWN_FLAGS       SD_PLUGIN_PROCESS_ON_CALLER

/* ---- Descriptor: returned by sd_plugin_entry() --------------------------------------
 * The first five fields are frozen forever; the loader checks them in order. */
typedef struct sd_plugin_descriptor {
  uint32_t magic;        /* SD_ABI_MAGIC */
  uint16_t abi_major;    /* SD_ABI_MAJOR */
  uint16_t abi_minor;    /* SD_ABI_MINOR */
  uint32_t struct_size;  /* sizeof(sd_plugin_descriptor) */
  uint32_t build_traits; /* SD_BUILD_TRAITS */
  const char *vendor;    /* SD_ABI_VENDOR */

  const char *name;                 /* must equal the file stem: name.so */
  const char *version;              /* the plugin's own version */
  const char *description;          /* one line */
  uint32_t kind;                    /* sd_kind */
  uint32_t flags;                   /* SD_PLUGIN_* below, or 0 */
  const sd_config_key *config_keys; /* terminated by an entry with name == NULL */

  /* Check cross-key rules that the typed table cannot (report via config_error). Runs in
   * `sensord -t` too, so it must not open ports or files that would be exclusive. */
  sd_result (*validate)(const sd_host_api *host, sd_stage *stage);
  /* Allocate state, read config. No threads or ports yet. */
  sd_result (*init)(const sd_host_api *host, sd_stage *stage, void **state);
  /* Open ports, start threads. Sources begin emitting. */
  sd_result (*start)(void *state);
  /* Queries and sinks: a batch arrived. Call host->complete(delivery, …) exactly once,
   * now or later, from any thread. Return SD_OK, or SD_ERR to fail the batch at once
   * (the core completes it with SD_STATUS_FAIL). */
  sd_result (*process)(void *state, sd_delivery *delivery);
  /* Sources: downstream is full / has room again (optional). */
  void (*pause)(void *state);
  void (*resume)(void *state);
  /* Requested through host->wakeup(). */
  void (*on_wakeup)(void *state);
  /* Shutdown, in pipeline order: sources stop accepting; sinks flush until deadline
   * (CLOCK_MONOTONIC ns). Returns the number of records that could not be delivered. */
  int64_t (*drain)(void *state, int64_t deadline_mono_ns);
  /* Free everything. Threads started by the plugin must be joined by now. */
  void (*destroy)(void *state);

  void *reserved[8]; /* zero */
} sd_plugin_descriptor;

typedef const sd_plugin_descriptor *(*sd_plugin_entry_fn)(void);

/* Initializer for the frozen header of a descriptor. */
#define SD_DESCRIPTOR_HEADER                                                                   \
  .magic = SD_ABI_MAGIC, .abi_major = SD_ABI_MAJOR, .abi_minor = SD_ABI_MINOR,                 \
  .struct_size = sizeof(sd_plugin_descriptor), .build_traits = SD_BUILD_TRAITS,                \
  .vendor = SD_ABI_VENDOR

/* Declares the entry point returning `desc`. */
#define SD_PLUGIN_DEFINE(desc)                                                                 \
  SD_PLUGIN_EXPORT const sd_plugin_descriptor *sd_plugin_entry(void);                          \
  SD_PLUGIN_EXPORT const sd_plugin_descriptor *sd_plugin_entry(void) {                         \
    return &(desc);                                                                            \
  }

#ifdef __cplusplus
}
#endif
#endif /* SENSORD_PLUGIN_H */
