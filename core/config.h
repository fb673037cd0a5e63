/* Pipeline configuration: INI parsing with line numbers, typed validation of every key
 * against the plugins' config tables, and the typed values the host API getters return.
 * Owner of every config error message (file:line: stage "x" (plugin): key "k": ...). */
#ifndef SD_CORE_CONFIG_H
#define SD_CORE_CONFIG_H

#include "errors.h"
#include <sensord/plugin.h>
#include <stddef.h>
#include <stdint.h>

/* One `key = value` as written (continuation lines already joined with '\n'). */
typedef struct cfg_entry {
  char *key;
  char *value;
  int line;
} cfg_entry;

typedef struct cfg_section {
  char *name;
  int line; /* line of the [name] header */
  cfg_entry *entries;
  size_t entry_count;
} cfg_section;

typedef struct cfg_file {
  char *path;
  cfg_section *sections; /* in file order */
  size_t section_count;
} cfg_file;

/* Parses path. Syntax errors (and duplicate sections/keys) go to errs as
 * "path:line: ..."; returns NULL only when the file cannot be read at all. */
cfg_file *cfg_file_load(const char *path, sd_errors *errs);
void cfg_file_free(cfg_file *file);
const cfg_section *cfg_file_section(const cfg_file *file, const char *name);
const cfg_entry *cfg_section_entry(const cfg_section *section, const char *key);

/* Keys the core owns in every stage section, as a config table (terminated by name NULL). */
extern const sd_config_key cfg_core_stage_keys[];
/* Keys of the [sensord] section. */
extern const sd_config_key cfg_daemon_keys[];

/* Whether a key holds a listen address the core checks for collisions (sensord -t): a
 * STRING key named "listen" or ending in "_listen" ("admin_listen", "api_listen"). The one
 * place this convention lives; docs/ABI.md ("Conventions") states it for plugin authors. */
int cfg_is_listen_key(const sd_config_key *key);

/* Typed values of one section, checked against one or two key tables. */
typedef struct cfg_values cfg_values;

/* Validates every entry of section against tables (NULL-terminated array of key tables,
 * e.g. {cfg_core_stage_keys, plugin_keys, NULL}): unknown keys (with "did you mean"),
 * missing required keys, malformed or out-of-range values, bad enum values. Every error is
 * added to errs with file:line and `stage "name" (plugin)`; plugin may be NULL for
 * [sensord]. Returns the values even when there were errors (never NULL). */
cfg_values *cfg_values_build(const cfg_file *file, const cfg_section *section,
                             const char *plugin, const sd_config_key *const *tables,
                             sd_errors *errs);
void cfg_values_free(cfg_values *values);

/* Checks that every default in a plugin's table parses as its type and fits its bounds.
 * Each failure is added to errs naming the plugin and key. Returns the number of errors. */
int cfg_check_defaults(const char *plugin, const sd_config_key *table, sd_errors *errs);

/* Getters (the host API calls these). An unset key returns its default; a key with no
 * default returns NULL / 0. Unknown key names are a programming error: logged, 0/NULL. */
const char *cfg_get_string(const cfg_values *v, const char *key);
int64_t cfg_get_int(const cfg_values *v, const char *key);
int cfg_get_bool(const cfg_values *v, const char *key);
double cfg_get_double(const cfg_values *v, const char *key);
int64_t cfg_get_size(const cfg_values *v, const char *key);
int64_t cfg_get_duration(const cfg_values *v, const char *key);
int cfg_get_enum(const cfg_values *v, const char *key);
size_t cfg_get_list_count(const cfg_values *v, const char *key);
const char *cfg_get_list_item(const cfg_values *v, const char *key, size_t index);
void cfg_each(const cfg_values *v, const char *prefix, sd_config_each_fn fn, void *ctx);
int cfg_is_set(const cfg_values *v, const char *key);
/* Line of a key in the file (or of the section header when the key is unset). */
int cfg_line(const cfg_values *v, const char *key);
const char *cfg_path(const cfg_values *v);

/* Value parsers shared with the CLI and tests; return 0 on success, else -1 with *why set
 * to a static message such as "expected a size like 512, 64K, 16M or 1G". */
int cfg_parse_int(const char *text, int64_t *out, const char **why);
int cfg_parse_bool(const char *text, int *out, const char **why);
int cfg_parse_double(const char *text, double *out, const char **why);
int cfg_parse_size(const char *text, int64_t *out, const char **why);
int cfg_parse_duration(const char *text, int64_t *out_ns, const char **why);
int cfg_parse_enum(const char *text, const char *choices, int *out_index, const char **why);

/* Human-readable name of a config type ("size", "duration", ...). */
const char *cfg_type_name(uint32_t type);

/* ---- Conventions of the implementation (config.c, config_ini.c, config_parse.c) -------
 * - Messages: `PATH:LINE: stage "NAME" (PLUGIN): key "K": ...`, `PATH:LINE: [sensord]: key
 *   "K": ...`, `stage "NAME":` when no plugin is known; syntax errors `PATH:LINE: syntax
 *   error: ...`. Bounds errors show the value as written and the bound in the largest unit
 *   that divides it exactly: `1K is below the minimum 4K`, `11m is above the maximum 10m`.
 * - Sizes are integers with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (any
 *   case, all powers of 1024). Durations: integer + ns|us|ms|s|m|h; "0" needs no unit.
 *   Booleans: true/false/yes/no/on/off/1/0 in any case. Enums match exactly.
 * - A quoted value ("...") ends at the next '"'; inline comments need a space before ';'.
 * - Continuation lines are fine for string and list keys; a PREFIX key needs SD_CFG_MULTI.
 * - Getters on a value that failed validation, or unset without a default, return
 *   NULL / 0, and cfg_get_enum returns -1 (so an unset stage log_level reads -1, "the
 *   daemon's", like log_origin.level). */

/* ---- Added helpers ------------------------------------------------------------------
 * Parses INI text already in memory (len bytes, NUL bytes allowed and reported); path
 * only names the source in messages. Never returns NULL. cfg_file_load reads the file
 * and calls this. */
cfg_file *cfg_file_parse(const char *path, const char *text, size_t len, sd_errors *errs);
/* Formats bytes / nanoseconds in the largest unit that divides exactly: 67108864 -> "64M",
 * 4097 -> "4097", 600000000000 -> "10m", 1500000 -> "1500us", 0 -> "0". */
void cfg_format_size(int64_t bytes, char *buf, size_t size);
void cfg_format_duration(int64_t ns, char *buf, size_t size);

#endif
