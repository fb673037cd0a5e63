/* Strict parsers for typed config values (int, bool, double, size, duration, enum) and the
 * unit formatting used in messages. No atoi: every parser checks the whole text, the range
 * and the unit, and says in `why` what it expected. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char why_int[] = "expected an integer";
static const char why_int_range[] =
    "expected an integer between -9223372036854775808 and 9223372036854775807";
static const char why_bool[] = "expected true or false (also yes/no, on/off, 1/0)";
static const char why_double[] = "expected a number";
static const char why_double_finite[] = "expected a finite number";
static const char why_size[] = "expected a size like 512, 64K, 16M or 1G";
static const char why_size_negative[] = "expected a non-negative size like 512, 64K, 16M or 1G";
static const char why_size_range[] = "expected a size of at most 9223372036854775807 bytes";
static const char why_duration[] = "expected a duration like 250ms, 5s or 2m";
static const char why_duration_negative[] =
    "expected a non-negative duration like 250ms, 5s or 2m";
static const char why_duration_range[] = "expected a duration of at most 2562047h";
static const char why_enum[] = "expected one of the listed values";

static int fail(const char **why, const char *msg) {
  if (why) *why = msg;
  return -1;
}

int cfg_parse_int(const char *text, int64_t *out, const char **why) {
  /* strtoll would skip leading blanks; a quoted " 5" is not an integer. */
  if (!text || !(isdigit((unsigned char)text[0]) || text[0] == '-' || text[0] == '+'))
    return fail(why, why_int);
  errno = 0;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end != '\0') return fail(why, why_int);
  if (errno == ERANGE) return fail(why, why_int_range);
  *out = (int64_t)v;
  return 0;
}

int cfg_parse_bool(const char *text, int *out, const char **why) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  if (text)
    for (size_t i = 0; i < 4; i++) {
      if (strcasecmp(text, yes[i]) == 0) return *out = 1, 0;
      if (strcasecmp(text, no[i]) == 0) return *out = 0, 0;
    }
  return fail(why, why_bool);
}

int cfg_parse_double(const char *text, double *out, const char **why) {
  /* Decimal only: strtod's hex floats, "inf" and "nan" are not config numbers. */
  if (!text || !(isdigit((unsigned char)text[0]) || strchr("+-.", text[0]) != NULL) ||
      strpbrk(text, "xXnN") != NULL)
    return fail(why, why_double);
  errno = 0;
  char *end = NULL;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || text[0] == '\0') return fail(why, why_double);
  if (!isfinite(v)) return fail(why, why_double_finite);
  *out = v;
  return 0;
}

/* Leading decimal digits of text into *out (no sign); returns the count of digits or -1 on
 * overflow past INT64_MAX. */
static int parse_digits(const char *text, uint64_t *out) {
  uint64_t v = 0;
  int n = 0;
  for (; isdigit((unsigned char)text[n]); n++) {
    unsigned d = (unsigned)(text[n] - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return n;
}

int cfg_parse_size(const char *text, int64_t *out, const char **why) {
  static const struct {
    const char *unit;
    int64_t mult;
  } units[] = {{"", 1},
               {"b", 1},
               {"k", INT64_C(1) << 10},
               {"kb", INT64_C(1) << 10},
               {"kib", INT64_C(1) << 10},
               {"m", INT64_C(1) << 20},
               {"mb", INT64_C(1) << 20},
               {"mib", INT64_C(1) << 20},
               {"g", INT64_C(1) << 30},
               {"gb", INT64_C(1) << 30},
               {"gib", INT64_C(1) << 30},
               {"t", INT64_C(1) << 40},
               {"tb", INT64_C(1) << 40},
               {"tib", INT64_C(1) << 40}};
  if (!text) return fail(why, why_size);
  if (text[0] == '-' && isdigit((unsigned char)text[1])) return fail(why, why_size_negative);
  uint64_t n;
  int digits = parse_digits(text, &n);
  if (digits < 0) return fail(why, why_size_range);
  if (digits == 0) return fail(why, why_size);
  const char *unit = text + digits;
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcasecmp(unit, units[i].unit) != 0) continue;
    if (n > (uint64_t)(INT64_MAX / units[i].mult)) return fail(why, why_size_range);
    *out = (int64_t)n * units[i].mult;
    return 0;
  }
  return fail(why, why_size);
}

int cfg_parse_duration(const char *text, int64_t *out_ns, const char **why) {
  static const struct {
    const char *unit;
    int64_t ns;
  } units[] = {{"ns", 1},
               {"us", INT64_C(1000)},
               {"ms", INT64_C(1000000)},
               {"s", INT64_C(1000000000)},
               {"m", INT64_C(60000000000)},
               {"h", INT64_C(3600000000000)}};
  if (!text) return fail(why, why_duration);
  if (text[0] == '-' && isdigit((unsigned char)text[1]))
    return fail(why, why_duration_negative);
  uint64_t n;
  int digits = parse_digits(text, &n);
  if (digits < 0) return fail(why, why_duration_range);
  if (digits == 0) return fail(why, why_duration);
  const char *unit = text + digits;
  /* "0" needs no unit; any other bare number is ambiguous (seconds? milliseconds?). */
  if (*unit == '\0') {
    if (n != 0) return fail(why, why_duration);
    *out_ns = 0;
    return 0;
  }
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(unit, units[i].unit) != 0) continue;
    if (n > (uint64_t)(INT64_MAX / units[i].ns)) return fail(why, why_duration_range);
    *out_ns = (int64_t)n * units[i].ns;
    return 0;
  }
  return fail(why, why_duration);
}

int cfg_parse_enum(const char *text, const char *choices, int *out_index, const char **why) {
  if (!text || !choices) return fail(why, why_enum);
  size_t len = strlen(text);
  int index = 0;
  for (const char *p = choices;; index++) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == len && strncmp(p, text, n) == 0) {
      *out_index = index;
      return 0;
    }
    if (!bar) break;
    p = bar + 1;
  }
  return fail(why, why_enum);
}

const char *cfg_type_name(uint32_t type) {
  static const char *const names[] = {"string",   "int",  "bool", "double", "size",
                                      "duration", "enum", "list", "prefix"};
  return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

void cfg_format_size(int64_t bytes, char *buf, size_t size) {
  static const struct {
    const char *unit;
    int shift;
  } units[] = {{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}};
  if (bytes != 0)
    for (size_t i = 0; i < 4; i++) {
      int64_t mult = INT64_C(1) << units[i].shift;
      if (bytes % mult == 0) {
        snprintf(buf, size, "%lld%s", (long long)(bytes / mult), units[i].unit);
        return;
      }
    }
  snprintf(buf, size, "%lld", (long long)bytes);
}

void cfg_format_duration(int64_t ns, char *buf, size_t size) {
  static const struct {
    const char *unit;
    int64_t ns;
  } units[] = {{"h", INT64_C(3600000000000)}, {"m", INT64_C(60000000000)},
               {"s", INT64_C(1000000000)},    {"ms", INT64_C(1000000)},
               {"us", INT64_C(1000)},         {"ns", 1}};
  if (ns == 0) {
    snprintf(buf, size, "0");
    return;
  }
  for (size_t i = 0; i < 6; i++)
    if (ns % units[i].ns == 0) {
      snprintf(buf, size, "%lld%s", (long long)(ns / units[i].ns), units[i].unit);
      return;
    }
}
