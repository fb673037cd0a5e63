/* Typed config values: the core's own key tables, validation of a section against key
 * tables (unknown keys with suggestions, missing required keys, malformed or out-of-range
 * values, all reported at once), the getters behind the host API, and table self-checks. */
#include "config.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS "error|warn|info|debug"

const sd_config_key cfg_core_stage_keys[] = {
    {.name = "plugin",
     .type = SD_CFG_STRING,
     .flags = SD_CFG_REQUIRED,
     .description = "plugin to load: NAME.so in plugin_dir"},
    {.name = "inputs",
     .type = SD_CFG_LIST,
     .description = "stages feeding this one, comma-separated (queries and sinks)"},
    {.name = "queue.max_records",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "10000",
     .min = 1,
     .max = 100000000,
     .description = "records waiting in this stage's input queue before on_full applies"},
    {.name = "queue.max_bytes",
     .type = SD_CFG_SIZE,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "64M",
     .min = 4096,
     .max = 68719476736.0,
     .description = "bytes of records waiting in this stage's input queue before on_full "
                    "applies"},
    {.name = "on_full",
     .type = SD_CFG_ENUM,
     .default_value = "reject",
     .enum_values = "block|reject|drop",
     .description = "when the input queue is full: reject = emit returns busy to the "
                    "producer, which keeps the batch (source_http answers 503); block = the "
                    "producer waits for room; drop = the batch is dropped and counted"},
    {.name = "log_level",
     .type = SD_CFG_ENUM,
     .enum_values = LEVELS,
     .description = "log threshold for this stage; unset = the daemon's log_level"},
    {.name = NULL}};

const sd_config_key cfg_daemon_keys[] = {
    {.name = "plugin_dir",
     .type = SD_CFG_STRING,
     .description = "directory holding the plugins (NAME.so); unset = the build tree's "
                    "plugins beside the executable, else the installed plugin directory"},
    {.name = "log_level",
     .type = SD_CFG_ENUM,
     .default_value = "info",
     .enum_values = LEVELS,
     .description = "daemon log threshold: error, warn, info or debug"},
    {.name = "admin_listen",
     .type = SD_CFG_STRING,
     .default_value = "127.0.0.1:9180",
     .description = "HOST:PORT of the admin HTTP server (/metrics, /healthz, /stages); port "
                    "0 = a free one; off disables it"},
    {.name = "grace",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "10s",
     .min = 0,
     .max = 600e9,
     .description = "on SIGTERM (and before a SIGHUP reload re-executes), how long stages "
                    "may drain queued records before what is left is dropped and counted"},
    {.name = NULL}};

int cfg_is_listen_key(const sd_config_key *key) {
  static const char suffix[] = "_listen";
  if (!key || !key->name || key->type != SD_CFG_STRING) return 0;
  size_t n = strlen(key->name), k = sizeof suffix - 1;
  return strcmp(key->name, "listen") == 0 || (n > k && strcmp(key->name + n - k, suffix) == 0);
}

/* ---- Values ------------------------------------------------------------------------ */

typedef struct cfg_value {
  const sd_config_key *def;
  char *text; /* as written, or the default; NULL when unset without default */
  int line;   /* 0 when unset */
  int set;
  int ok;    /* text parsed and fits the bounds */
  int64_t i; /* INT, SIZE (bytes), DURATION (ns), BOOL, ENUM (index) */
  double d;
  char **items; /* LIST */
  size_t item_count;
} cfg_value;

typedef struct cfg_passthrough {
  const sd_config_key *def;
  char *key; /* full key, prefix included */
  char *value;
  int line;
} cfg_passthrough;

struct cfg_values {
  char *path;
  char *section;
  int section_line;
  cfg_value *vals;
  size_t count;
  cfg_passthrough *pass;
  size_t pass_count;
  size_t pass_cap;
  char **prefixes; /* names of the PREFIX keys of the tables */
  size_t prefix_count;
};

/* What precedes `key "k": ...` in every message about this section. */
static char *context_label(const char *section, const char *plugin) {
  if (!plugin && strcmp(section, "sensord") == 0) return xstrdup("[sensord]");
  if (!plugin) return xasprintf("stage \"%s\"", section);
  return xasprintf("stage \"%s\" (%s)", section, plugin);
}

/* The value as shown in messages: newlines of multi-line values become \n. */
static char *shown(const char *text) {
  size_t n = 0;
  for (const char *p = text; *p; p++) n += (*p == '\n' || *p == '"' || *p == '\\') ? 2 : 1;
  char *out = xmalloc(n + 1), *o = out;
  for (const char *p = text; *p; p++) {
    if (*p == '\n') {
      *o++ = '\\';
      *o++ = 'n';
    } else if (*p == '"' || *p == '\\') {
      *o++ = '\\';
      *o++ = *p;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  return out;
}

static void format_bound(uint32_t type, double bound, char *buf, size_t size) {
  if (type == SD_CFG_SIZE) {
    cfg_format_size((int64_t)bound, buf, size);
  } else if (type == SD_CFG_DURATION) {
    cfg_format_duration((int64_t)bound, buf, size);
  } else if (type == SD_CFG_INT && bound >= -9.2e18 && bound <= 9.2e18 &&
             bound == (double)(int64_t)bound) {
    snprintf(buf, size, "%lld", (long long)bound);
  } else {
    snprintf(buf, size, "%.15g", bound);
  }
}

/* Splits a LIST value: items trimmed, an empty item is an error, an empty value is none. */
static int parse_list(const char *text, char ***items, size_t *count) {
  *items = NULL;
  *count = 0;
  const char *p = text;
  while (*p && isspace((unsigned char)*p)) p++;
  if (*p == '\0') return 0;
  size_t cap = 0;
  for (const char *start = text;;) {
    const char *comma = strchr(start, ',');
    size_t n = comma ? (size_t)(comma - start) : strlen(start);
    const char *s = start;
    while (n > 0 && isspace((unsigned char)*s)) s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    if (n == 0) {
      for (size_t i = 0; i < *count; i++) free((*items)[i]);
      free(*items);
      *items = NULL;
      *count = 0;
      return -1;
    }
    util_grow((void **)items, &cap, *count + 1, sizeof(char *));
    char *item = xmalloc(n + 1);
    memcpy(item, s, n);
    item[n] = '\0';
    (*items)[(*count)++] = item;
    if (!comma) break;
    start = comma + 1;
  }
  return 0;
}

/* Parses text as def's type into v. On failure returns a fresh message (without the
 * `key "k":` part); NULL on success. Bounds are checked too. */
static char *parse_value(const sd_config_key *def, const char *text, cfg_value *v,
                         int with_text) {
  const char *why = NULL;
  int rc = 0;
  double num = 0;
  int bounded = 0;
  switch (def->type) {
  case SD_CFG_STRING:
  case SD_CFG_PREFIX:
    break;
  case SD_CFG_INT:
    rc = cfg_parse_int(text, &v->i, &why);
    num = (double)v->i;
    bounded = 1;
    break;
  case SD_CFG_BOOL: {
    int b = 0;
    rc = cfg_parse_bool(text, &b, &why);
    v->i = b;
    break;
  }
  case SD_CFG_DOUBLE:
    rc = cfg_parse_double(text, &v->d, &why);
    num = v->d;
    bounded = 1;
    break;
  case SD_CFG_SIZE:
    rc = cfg_parse_size(text, &v->i, &why);
    num = (double)v->i;
    bounded = 1;
    break;
  case SD_CFG_DURATION:
    rc = cfg_parse_duration(text, &v->i, &why);
    num = (double)v->i;
    bounded = 1;
    break;
  case SD_CFG_ENUM: {
    int index = 0;
    if (cfg_parse_enum(text, def->enum_values, &index, &why) != 0) {
      char *list = xstrdup(def->enum_values ? def->enum_values : "");
      size_t bars = 0;
      for (char *p = list; *p; p++) bars += *p == '|';
      char *pretty = xmalloc(strlen(list) + bars + 1), *o = pretty;
      for (char *p = list; *p; p++) {
        if (*p == '|') {
          *o++ = ',';
          *o++ = ' ';
        } else {
          *o++ = *p;
        }
      }
      *o = '\0';
      char *s = shown(text);
      char *msg = xasprintf("\"%s\" is not one of %s", s, pretty);
      free(s);
      free(pretty);
      free(list);
      return msg;
    }
    v->i = index;
    break;
  }
  case SD_CFG_LIST:
    if (parse_list(text, &v->items, &v->item_count) != 0) {
      char *s = shown(text);
      char *msg = with_text ? xasprintf("expected a comma-separated list without empty items, "
                                        "got \"%s\"",
                                        s)
                            : xstrdup("expected a comma-separated list without empty items");
      free(s);
      return msg;
    }
    break;
  default:
    return xasprintf("the plugin declares an unknown type %u for this key", def->type);
  }
  if (rc != 0) {
    if (def->flags & SD_CFG_SECRET)
      return xasprintf("%s (the value is secret and not shown)", why);
    char *s = shown(text);
    /* A bare number is the common duration mistake: say what is missing. */
    const char *hint = "";
    if (def->type == SD_CFG_DURATION && text[0] && strspn(text, "0123456789") == strlen(text))
      hint = " (a unit is required: ns, us, ms, s, m or h)";
    char *msg =
        with_text ? xasprintf("%s, got \"%s\"%s", why, s, hint) : xasprintf("%s%s", why, hint);
    free(s);
    return msg;
  }
  if (bounded) {
    char bound[64];
    const char *what = def->flags & SD_CFG_SECRET ? "the value" : text;
    if ((def->flags & SD_CFG_HAS_MIN) && num < def->min) {
      format_bound(def->type, def->min, bound, sizeof(bound));
      return xasprintf("%s is below the minimum %s", what, bound);
    }
    if ((def->flags & SD_CFG_HAS_MAX) && num > def->max) {
      format_bound(def->type, def->max, bound, sizeof(bound));
      return xasprintf("%s is above the maximum %s", what, bound);
    }
  }
  v->ok = 1;
  return NULL;
}

/* ---- Unknown keys ------------------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 64 || m > 64) return (size_t)-1;
  size_t row[65];
  for (size_t j = 0; j <= m; j++) row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t up = row[j];
      size_t cost =
          tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
      size_t best = diag + cost;
      if (row[j] + 1 < best) best = row[j] + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "did you mean" (edit distance at most 3, and less than the key's length, or one name a
 * prefix of the other), else the sorted list of every known key. */
static char *unknown_key_message(const char *key, const sd_config_key *const *tables) {
  char **names = NULL;
  size_t count = 0, cap = 0;
  for (size_t t = 0; tables[t]; t++)
    for (const sd_config_key *k = tables[t]; k->name; k++) {
      util_grow((void **)&names, &cap, count + 1, sizeof(char *));
      names[count++] = k->type == SD_CFG_PREFIX ? xasprintf("%s*", k->name) : xstrdup(k->name);
    }
  if (count > 1) qsort(names, count, sizeof(char *), cmp_str);

  const char *best = NULL;
  size_t best_d = (size_t)-1, key_len = strlen(key);
  for (size_t i = 0; i < count; i++) {
    if (names[i][strlen(names[i]) - 1] == '*') continue;
    size_t d = edit_distance(key, names[i]);
    if (d <= 3 && d < key_len && d < best_d) best = names[i], best_d = d;
  }
  for (size_t i = 0; !best && i < count; i++) {
    size_t n = strlen(names[i]);
    if (names[i][n - 1] == '*') n--; /* "kafka" -> "kafka.*" */
    size_t shorter = n < key_len ? n : key_len;
    if (shorter >= 3 && strncasecmp(key, names[i], shorter) == 0) best = names[i];
  }

  char *msg;
  if (best) {
    msg = xasprintf("unknown key; did you mean \"%s\"?", best);
  } else {
    size_t len = 32;
    for (size_t i = 0; i < count; i++) len += strlen(names[i]) + 2;
    msg = xmalloc(len);
    strcpy(msg, "unknown key; known keys: ");
    for (size_t i = 0; i < count; i++) {
      if (i) strcat(msg, ", ");
      strcat(msg, names[i]);
    }
  }
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  return msg;
}

/* ---- Building ---------------------------------------------------------------------- */

static cfg_value *find_value(const cfg_values *v, const char *key) {
  for (size_t i = 0; i < v->count; i++)
    if (strcmp(v->vals[i].def->name, key) == 0) return &v->vals[i];
  return NULL;
}

static const sd_config_key *find_prefix(const sd_config_key *const *tables, const char *key) {
  const sd_config_key *best = NULL;
  size_t best_len = 0;
  for (size_t t = 0; tables[t]; t++)
    for (const sd_config_key *k = tables[t]; k->name; k++) {
      if (k->type != SD_CFG_PREFIX) continue;
      size_t n = strlen(k->name);
      if (n > best_len && strncmp(key, k->name, n) == 0) best = k, best_len = n;
    }
  return best;
}

cfg_values *cfg_values_build(const cfg_file *file, const cfg_section *section,
                             const char *plugin, const sd_config_key *const *tables,
                             sd_errors *errs) {
  static const sd_config_key *const no_tables[] = {NULL};
  if (!tables) tables = no_tables;
  cfg_values *v = xcalloc(1, sizeof(cfg_values));
  v->path = xstrdup(file && file->path ? file->path : "(config)");
  v->section = xstrdup(section ? section->name : "");
  v->section_line = section ? section->line : 0;

  size_t total = 0;
  for (size_t t = 0; tables[t]; t++)
    for (const sd_config_key *k = tables[t]; k->name; k++) total++;
  v->vals = xcalloc(total ? total : 1, sizeof(cfg_value));
  for (size_t t = 0; tables[t]; t++)
    for (const sd_config_key *k = tables[t]; k->name; k++) {
      if (k->type == SD_CFG_PREFIX) {
        v->prefixes = xrealloc(v->prefixes, (v->prefix_count + 1) * sizeof(char *));
        v->prefixes[v->prefix_count++] = xstrdup(k->name);
        continue;
      }
      if (find_value(v, k->name)) continue; /* first table wins */
      v->vals[v->count++].def = k;
    }

  char *label = context_label(v->section, plugin);
  for (size_t i = 0; section && i < section->entry_count; i++) {
    const cfg_entry *e = &section->entries[i];
    cfg_value *slot = find_value(v, e->key);
    if (slot) {
      if (slot->set) continue; /* cfg_file_load already reported the duplicate */
      slot->set = 1;
      slot->line = e->line;
      slot->text = xstrdup(e->value);
      char *why = parse_value(slot->def, slot->text, slot, 1);
      if (!why && (slot->def->flags & SD_CFG_REQUIRED) && slot->text[0] == '\0')
        why = xstrdup("required key is empty");
      if (why) {
        sd_errors_add(errs, "%s:%d: %s: key \"%s\": %s", v->path, e->line, label, e->key, why);
        free(why);
      }
      continue;
    }
    const sd_config_key *prefix = find_prefix(tables, e->key);
    if (prefix && strlen(e->key) > strlen(prefix->name)) {
      if (strchr(e->value, '\n') && !(prefix->flags & SD_CFG_MULTI))
        sd_errors_add(errs,
                      "%s:%d: %s: key \"%s\": the value continues on the next line, but keys "
                      "under \"%s\" take a single line",
                      v->path, e->line, label, e->key, prefix->name);
      util_grow((void **)&v->pass, &v->pass_cap, v->pass_count + 1, sizeof(cfg_passthrough));
      v->pass[v->pass_count++] =
          (cfg_passthrough){prefix, xstrdup(e->key), xstrdup(e->value), e->line};
      continue;
    }
    char *msg = prefix ? xasprintf("expected a name after the prefix \"%s\"", prefix->name)
                       : unknown_key_message(e->key, tables);
    sd_errors_add(errs, "%s:%d: %s: key \"%s\": %s", v->path, e->line, label, e->key, msg);
    free(msg);
  }

  for (size_t i = 0; i < v->count; i++) {
    cfg_value *slot = &v->vals[i];
    if (slot->set) continue;
    if (slot->def->flags & SD_CFG_REQUIRED) {
      sd_errors_add(errs, "%s:%d: %s: key \"%s\": required key is missing", v->path,
                    v->section_line, label, slot->def->name);
    } else if (slot->def->default_value) {
      slot->text = xstrdup(slot->def->default_value);
      char *why = parse_value(slot->def, slot->text, slot, 1); /* check_defaults reports */
      free(why);
    }
  }
  free(label);
  return v;
}

void cfg_values_free(cfg_values *v) {
  if (!v) return;
  for (size_t i = 0; i < v->count; i++) {
    free(v->vals[i].text);
    for (size_t j = 0; j < v->vals[i].item_count; j++) free(v->vals[i].items[j]);
    free(v->vals[i].items);
  }
  for (size_t i = 0; i < v->pass_count; i++) {
    free(v->pass[i].key);
    free(v->pass[i].value);
  }
  free(v->pass);
  for (size_t i = 0; i < v->prefix_count; i++) free(v->prefixes[i]);
  free(v->prefixes);
  free(v->vals);
  free(v->path);
  free(v->section);
  free(v);
}

/* ---- Getters ----------------------------------------------------------------------- */

static const cfg_passthrough *find_pass(const cfg_values *v, const char *key) {
  for (size_t i = 0; i < v->pass_count; i++)
    if (strcmp(v->pass[i].key, key) == 0) return &v->pass[i];
  return NULL;
}

/* The slot for key when it has one of the wanted types; a miss is a plugin bug, logged. */
static const cfg_value *typed(const cfg_values *v, const char *key, unsigned types) {
  if (!v || !key) return NULL;
  const cfg_value *slot = find_value(v, key);
  if (!slot) {
    LOG_ERROR("config: [%s] has no key \"%s\" in its key tables (a plugin or core bug)",
              v->section, key);
    return NULL;
  }
  if (!(types & (1u << slot->def->type))) {
    LOG_ERROR("config: [%s] key \"%s\" is a %s key, read as another type (a plugin or core "
              "bug)",
              v->section, key, cfg_type_name(slot->def->type));
    return NULL;
  }
  return slot->ok ? slot : NULL;
}

#define T(x) (1u << (x))

const char *cfg_get_string(const cfg_values *v, const char *key) {
  if (!v || !key) return NULL;
  const cfg_value *slot = find_value(v, key);
  if (slot) return slot->text;
  const cfg_passthrough *p = find_pass(v, key);
  if (p) return p->value;
  for (size_t i = 0; i < v->prefix_count; i++)
    if (strncmp(key, v->prefixes[i], strlen(v->prefixes[i])) == 0) return NULL; /* unset */
  typed(v, key, 0); /* logs the unknown key */
  return NULL;
}

int64_t cfg_get_int(const cfg_values *v, const char *key) {
  const cfg_value *s = typed(v, key, T(SD_CFG_INT));
  return s ? s->i : 0;
}

int cfg_get_bool(const cfg_values *v, const char *key) {
  const cfg_value *s = typed(v, key, T(SD_CFG_BOOL));
  return s ? (int)s->i : 0;
}

double cfg_get_double(const cfg_values *v, const char *key) {
  const cfg_value *s = typed(v, key, T(SD_CFG_DOUBLE) | T(SD_CFG_INT));
  if (!s) return 0;
  return s->def->type == SD_CFG_INT ? (double)s->i : s->d;
}

int64_t cfg_get_size(const cfg_values *v, const char *key) {
  const cfg_value *s = typed(v, key, T(SD_CFG_SIZE));
  return s ? s->i : 0;
}

int64_t cfg_get_duration(const cfg_values *v, const char *key) {
  const cfg_value *s = typed(v, key, T(SD_CFG_DURATION));
  return s ? s->i : 0;
}

int cfg_get_enum(const cfg_values *v, const char *key) {
  const cfg_value *s = typed(v, key, T(SD_CFG_ENUM));
  return s ? (int)s->i : -1;
}

size_t cfg_get_list_count(const cfg_values *v, const char *key) {
  const cfg_value *s = typed(v, key, T(SD_CFG_LIST));
  return s ? s->item_count : 0;
}

const char *cfg_get_list_item(const cfg_values *v, const char *key, size_t index) {
  const cfg_value *s = typed(v, key, T(SD_CFG_LIST));
  return s && index < s->item_count ? s->items[index] : NULL;
}

void cfg_each(const cfg_values *v, const char *prefix, sd_config_each_fn fn, void *ctx) {
  if (!v || !prefix || !fn) return;
  size_t n = strlen(prefix);
  for (size_t i = 0; i < v->pass_count; i++)
    if (strncmp(v->pass[i].key, prefix, n) == 0) fn(ctx, v->pass[i].key + n, v->pass[i].value);
}

int cfg_is_set(const cfg_values *v, const char *key) {
  if (!v || !key) return 0;
  const cfg_value *slot = find_value(v, key);
  return slot ? slot->set : find_pass(v, key) != NULL;
}

int cfg_line(const cfg_values *v, const char *key) {
  if (!v) return 0;
  const cfg_value *slot = key ? find_value(v, key) : NULL;
  if (slot && slot->set) return slot->line;
  const cfg_passthrough *p = key ? find_pass(v, key) : NULL;
  return p ? p->line : v->section_line;
}

const char *cfg_path(const cfg_values *v) {
  return v ? v->path : NULL;
}

/* ---- Table self-check -------------------------------------------------------------- */

static int reserved_name(const char *name) {
  for (const sd_config_key *k = cfg_core_stage_keys; k->name; k++)
    if (strcmp(k->name, name) == 0) return 1;
  return 0;
}

int cfg_check_defaults(const char *plugin, const sd_config_key *table, sd_errors *errs) {
  int count = 0;
  if (!table) return 0;
  int core_table = table == cfg_core_stage_keys || table == cfg_daemon_keys;
#define BAD(...)                                                                               \
  do {                                                                                         \
    char *m_ = xasprintf(__VA_ARGS__);                                                         \
    sd_errors_add(errs, "plugin \"%s\": key \"%s\": %s", plugin, k->name, m_);                 \
    free(m_);                                                                                  \
    count++;                                                                                   \
  } while (0)
  for (const sd_config_key *k = table; k->name; k++) {
    if (k->name[0] == '\0') {
      BAD("the key name is empty");
      continue;
    }
    for (const sd_config_key *p = table; p < k; p++)
      if (strcmp(p->name, k->name) == 0) BAD("declared twice in the key table");
    if (!core_table && reserved_name(k->name)) BAD("the name is reserved for the core");
    if (k->type > SD_CFG_PREFIX) {
      BAD("unknown type %u", k->type);
      continue;
    }
    if (k->type == SD_CFG_PREFIX && k->name[strlen(k->name) - 1] != '.')
      BAD("a prefix key must end with '.'");
    if (k->type == SD_CFG_ENUM && (!k->enum_values || !k->enum_values[0]))
      BAD("an enum key needs enum_values such as \"a|b|c\"");
    int numeric = k->type == SD_CFG_INT || k->type == SD_CFG_DOUBLE || k->type == SD_CFG_SIZE ||
                  k->type == SD_CFG_DURATION;
    if ((k->flags & (SD_CFG_HAS_MIN | SD_CFG_HAS_MAX)) && !numeric)
      BAD("bounds apply only to int, double, size and duration keys, not %s",
          cfg_type_name(k->type));
    if ((k->flags & SD_CFG_HAS_MIN) && (k->flags & SD_CFG_HAS_MAX) && k->min > k->max)
      BAD("the minimum is above the maximum");
    if ((k->flags & SD_CFG_REQUIRED) && k->default_value)
      BAD("a required key cannot have a default");
    if (!k->default_value ||
        (k->type == SD_CFG_ENUM && (!k->enum_values || !k->enum_values[0])))
      continue;
    if (k->type == SD_CFG_PREFIX) {
      BAD("a prefix key cannot have a default");
      continue;
    }
    cfg_value tmp = {.def = k};
    char *why = parse_value(k, k->default_value, &tmp, 0);
    for (size_t j = 0; j < tmp.item_count; j++) free(tmp.items[j]);
    free(tmp.items);
    if (why) {
      /* parse_value phrases failures as "expected ..., got" or "X is below ..." */
      if (strstr(why, " is below the minimum ") || strstr(why, " is above the maximum "))
        BAD("default %s", why);
      else
        BAD("default \"%s\" does not parse: %s", k->default_value, why);
      free(why);
    }
  }
#undef BAD
  return count;
}
