/* Unit tests of the pipeline config: INI reading (comments, quoting, continuation lines,
 * line numbers, duplicates, syntax errors), typed validation with its exact messages,
 * every value parser, the getters and the key-table self-check. */
#include "config.h"
#include "errors.h"
#include "log.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sd_config_key demo_keys[] = {
    {.name = "listen", .type = SD_CFG_STRING, .flags = SD_CFG_REQUIRED, .description = "addr"},
    {.name = "port",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "8000",
     .min = 1,
     .max = 65535},
    {.name = "verbose", .type = SD_CFG_BOOL, .default_value = "false"},
    {.name = "ratio",
     .type = SD_CFG_DOUBLE,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "0.5",
     .min = 0,
     .max = 1},
    {.name = "max_body_size",
     .type = SD_CFG_SIZE,
     .flags = SD_CFG_HAS_MAX,
     .default_value = "1M",
     .max = 1073741824.0},
    {.name = "timeout",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN,
     .default_value = "5s",
     .min = 1e6},
    {.name = "mode",
     .type = SD_CFG_ENUM,
     .default_value = "block",
     .enum_values = "block|reject|drop"},
    {.name = "topics", .type = SD_CFG_LIST},
    {.name = "note", .type = SD_CFG_STRING},
    {.name = "empty", .type = SD_CFG_STRING, .default_value = "x"},
    {.name = "semi", .type = SD_CFG_STRING},
    {.name = "secret_n", .type = SD_CFG_INT, .flags = SD_CFG_SECRET},
    {.name = "kafka.", .type = SD_CFG_PREFIX},
    {.name = "query.", .type = SD_CFG_PREFIX, .flags = SD_CFG_MULTI},
    {.name = NULL}};

static const sd_config_key *const stage_tables[] = {cfg_core_stage_keys, demo_keys, NULL};
static const sd_config_key *const daemon_tables[] = {cfg_daemon_keys, NULL};

static sd_errors *errs;

static void setup(void) {
  errs = sd_errors_new();
}
static void teardown(void) {
  sd_errors_free(errs);
}

static cfg_file *parse(const char *text) {
  return cfg_file_parse("p.ini", text, strlen(text), errs);
}

static char *fixture(const char *name) {
  const char *root = getenv("SENSORD_ROOT");
  char *path = NULL;
  if (asprintf(&path, "%s/tests/core_config/fixtures/%s", root ? root : ".", name) < 0) abort();
  return path;
}

/* Asserts errs holds exactly these messages, in order (NULL-terminated). */
static void expect_errors(const char *first, ...) {
  va_list ap;
  va_start(ap, first);
  size_t i = 0;
  for (const char *want = first; want; want = va_arg(ap, const char *), i++) {
    ck_assert_msg(i < sd_errors_count(errs), "missing error %zu: %s", i, want);
    ck_assert_str_eq(sd_errors_at(errs, i), want);
  }
  va_end(ap);
  if (sd_errors_count(errs) != i) {
    for (size_t j = 0; j < sd_errors_count(errs); j++)
      fprintf(stderr, "  got: %s\n", sd_errors_at(errs, j));
  }
  ck_assert_uint_eq(sd_errors_count(errs), i);
}

static void expect_no_errors(void) {
  for (size_t j = 0; j < sd_errors_count(errs); j++)
    fprintf(stderr, "  unexpected: %s\n", sd_errors_at(errs, j));
  ck_assert_uint_eq(sd_errors_count(errs), 0);
}

/* Builds values of a one-stage file with the demo plugin; errors land in errs. */
static cfg_values *stage_values(cfg_file **file, const char *text) {
  *file = parse(text);
  const cfg_section *sec = cfg_file_section(*file, "s");
  ck_assert_ptr_nonnull(sec);
  return cfg_values_build(*file, sec, "demo", stage_tables, errs);
}

/* ---- INI reading -------------------------------------------------------------------- */

START_TEST(ini_sections_keys_lines) {
  cfg_file *f = parse("; comment\n# another\n\n[a]\nk = v\n  \n[b]\nx=1\ny :2\n");
  expect_no_errors();
  ck_assert_str_eq(f->path, "p.ini");
  ck_assert_uint_eq(f->section_count, 2);
  ck_assert_str_eq(f->sections[0].name, "a");
  ck_assert_int_eq(f->sections[0].line, 4);
  ck_assert_uint_eq(f->sections[0].entry_count, 1);
  ck_assert_str_eq(f->sections[0].entries[0].key, "k");
  ck_assert_str_eq(f->sections[0].entries[0].value, "v");
  ck_assert_int_eq(f->sections[0].entries[0].line, 5);
  const cfg_section *b = cfg_file_section(f, "b");
  ck_assert_int_eq(b->line, 7);
  ck_assert_str_eq(cfg_section_entry(b, "x")->value, "1");
  ck_assert_int_eq(cfg_section_entry(b, "y")->line, 9);
  ck_assert_str_eq(cfg_section_entry(b, "y")->value, "2");
  ck_assert_ptr_null(cfg_section_entry(b, "k"));
  ck_assert_ptr_null(cfg_file_section(f, "c"));
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_empty_section_is_kept) {
  cfg_file *f = parse("[a]\n[ spaced ]\n");
  expect_no_errors();
  ck_assert_uint_eq(f->section_count, 2);
  ck_assert_uint_eq(f->sections[0].entry_count, 0);
  ck_assert_str_eq(f->sections[1].name, "spaced");
  ck_assert_int_eq(f->sections[1].line, 2);
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_comments_and_empty_values) {
  cfg_file *f = parse("[a]\n"
                      "k = v ; trailing comment\n"
                      "semi = a;b\n"
                      "hash = a # not a comment\n"
                      "empty =\n"
                      "empty2 =   ; only a comment\n"
                      "  ; indented comment line\n");
  expect_no_errors();
  const cfg_section *a = cfg_file_section(f, "a");
  ck_assert_str_eq(cfg_section_entry(a, "k")->value, "v");
  ck_assert_str_eq(cfg_section_entry(a, "semi")->value, "a;b");
  ck_assert_str_eq(cfg_section_entry(a, "hash")->value, "a # not a comment");
  ck_assert_str_eq(cfg_section_entry(a, "empty")->value, "");
  ck_assert_str_eq(cfg_section_entry(a, "empty2")->value, "");
  ck_assert_uint_eq(a->entry_count, 5);
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_quoting) {
  cfg_file *f = parse("[a]\n"
                      "q1 = \"  keeps ; spaces  \"\n"
                      "q2 = \"x\" ; comment after the quote\n"
                      "q3 = \"\"\n"
                      "q4 = say \"hi\"\n"
                      "q5 = \"a=b\"\n");
  expect_no_errors();
  const cfg_section *a = cfg_file_section(f, "a");
  ck_assert_str_eq(cfg_section_entry(a, "q1")->value, "  keeps ; spaces  ");
  ck_assert_str_eq(cfg_section_entry(a, "q2")->value, "x");
  ck_assert_str_eq(cfg_section_entry(a, "q3")->value, "");
  ck_assert_str_eq(cfg_section_entry(a, "q4")->value, "say \"hi\"");
  ck_assert_str_eq(cfg_section_entry(a, "q5")->value, "a=b");
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_bad_quoting) {
  cfg_file *f = parse("[a]\nq1 = \"open\nq2 = \"x\" junk\nok = 1\n");
  expect_errors(
      "p.ini:2: syntax error: missing closing '\"' of a quoted value",
      "p.ini:3: syntax error: unexpected text after the closing '\"' of a quoted value", NULL);
  ck_assert_str_eq(cfg_section_entry(cfg_file_section(f, "a"), "ok")->value, "1");
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_continuation_lines) {
  cfg_file *f = parse("[a]\n"
                      "q = SELECT x\n"
                      "  FROM s   ; dropped comment\n"
                      "\n"
                      "\t WHERE y = 1\n"
                      "next = 2\n"
                      "  \"  quoted piece \"\n");
  expect_no_errors();
  const cfg_section *a = cfg_file_section(f, "a");
  ck_assert_uint_eq(a->entry_count, 2);
  ck_assert_str_eq(cfg_section_entry(a, "q")->value, "SELECT x\nFROM s\nWHERE y = 1");
  ck_assert_int_eq(cfg_section_entry(a, "q")->line, 2);
  ck_assert_str_eq(cfg_section_entry(a, "next")->value, "2\n  quoted piece ");
  ck_assert_int_eq(cfg_section_entry(a, "next")->line, 6);
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_indented_key_after_header_is_a_key) {
  cfg_file *f = parse("[a]\n  k = v\n  j = w\n");
  expect_no_errors();
  const cfg_section *a = cfg_file_section(f, "a");
  ck_assert_uint_eq(a->entry_count, 1); /* the second indented line continues k */
  ck_assert_str_eq(cfg_section_entry(a, "k")->value, "v\nj = w");
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_long_lines) {
  size_t n = 5000;
  char *text = malloc(3 * n + 200);
  char *big = malloc(n + 1);
  memset(big, 'x', n);
  big[n] = '\0';
  sprintf(text, "[a]\nk = %s ; c\n  %s\nq = \"  %s ; \"\nafter = 1\n", big, big, big);
  cfg_file *f = parse(text);
  expect_no_errors();
  const cfg_section *a = cfg_file_section(f, "a");
  const char *k = cfg_section_entry(a, "k")->value;
  ck_assert_uint_eq(strlen(k), 2 * n + 1);
  ck_assert_int_eq(k[n], '\n');
  ck_assert_int_eq(strncmp(k, big, n), 0);
  const char *q = cfg_section_entry(a, "q")->value;
  ck_assert_uint_eq(strlen(q), n + 5);
  ck_assert_int_eq(cfg_section_entry(a, "after")->line, 5);
  cfg_file_free(f);
  free(text);
  free(big);
}
END_TEST

START_TEST(ini_crlf_and_bom) {
  cfg_file *f = parse("\xEF\xBB\xBF[a]\r\nk = v\r\n  more\r\n");
  expect_no_errors();
  ck_assert_str_eq(f->sections[0].name, "a");
  ck_assert_str_eq(cfg_section_entry(&f->sections[0], "k")->value, "v\nmore");
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_duplicates) {
  cfg_file *f = parse("[sensord]\n"
                      "grace = 1s\n"
                      "grace = 2s\n"
                      "[in]\n"
                      "plugin = source_http\n"
                      "listen = a\n"
                      "listen = b\n"
                      "  continued\n"
                      "[bare]\n"
                      "x = 1\n"
                      "x = 2\n"
                      "[in]\n"
                      "plugin = other\n");
  expect_errors("p.ini:3: [sensord]: key \"grace\": duplicate key (first set at line 2)",
                "p.ini:7: stage \"in\" (source_http): key \"listen\": duplicate key (first set "
                "at line 6)",
                "p.ini:11: stage \"bare\": key \"x\": duplicate key (first set at line 10)",
                "p.ini:12: duplicate section [in] (first at line 4)", NULL);
  const cfg_section *in = cfg_file_section(f, "in");
  ck_assert_str_eq(cfg_section_entry(in, "listen")->value, "a"); /* first one wins */
  ck_assert_str_eq(cfg_section_entry(in, "plugin")->value, "source_http");
  ck_assert_uint_eq(f->section_count, 3);
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_syntax_errors_all_reported) {
  static const char text[] = "k = outside\n"
                             "[a\n"
                             "[]\n"
                             "[b] junk\n"
                             "no separator here\n"
                             "= value\n"
                             "good = 1\n"
                             "nul = a\0b\n"
                             "[c] ; fine\n";
  cfg_file *f = cfg_file_parse("p.ini", text, sizeof(text) - 1, errs);
  expect_errors(
      "p.ini:1: syntax error: key \"k\" is outside any [section]",
      "p.ini:2: syntax error: missing ']' after the section name",
      "p.ini:3: syntax error: empty section name []",
      "p.ini:4: syntax error: unexpected text after ']': \"junk\"",
      "p.ini:5: syntax error: expected \"key = value\", \"[section]\" or a comment, got "
      "\"no separator here\"",
      "p.ini:6: syntax error: missing key name before '='",
      "p.ini:8: syntax error: the line contains a NUL byte", NULL);
  const cfg_section *b = cfg_file_section(f, "b");
  ck_assert_ptr_nonnull(b);
  ck_assert_str_eq(cfg_section_entry(b, "good")->value, "1");
  ck_assert_ptr_nonnull(cfg_file_section(f, "c"));
  cfg_file_free(f);
}
END_TEST

START_TEST(ini_load_missing_file) {
  cfg_file *f = cfg_file_load("/nonexistent/dir/p.ini", errs);
  ck_assert_ptr_null(f);
  expect_errors(
      "/nonexistent/dir/p.ini: cannot open the config file: No such file or directory", NULL);
}
END_TEST

START_TEST(ini_load_fixture) {
  char *path = fixture("good.ini");
  cfg_file *f = cfg_file_load(path, errs);
  expect_no_errors();
  ck_assert_ptr_nonnull(f);
  ck_assert_str_eq(f->path, path);
  const cfg_section *in = cfg_file_section(f, "ingest");
  ck_assert_int_eq(in->line, 9);
  ck_assert_str_eq(cfg_section_entry(in, "query.accel")->value,
                   "SELECT x\nFROM s\nWHERE y = 1");
  ck_assert_str_eq(cfg_section_entry(in, "note")->value, "  keeps ; spaces  ");
  ck_assert_str_eq(cfg_section_entry(in, "empty")->value, "");
  ck_assert_int_eq(cfg_section_entry(in, "semi")->line, 27);
  cfg_file_free(f);
  free(path);
}
END_TEST

START_TEST(ini_load_directory) {
  cfg_file *f = cfg_file_load("/", errs);
  ck_assert_ptr_null(f);
  expect_errors("/: cannot read the config file: Is a directory", NULL);
}
END_TEST

START_TEST(errors_list) {
  ck_assert_uint_eq(sd_errors_count(NULL), 0);
  ck_assert_ptr_null(sd_errors_at(errs, 0));
  sd_errors_add(errs, "first %d", 1);
  sd_errors_add(errs, "second %s", "two");
  sd_errors_add(NULL, "ignored");
  ck_assert_uint_eq(sd_errors_count(errs), 2);
  ck_assert_ptr_null(sd_errors_at(errs, 2));
  FILE *out = tmpfile();
  sd_errors_print(errs, out);
  rewind(out);
  char buf[64] = "";
  ck_assert_uint_eq(fread(buf, 1, sizeof(buf) - 1, out), 19);
  ck_assert_str_eq(buf, "first 1\nsecond two\n");
  fclose(out);
}
END_TEST

/* ---- Validation --------------------------------------------------------------------- */

START_TEST(values_fixture_good) {
  char *path = fixture("good.ini");
  cfg_file *f = cfg_file_load(path, errs);
  cfg_values *d =
      cfg_values_build(f, cfg_file_section(f, "sensord"), NULL, daemon_tables, errs);
  cfg_values *v =
      cfg_values_build(f, cfg_file_section(f, "ingest"), "demo", stage_tables, errs);
  expect_no_errors();
  ck_assert_int_eq(cfg_get_enum(d, "log_level"), SD_LOG_DEBUG);
  ck_assert_str_eq(cfg_get_string(d, "admin_listen"), "off");
  ck_assert_int_eq(cfg_get_duration(d, "grace"), 250000000);
  ck_assert_ptr_null(cfg_get_string(d, "plugin_dir"));

  ck_assert_str_eq(cfg_get_string(v, "plugin"), "demo");
  ck_assert_int_eq(cfg_get_int(v, "port"), 8080);
  ck_assert_int_eq(cfg_get_bool(v, "verbose"), 1);
  ck_assert_double_eq(cfg_get_double(v, "ratio"), 0.25);
  ck_assert_int_eq(cfg_get_size(v, "max_body_size"), 512 * 1024);
  ck_assert_int_eq(cfg_get_duration(v, "timeout"), 1500000000);
  ck_assert_int_eq(cfg_get_enum(v, "mode"), 2);
  ck_assert_uint_eq(cfg_get_list_count(v, "topics"), 3);
  ck_assert_str_eq(cfg_get_list_item(v, "topics", 1), "b");
  ck_assert_str_eq(cfg_get_list_item(v, "topics", 2), "c");
  ck_assert_ptr_null(cfg_get_list_item(v, "topics", 3));
  ck_assert_str_eq(cfg_get_string(v, "note"), "  keeps ; spaces  ");
  ck_assert_str_eq(cfg_get_string(v, "empty"), "");
  ck_assert_str_eq(cfg_get_string(v, "kafka.acks"), "all");
  ck_assert_int_eq(cfg_line(v, "kafka.acks"), 20);
  /* core defaults */
  ck_assert_int_eq(cfg_get_int(v, "queue.max_records"), 10000);
  ck_assert_int_eq(cfg_get_size(v, "queue.max_bytes"), 64 * 1024 * 1024);
  ck_assert_int_eq(cfg_get_enum(v, "on_full"), 1);
  ck_assert_int_eq(cfg_get_enum(v, "log_level"), -1);
  ck_assert_uint_eq(cfg_get_list_count(v, "inputs"), 0);
  ck_assert_int_eq(cfg_is_set(v, "on_full"), 0);
  ck_assert_int_eq(cfg_line(v, "on_full"), 9);
  ck_assert_int_eq(cfg_line(v, "port"), 12);
  ck_assert_str_eq(cfg_path(v), path);
  cfg_values_free(v);
  cfg_values_free(d);
  cfg_file_free(f);
  free(path);
}
END_TEST

START_TEST(values_fixture_errors_all_reported) {
  char *p = fixture("errors.ini");
  cfg_file *f = cfg_file_load(p, errs);
  ck_assert_ptr_nonnull(f);
  cfg_values *d =
      cfg_values_build(f, cfg_file_section(f, "sensord"), NULL, daemon_tables, errs);
  cfg_values *in =
      cfg_values_build(f, cfg_file_section(f, "ingest"), "demo", stage_tables, errs);
  cfg_values *sink =
      cfg_values_build(f, cfg_file_section(f, "sink"), "demo", stage_tables, errs);
  char w[40][256];
  int n = 0;
#define W(...) snprintf(w[n++], sizeof(w[0]), __VA_ARGS__)
  /* cfg_file_load: in line order */
  W("%s:9: stage \"ingest\" (demo): key \"port\": duplicate key (first set at line 8)", p);
  W("%s:18: syntax error: expected \"key = value\", \"[section]\" or a comment, got \"this "
    "line "
    "has no separator\"",
    p);
  W("%s:20: duplicate section [ingest] (first at line 6)", p);
  /* [sensord] */
  W("%s:3: [sensord]: key \"log_lvl\": unknown key; did you mean \"log_level\"?", p);
  W("%s:4: [sensord]: key \"grace\": 11m is above the maximum 10m", p);
  /* [ingest] */
  W("%s:8: stage \"ingest\" (demo): key \"port\": expected an integer, got \"abc\"", p);
  W("%s:10: stage \"ingest\" (demo): key \"verbose\": expected true or false (also yes/no, "
    "on/off, 1/0), got \"maybe\"",
    p);
  W("%s:11: stage \"ingest\" (demo): key \"mode\": \"blok\" is not one of block, reject, drop",
    p);
  W("%s:12: stage \"ingest\" (demo): key \"max_body_size\": expected a size like 512, 64K, 16M "
    "or 1G, got \"12Q\"",
    p);
  W("%s:13: stage \"ingest\" (demo): key \"timeout\": expected a duration like 250ms, 5s or "
    "2m, "
    "got \"5\" (a unit is required: ns, us, ms, s, m or h)",
    p);
  W("%s:14: stage \"ingest\" (demo): key \"topics\": expected a comma-separated list without "
    "empty items, got \"a,,b\"",
    p);
  W("%s:15: stage \"ingest\" (demo): key \"lsten\": unknown key; did you mean \"listen\"?", p);
  W("%s:16: stage \"ingest\" (demo): key \"kafka.acks\": the value continues on the next line, "
    "but keys under \"kafka.\" take a single line",
    p);
  W("%s:6: stage \"ingest\" (demo): key \"listen\": required key is missing", p);
  /* [sink] */
  W("%s:25: stage \"sink\" (demo): key \"queue.max_records\": 0 is below the minimum 1", p);
  W("%s:26: stage \"sink\" (demo): key \"queue.max_bytes\": 1K is below the minimum 4K", p);
  W("%s:27: stage \"sink\" (demo): key \"on_full\": \"Block\" is not one of block, reject, "
    "drop",
    p);
  W("%s:23: stage \"sink\" (demo): key \"listen\": required key is missing", p);
#undef W
  for (int i = 0; i < n && i < (int)sd_errors_count(errs); i++)
    ck_assert_str_eq(sd_errors_at(errs, (size_t)i), w[i]);
  ck_assert_uint_eq(sd_errors_count(errs), (size_t)n);
  ck_assert_str_eq(cfg_get_list_item(sink, "inputs", 0), "ingest");
  cfg_values_free(sink);
  cfg_values_free(in);
  cfg_values_free(d);
  cfg_file_free(f);
  free(p);
}
END_TEST

START_TEST(values_unknown_key_lists_known_keys) {
  static const sd_config_key small[] = {{.name = "zeta", .type = SD_CFG_STRING},
                                        {.name = "alpha", .type = SD_CFG_INT},
                                        {.name = "kafka.", .type = SD_CFG_PREFIX},
                                        {.name = NULL}};
  const sd_config_key *const tables[] = {cfg_core_stage_keys, small, NULL};
  cfg_file *f = parse("[s]\nplugin = small\nxyzzy = 1\n");
  cfg_values *v = cfg_values_build(f, cfg_file_section(f, "s"), "small", tables, errs);
  expect_errors("p.ini:3: stage \"s\" (small): key \"xyzzy\": unknown key; known keys: alpha, "
                "inputs, kafka.*, log_level, on_full, plugin, queue.max_bytes, "
                "queue.max_records, zeta",
                NULL);
  cfg_values_free(v);
  cfg_file_free(f);

  f = parse("[sensord]\nqqq = 1\n");
  v = cfg_values_build(f, cfg_file_section(f, "sensord"), NULL, daemon_tables, errs);
  ck_assert_str_eq(sd_errors_at(errs, 1), "p.ini:2: [sensord]: key \"qqq\": unknown key; known "
                                          "keys: admin_listen, grace, log_level, plugin_dir");
  cfg_values_free(v);
  cfg_file_free(f);
}
END_TEST

START_TEST(values_suggestions) {
  cfg_file *f;
  cfg_values *v = stage_values(&f, "[s]\nplugin = demo\nlisten = x\n"
                                   "max_body = 1\n" /* prefix of max_body_size */
                                   "Port = 1\n"     /* case only */
                                   "queue.max_record = 1\n"
                                   "kafka = 1\n" /* prefix key without its dot */
                                   "kafka. = 1\n");
  expect_errors(
      "p.ini:4: stage \"s\" (demo): key \"max_body\": unknown key; did you mean "
      "\"max_body_size\"?",
      "p.ini:5: stage \"s\" (demo): key \"Port\": unknown key; did you mean \"port\"?",
      "p.ini:6: stage \"s\" (demo): key \"queue.max_record\": unknown key; did you "
      "mean \"queue.max_records\"?",
      "p.ini:7: stage \"s\" (demo): key \"kafka\": unknown key; did you mean "
      "\"kafka.*\"?",
      "p.ini:8: stage \"s\" (demo): key \"kafka.\": expected a name after the prefix "
      "\"kafka.\"",
      NULL);
  cfg_values_free(v);
  cfg_file_free(f);
}
END_TEST

START_TEST(values_bounds_and_types) {
  cfg_file *f;
  cfg_values *v = stage_values(&f, "[s]\nplugin = demo\nlisten = x\n"
                                   "port = 70000\n"
                                   "ratio = 1.5\n"
                                   "max_body_size = 2G\n"
                                   "timeout = 100us\n"
                                   "secret_n = hunter2\n"
                                   "mode =\n");
  expect_errors(
      "p.ini:4: stage \"s\" (demo): key \"port\": 70000 is above the maximum 65535",
      "p.ini:5: stage \"s\" (demo): key \"ratio\": 1.5 is above the maximum 1",
      "p.ini:6: stage \"s\" (demo): key \"max_body_size\": 2G is above the maximum 1G",
      "p.ini:7: stage \"s\" (demo): key \"timeout\": 100us is below the minimum 1ms",
      "p.ini:8: stage \"s\" (demo): key \"secret_n\": expected an integer (the value is "
      "secret and not shown)",
      "p.ini:9: stage \"s\" (demo): key \"mode\": \"\" is not one of block, reject, "
      "drop",
      NULL);
  /* A value that failed reads as 0 / -1, never half-parsed. */
  ck_assert_int_eq(cfg_get_int(v, "port"), 0);
  ck_assert_int_eq(cfg_get_enum(v, "mode"), -1);
  ck_assert_int_eq(cfg_is_set(v, "port"), 1);
  cfg_values_free(v);
  cfg_file_free(f);
}
END_TEST

START_TEST(values_required_empty_and_missing) {
  cfg_file *f = parse("[s]\nplugin =\n");
  cfg_values *v = cfg_values_build(f, &f->sections[0], "demo", stage_tables, errs);
  expect_errors("p.ini:2: stage \"s\" (demo): key \"plugin\": required key is empty",
                "p.ini:1: stage \"s\" (demo): key \"listen\": required key is missing", NULL);
  cfg_values_free(v);
  cfg_file_free(f);
}
END_TEST

static void collect(void *ctx, const char *key, const char *value) {
  char *out = ctx;
  strcat(out, key);
  strcat(out, "=");
  strcat(out, value);
  strcat(out, ";");
}

START_TEST(values_prefix_each_in_file_order) {
  cfg_file *f;
  cfg_values *v = stage_values(&f, "[s]\nplugin = demo\nlisten = x\n"
                                   "kafka.z = 1\n"
                                   "query.q = SELECT\n  1\n"
                                   "kafka.a.b = 2\n");
  expect_no_errors();
  char out[256] = "";
  cfg_each(v, "kafka.", collect, out);
  ck_assert_str_eq(out, "z=1;a.b=2;");
  out[0] = '\0';
  cfg_each(v, "query.", collect, out);
  ck_assert_str_eq(out, "q=SELECT\n1;");
  ck_assert_int_eq(cfg_is_set(v, "kafka.z"), 1);
  ck_assert_int_eq(cfg_is_set(v, "kafka.y"), 0);
  ck_assert_ptr_null(cfg_get_string(v, "kafka.y"));
  ck_assert_int_eq(cfg_line(v, "kafka.a.b"), 7);
  cfg_values_free(v);
  cfg_file_free(f);
}
END_TEST

START_TEST(values_getters_misuse) {
  cfg_file *f;
  cfg_values *v = stage_values(&f, "[s]\nplugin = demo\nlisten = x\nport = 9\n");
  log_set_level(SD_LOG_ERROR);
  FILE *sink = tmpfile();
  log_set_output(fileno(sink));
  ck_assert_int_eq(cfg_get_int(v, "nope"), 0);
  ck_assert_int_eq(cfg_get_size(v, "port"), 0);        /* wrong type */
  ck_assert_double_eq(cfg_get_double(v, "port"), 9.0); /* int widens to double */
  ck_assert_str_eq(cfg_get_string(v, "port"), "9");
  ck_assert_ptr_null(cfg_get_string(v, "nope"));
  log_set_output(2);
  log_shutdown();
  rewind(sink);
  char line[512];
  ck_assert_ptr_nonnull(fgets(line, sizeof(line), sink));
  ck_assert_ptr_nonnull(
      strstr(line, "msg=\"config: [s] has no key \\\"nope\\\" in its key tables"));
  fclose(sink);
  ck_assert_int_eq(cfg_get_int(NULL, "port"), 0);
  cfg_values_free(v);
  cfg_file_free(f);
}
END_TEST

START_TEST(values_stage_without_plugin_name) {
  const sd_config_key *const core_only[] = {cfg_core_stage_keys, NULL};
  cfg_file *f = parse("[s]\ninputs = a,\n");
  cfg_values *v = cfg_values_build(f, &f->sections[0], NULL, core_only, errs);
  expect_errors("p.ini:2: stage \"s\": key \"inputs\": expected a comma-separated list without "
                "empty items, got \"a,\"",
                "p.ini:1: stage \"s\": key \"plugin\": required key is missing", NULL);
  cfg_values_free(v);
  cfg_file_free(f);
}
END_TEST

/* ---- Value parsers ------------------------------------------------------------------ */

START_TEST(parse_int_cases) {
  int64_t v;
  const char *why = NULL;
  ck_assert_int_eq(cfg_parse_int("42", &v, &why), 0);
  ck_assert_int_eq(v, 42);
  ck_assert_int_eq(cfg_parse_int("-7", &v, &why), 0);
  ck_assert_int_eq(v, -7);
  ck_assert_int_eq(cfg_parse_int("+7", &v, &why), 0);
  ck_assert_int_eq(cfg_parse_int("9223372036854775807", &v, &why), 0);
  ck_assert_int_eq(v, INT64_MAX);
  ck_assert_int_eq(cfg_parse_int("-9223372036854775808", &v, &why), 0);
  ck_assert_int_eq(v, INT64_MIN);
  static const char *const bad[] = {"", "abc", "12abc", " 5", "5 ", "0x10", "1.5", "1e3", "-"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    why = NULL;
    ck_assert_msg(cfg_parse_int(bad[i], &v, &why) == -1, "accepted \"%s\"", bad[i]);
    ck_assert_str_eq(why, "expected an integer");
  }
  ck_assert_int_eq(cfg_parse_int("99999999999999999999", &v, &why), -1);
  ck_assert_str_eq(why,
                   "expected an integer between -9223372036854775808 and 9223372036854775807");
  ck_assert_int_eq(cfg_parse_int("-9223372036854775809", &v, &why), -1);
}
END_TEST

START_TEST(parse_bool_cases) {
  static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
  static const char *const no[] = {"false", "no", "off", "0", "Off"};
  int b;
  const char *why;
  for (size_t i = 0; i < 6; i++) {
    b = -1;
    ck_assert_int_eq(cfg_parse_bool(yes[i], &b, &why), 0);
    ck_assert_int_eq(b, 1);
  }
  for (size_t i = 0; i < 5; i++) {
    b = -1;
    ck_assert_int_eq(cfg_parse_bool(no[i], &b, &why), 0);
    ck_assert_int_eq(b, 0);
  }
  static const char *const bad[] = {"maybe", "", "2", "y", "t", "truee", " true"};
  for (size_t i = 0; i < 7; i++) {
    ck_assert_int_eq(cfg_parse_bool(bad[i], &b, &why), -1);
    ck_assert_str_eq(why, "expected true or false (also yes/no, on/off, 1/0)");
  }
}
END_TEST

START_TEST(parse_double_cases) {
  double d;
  const char *why;
  ck_assert_int_eq(cfg_parse_double("0.25", &d, &why), 0);
  ck_assert_double_eq(d, 0.25);
  ck_assert_int_eq(cfg_parse_double("-3", &d, &why), 0);
  ck_assert_double_eq(d, -3.0);
  ck_assert_int_eq(cfg_parse_double("1e3", &d, &why), 0);
  ck_assert_double_eq(d, 1000.0);
  ck_assert_int_eq(cfg_parse_double(".5", &d, &why), 0);
  static const char *const bad[] = {"x",    "",      "1.2.3", "nan", "inf",
                                    "-inf", "0x1p3", " 1",    "1 "};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_msg(cfg_parse_double(bad[i], &d, &why) == -1, "accepted \"%s\"", bad[i]);
    ck_assert_str_eq(why, "expected a number");
  }
  ck_assert_int_eq(cfg_parse_double("1e999", &d, &why), -1);
  ck_assert_str_eq(why, "expected a finite number");
}
END_TEST

START_TEST(parse_size_cases) {
  static const struct {
    const char *text;
    int64_t bytes;
  } good[] = {{"0", 0},
              {"512", 512},
              {"512B", 512},
              {"64K", 65536},
              {"64k", 65536},
              {"64KB", 65536},
              {"64KiB", 65536},
              {"16M", 16777216},
              {"16MB", 16777216},
              {"16MiB", 16777216},
              {"1G", 1073741824},
              {"1GB", 1073741824},
              {"1GiB", 1073741824},
              {"2T", INT64_C(2199023255552)},
              {"8388607T", INT64_C(9223370937343148032)}};
  int64_t v;
  const char *why;
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    ck_assert_msg(cfg_parse_size(good[i].text, &v, &why) == 0, "refused \"%s\"", good[i].text);
    ck_assert_int_eq(v, good[i].bytes);
  }
  static const char *const bad[] = {"12Q",  "",    "K",   "1.5G", "64 K",
                                    " 64K", "16E", "1KK", "0x10"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_msg(cfg_parse_size(bad[i], &v, &why) == -1, "accepted \"%s\"", bad[i]);
    ck_assert_str_eq(why, "expected a size like 512, 64K, 16M or 1G");
  }
  ck_assert_int_eq(cfg_parse_size("-1K", &v, &why), -1);
  ck_assert_str_eq(why, "expected a non-negative size like 512, 64K, 16M or 1G");
  ck_assert_int_eq(cfg_parse_size("-5", &v, &why), -1);
  ck_assert_str_eq(why, "expected a non-negative size like 512, 64K, 16M or 1G");
  static const char *const huge[] = {"99999999999999999999", "8388608T", "9999999999G",
                                     "9223372036854775808"};
  for (size_t i = 0; i < 4; i++) {
    ck_assert_msg(cfg_parse_size(huge[i], &v, &why) == -1, "accepted \"%s\"", huge[i]);
    ck_assert_str_eq(why, "expected a size of at most 9223372036854775807 bytes");
  }
  ck_assert_int_eq(cfg_parse_size("9223372036854775807", &v, &why), 0);
  ck_assert_int_eq(v, INT64_MAX);
}
END_TEST

START_TEST(parse_duration_cases) {
  static const struct {
    const char *text;
    int64_t ns;
  } good[] = {{"0", 0},
              {"7ns", 7},
              {"100us", 100000},
              {"250ms", 250000000},
              {"5s", INT64_C(5000000000)},
              {"2m", INT64_C(120000000000)},
              {"1h", INT64_C(3600000000000)},
              {"0s", 0},
              {"2562047h", INT64_C(9223369200000000000)}};
  int64_t v;
  const char *why;
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    ck_assert_msg(cfg_parse_duration(good[i].text, &v, &why) == 0, "refused %s", good[i].text);
    ck_assert_int_eq(v, good[i].ns);
  }
  static const char *const bad[] = {"5",   "250", "",     "s",  "1.5s",
                                    "5 s", "5S",  "5sec", "1d", "ms"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_msg(cfg_parse_duration(bad[i], &v, &why) == -1, "accepted \"%s\"", bad[i]);
    ck_assert_str_eq(why, "expected a duration like 250ms, 5s or 2m");
  }
  ck_assert_int_eq(cfg_parse_duration("-5s", &v, &why), -1);
  ck_assert_str_eq(why, "expected a non-negative duration like 250ms, 5s or 2m");
  ck_assert_int_eq(cfg_parse_duration("2562048h", &v, &why), -1);
  ck_assert_str_eq(why, "expected a duration of at most 2562047h");
  ck_assert_int_eq(cfg_parse_duration("99999999999999999999ns", &v, &why), -1);
  ck_assert_str_eq(why, "expected a duration of at most 2562047h");
}
END_TEST

START_TEST(parse_enum_cases) {
  int i = -1;
  const char *why;
  ck_assert_int_eq(cfg_parse_enum("block", "block|reject|drop", &i, &why), 0);
  ck_assert_int_eq(i, 0);
  ck_assert_int_eq(cfg_parse_enum("drop", "block|reject|drop", &i, &why), 0);
  ck_assert_int_eq(i, 2);
  ck_assert_int_eq(cfg_parse_enum("blo", "block|reject|drop", &i, &why), -1);
  ck_assert_int_eq(cfg_parse_enum("block|reject", "block|reject|drop", &i, &why), -1);
  ck_assert_int_eq(cfg_parse_enum("", "block|reject|drop", &i, &why), -1);
  ck_assert_int_eq(cfg_parse_enum("Block", "block|reject|drop", &i, &why), -1);
  ck_assert_str_eq(why, "expected one of the listed values");
}
END_TEST

START_TEST(format_units) {
  char b[32];
  cfg_format_size(67108864, b, sizeof(b));
  ck_assert_str_eq(b, "64M");
  cfg_format_size(4096, b, sizeof(b));
  ck_assert_str_eq(b, "4K");
  cfg_format_size(4097, b, sizeof(b));
  ck_assert_str_eq(b, "4097");
  cfg_format_size(0, b, sizeof(b));
  ck_assert_str_eq(b, "0");
  cfg_format_size(INT64_C(68719476736), b, sizeof(b));
  ck_assert_str_eq(b, "64G");
  cfg_format_duration(INT64_C(600000000000), b, sizeof(b));
  ck_assert_str_eq(b, "10m");
  cfg_format_duration(1500000, b, sizeof(b));
  ck_assert_str_eq(b, "1500us");
  cfg_format_duration(0, b, sizeof(b));
  ck_assert_str_eq(b, "0");
  cfg_format_duration(7, b, sizeof(b));
  ck_assert_str_eq(b, "7ns");
  ck_assert_str_eq(cfg_type_name(SD_CFG_DURATION), "duration");
  ck_assert_str_eq(cfg_type_name(99), "unknown");
}
END_TEST

/* ---- Key tables --------------------------------------------------------------------- */

START_TEST(core_tables_are_valid) {
  ck_assert_int_eq(cfg_check_defaults("core", cfg_core_stage_keys, errs), 0);
  ck_assert_int_eq(cfg_check_defaults("sensord", cfg_daemon_keys, errs), 0);
  ck_assert_int_eq(cfg_check_defaults("demo", demo_keys, errs), 0);
  expect_no_errors();
  for (const sd_config_key *k = cfg_core_stage_keys; k->name; k++)
    ck_assert_msg(k->description && strlen(k->description) > 10, "%s lacks a description",
                  k->name);
  for (const sd_config_key *k = cfg_daemon_keys; k->name; k++)
    ck_assert_msg(k->description && strlen(k->description) > 10, "%s lacks a description",
                  k->name);
}
END_TEST

START_TEST(check_defaults_reports_each_problem) {
  static const sd_config_key bad[] = {
      {.name = "n", .type = SD_CFG_INT, .default_value = "x"},
      {.name = "lo",
       .type = SD_CFG_INT,
       .flags = SD_CFG_HAS_MIN,
       .min = 1,
       .default_value = "0"},
      {.name = "sz",
       .type = SD_CFG_SIZE,
       .flags = SD_CFG_HAS_MAX,
       .max = 1024,
       .default_value = "2K"},
      {.name = "d", .type = SD_CFG_DURATION, .default_value = "5"},
      {.name = "kafka", .type = SD_CFG_PREFIX},
      {.name = "e", .type = SD_CFG_ENUM, .default_value = "a"},
      {.name = "e2", .type = SD_CFG_ENUM, .enum_values = "a|b", .default_value = "c"},
      {.name = "plugin", .type = SD_CFG_STRING},
      {.name = "n", .type = SD_CFG_STRING},
      {.name = "r", .type = SD_CFG_STRING, .flags = SD_CFG_REQUIRED, .default_value = "x"},
      {.name = "b", .type = SD_CFG_BOOL, .flags = SD_CFG_HAS_MIN},
      {.name = "mm",
       .type = SD_CFG_DOUBLE,
       .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
       .min = 2,
       .max = 1},
      {.name = "t", .type = 42},
      {.name = "l", .type = SD_CFG_LIST, .default_value = "a,,b"},
      {.name = NULL}};
  ck_assert_int_eq(cfg_check_defaults("p", bad, errs), 14);
  expect_errors(
      "plugin \"p\": key \"n\": default \"x\" does not parse: expected an integer",
      "plugin \"p\": key \"lo\": default 0 is below the minimum 1",
      "plugin \"p\": key \"sz\": default 2K is above the maximum 1K",
      "plugin \"p\": key \"d\": default \"5\" does not parse: expected a duration like 250ms, "
      "5s "
      "or 2m (a unit is required: ns, us, ms, s, m or h)",
      "plugin \"p\": key \"kafka\": a prefix key must end with '.'",
      "plugin \"p\": key \"e\": an enum key needs enum_values such as \"a|b|c\"",
      "plugin \"p\": key \"e2\": default \"c\" does not parse: \"c\" is not one of a, b",
      "plugin \"p\": key \"plugin\": the name is reserved for the core",
      "plugin \"p\": key \"n\": declared twice in the key table",
      "plugin \"p\": key \"r\": a required key cannot have a default",
      "plugin \"p\": key \"b\": bounds apply only to int, double, size and duration keys, not "
      "bool",
      "plugin \"p\": key \"mm\": the minimum is above the maximum",
      "plugin \"p\": key \"t\": unknown type 42",
      "plugin \"p\": key \"l\": default \"a,,b\" does not parse: expected a comma-separated "
      "list "
      "without empty items",
      NULL);
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *ini = tcase_create("ini");
  tcase_add_checked_fixture(ini, setup, teardown);
  tcase_add_test(ini, ini_sections_keys_lines);
  tcase_add_test(ini, ini_empty_section_is_kept);
  tcase_add_test(ini, ini_comments_and_empty_values);
  tcase_add_test(ini, ini_quoting);
  tcase_add_test(ini, ini_bad_quoting);
  tcase_add_test(ini, ini_continuation_lines);
  tcase_add_test(ini, ini_indented_key_after_header_is_a_key);
  tcase_add_test(ini, ini_long_lines);
  tcase_add_test(ini, ini_crlf_and_bom);
  tcase_add_test(ini, ini_duplicates);
  tcase_add_test(ini, ini_syntax_errors_all_reported);
  tcase_add_test(ini, ini_load_missing_file);
  tcase_add_test(ini, ini_load_fixture);
  tcase_add_test(ini, ini_load_directory);
  tcase_add_test(ini, errors_list);
  suite_add_tcase(s, ini);

  TCase *val = tcase_create("validate");
  tcase_add_checked_fixture(val, setup, teardown);
  tcase_add_test(val, values_fixture_good);
  tcase_add_test(val, values_fixture_errors_all_reported);
  tcase_add_test(val, values_unknown_key_lists_known_keys);
  tcase_add_test(val, values_suggestions);
  tcase_add_test(val, values_bounds_and_types);
  tcase_add_test(val, values_required_empty_and_missing);
  tcase_add_test(val, values_prefix_each_in_file_order);
  tcase_add_test(val, values_getters_misuse);
  tcase_add_test(val, values_stage_without_plugin_name);
  tcase_add_test(val, core_tables_are_valid);
  tcase_add_test(val, check_defaults_reports_each_problem);
  suite_add_tcase(s, val);

  TCase *par = tcase_create("parsers");
  tcase_add_test(par, parse_int_cases);
  tcase_add_test(par, parse_bool_cases);
  tcase_add_test(par, parse_double_cases);
  tcase_add_test(par, parse_size_cases);
  tcase_add_test(par, parse_duration_cases);
  tcase_add_test(par, parse_enum_cases);
  tcase_add_test(par, format_units);
  suite_add_tcase(s, par);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(config_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
