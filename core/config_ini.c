/* INI reading for the pipeline file: inih splits keys from values and strips comments,
 * while this file feeds it one raw line at a time so every key and section keeps its line
 * number and continuation lines, quoting and over-long lines can be told apart. */
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* inih's line buffer (compiled in; the library's ini_max_line setting is not used). A
 * longer line is handed over cut, and its value is taken from the raw text instead. */
#define INI_LINE_BUDGET 200

typedef struct raw_line {
  const char *text; /* into the caller's buffer, without the '\n' (and a trailing '\r') */
  size_t len;
  int has_nul;
  int cut;     /* handed to inih shortened */
  int handled; /* inih called the handler for this line */
  char *value; /* what inih reported as the value */
} raw_line;

typedef struct parse_state {
  raw_line *lines;
  size_t count;
  size_t next; /* next line the reader hands out */
} parse_state;

typedef struct load_error {
  int line;
  size_t order;
  char *msg;
} load_error;

typedef struct load_errors {
  load_error *items;
  size_t count;
  size_t cap;
} load_errors;

static void add_error(load_errors *le, int line, char *msg) {
  util_grow((void **)&le->items, &le->cap, le->count + 1, sizeof(load_error));
  le->items[le->count] = (load_error){line, le->count, msg};
  le->count++;
}

static int error_order(const void *a, const void *b) {
  const load_error *x = a, *y = b;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* ---- inih callbacks ----------------------------------------------------------------- */

static char *feed_line(char *str, int num, void *stream) {
  parse_state *st = stream;
  if (st->next >= st->count || num < 3) return NULL;
  raw_line *ln = &st->lines[st->next++];
  size_t room = (size_t)num - 2; /* leave space for '\n' and the terminator */
  size_t n = ln->has_nul ? 0 : ln->len;
  if (n > room) {
    n = room;
    ln->cut = 1;
  }
  memcpy(str, ln->text, n);
  str[n] = '\n';
  str[n + 1] = '\0';
  return str;
}

static int on_pair(void *user, const char *section, const char *name, const char *value) {
  (void)section;
  (void)name;
  parse_state *st = user;
  raw_line *ln = &st->lines[st->next - 1];
  ln->handled = 1;
  free(ln->value);
  ln->value = xstrdup(value ? value : "");
  return 1; /* keep going: every problem is collected, not only inih's first */
}

/* ---- Raw-line helpers --------------------------------------------------------------- */

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *trimmed_copy(const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)*s)) s++, n--;
  while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
  char *out = xmalloc(n + 1);
  memcpy(out, s, n);
  out[n] = '\0';
  return out;
}

/* Where an inline comment starts: ';' after whitespace (inih's rule), or end. */
static size_t comment_start(const char *s, size_t n) {
  int was_space = 0;
  for (size_t i = 0; i < n; i++) {
    if (was_space && s[i] == ';') return i;
    was_space = isspace((unsigned char)s[i]);
  }
  return n;
}

/* Value text after the separator (or a whole continuation line): a leading '"' starts a
 * quoted value that ends at the next '"' and keeps spaces and ';' inside; anything after
 * it other than a comment is an error. Returns NULL and sets *err on a malformed quote. */
static char *extract_value(const char *s, size_t n, const char **err) {
  while (n > 0 && isspace((unsigned char)*s)) s++, n--;
  if (n > 0 && *s == '"') {
    const char *close = memchr(s + 1, '"', n - 1);
    if (!close) {
      *err = "missing closing '\"' of a quoted value";
      return NULL;
    }
    const char *rest = close + 1;
    size_t rest_n = n - (size_t)(rest - s);
    while (rest_n > 0 && isspace((unsigned char)*rest)) rest++, rest_n--;
    if (rest_n > 0 && *rest != ';') {
      *err = "unexpected text after the closing '\"' of a quoted value";
      return NULL;
    }
    char *out = xmalloc((size_t)(close - s));
    memcpy(out, s + 1, (size_t)(close - s - 1));
    out[close - s - 1] = '\0';
    return out;
  }
  return trimmed_copy(s, comment_start(s, n));
}

/* The separator inih split the pair at: the first '=' or ':' before an inline comment. */
static const char *find_separator(const char *s, size_t n) {
  int was_space = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '=' || s[i] == ':') return s + i;
    if (was_space && s[i] == ';') return NULL;
    was_space = isspace((unsigned char)s[i]);
  }
  return NULL;
}

/* The ']' of a section header as inih finds it: an inline comment comes first. */
static const char *find_close_bracket(const char *s, size_t n) {
  int was_space = 0;
  for (size_t i = 1; i < n; i++) {
    if (s[i] == ']') return s + i;
    if (was_space && s[i] == ';') return NULL;
    was_space = isspace((unsigned char)s[i]);
  }
  return NULL;
}

/* A short, printable excerpt of a line for syntax errors. */
static char *excerpt(const char *s, size_t n) {
  size_t max = n > 60 ? 60 : n;
  char *out = xmalloc(max + 4);
  size_t o = 0;
  for (size_t i = 0; i < max; i++) out[o++] = isprint((unsigned char)s[i]) ? s[i] : '?';
  if (max < n) out[o++] = '.', out[o++] = '.', out[o++] = '.';
  out[o] = '\0';
  return out;
}

/* ---- Building the file ------------------------------------------------------------- */

typedef struct dup_key {
  size_t section;
  int line;
  int first_line;
  char *key;
} dup_key;

static cfg_section *add_section(cfg_file *f, size_t *cap, const char *name, size_t name_len,
                                int line) {
  util_grow((void **)&f->sections, cap, f->section_count + 1, sizeof(cfg_section));
  cfg_section *sec = &f->sections[f->section_count++];
  memset(sec, 0, sizeof(*sec));
  sec->name = trimmed_copy(name, name_len);
  sec->line = line;
  return sec;
}

static cfg_entry *add_entry(cfg_section *sec, size_t *cap, char *key, char *value, int line) {
  util_grow((void **)&sec->entries, cap, sec->entry_count + 1, sizeof(cfg_entry));
  cfg_entry *e = &sec->entries[sec->entry_count++];
  e->key = key;
  e->value = value;
  e->line = line;
  return e;
}

static void append_line(cfg_entry *e, const char *more) {
  size_t a = strlen(e->value), b = strlen(more);
  e->value = xrealloc(e->value, a + b + 2);
  e->value[a] = '\n';
  memcpy(e->value + a + 1, more, b + 1);
}

/* How messages name a section: [sensord], or stage "x" (plugin) once `plugin` is known. */
static char *section_label(const cfg_section *sec) {
  if (strcmp(sec->name, "sensord") == 0) return xstrdup("[sensord]");
  const cfg_entry *p = cfg_section_entry(sec, "plugin");
  if (p && p->value[0]) return xasprintf("stage \"%s\" (%s)", sec->name, p->value);
  return xasprintf("stage \"%s\"", sec->name);
}

static void split_lines(parse_state *st, const char *text, size_t len) {
  size_t cap = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    util_grow((void **)&st->lines, &cap, st->count + 1, sizeof(raw_line));
    raw_line *ln = &st->lines[st->count++];
    memset(ln, 0, sizeof(*ln));
    ln->text = p;
    ln->len = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
    ln->has_nul = memchr(p, '\0', n) != NULL;
    p += n + (nl ? 1 : 0);
  }
}

cfg_file *cfg_file_parse(const char *path, const char *text, size_t len, sd_errors *errs) {
  cfg_file *f = xcalloc(1, sizeof(cfg_file));
  f->path = xstrdup(path);
  parse_state st = {0};
  split_lines(&st, text, len);
  st.next = 0;
  ini_parse_stream(feed_line, &st, on_pair, &st);

  load_errors le = {0};
  dup_key *dups = NULL;
  size_t dup_count = 0, dup_cap = 0, section_cap = 0;
  size_t *entry_caps = NULL; /* parallel to f->sections */
  size_t entry_caps_cap = 0;
  cfg_section *cur = NULL; /* NULL before the first section or inside a duplicate one */
  int in_duplicate = 0;
  cfg_entry *last = NULL; /* target of continuation lines */
  int in_key = 0;         /* mirrors inih's "previous name" */

  for (size_t i = 0; i < st.count; i++) {
    raw_line *ln = &st.lines[i];
    int line = (int)i + 1;
    const char *s = ln->text;
    size_t n = ln->len;
    if (ln->has_nul) {
      add_error(&le, line,
                xasprintf("%s:%d: syntax error: the line contains a NUL byte", path, line));
      continue;
    }
    if (i == 0 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, n -= 3;
    size_t lead = 0;
    while (lead < n && isspace((unsigned char)s[lead])) lead++;
    const char *t = s + lead;
    size_t tn = n - lead;
    while (tn > 0 && isspace((unsigned char)t[tn - 1])) tn--;
    if (tn == 0 || *t == ';' || *t == '#') continue;

    if (ln->handled && lead > 0 && in_key) { /* continuation of the previous key */
      const char *why = NULL;
      char *piece = extract_value(t, tn, &why);
      if (!piece) {
        add_error(&le, line, xasprintf("%s:%d: syntax error: %s", path, line, why));
      } else if (last) {
        append_line(last, piece);
      }
      free(piece);
      continue;
    }

    if (*t == '[') {
      last = NULL;
      const char *close = find_close_bracket(t, tn);
      if (!close) {
        add_error(
            &le, line,
            xasprintf("%s:%d: syntax error: missing ']' after the section name", path, line));
        cur = NULL;
        in_duplicate = 1; /* keys up to the next header have no section to go to */
        continue;
      }
      in_key = 0;
      const char *after = close + 1;
      size_t after_n = tn - (size_t)(after - t);
      while (after_n > 0 && isspace((unsigned char)*after)) after++, after_n--;
      if (after_n > 0 && *after != ';' && *after != '#') {
        char *ex = excerpt(after, after_n);
        add_error(&le, line,
                  xasprintf("%s:%d: syntax error: unexpected text after ']': \"%s\"", path,
                            line, ex));
        free(ex);
      }
      char *name = trimmed_copy(t + 1, (size_t)(close - t - 1));
      if (name[0] == '\0') {
        add_error(&le, line,
                  xasprintf("%s:%d: syntax error: empty section name []", path, line));
        free(name);
        cur = NULL;
        in_duplicate = 1;
        continue;
      }
      const cfg_section *prev = cfg_file_section(f, name);
      if (prev) {
        add_error(&le, line,
                  xasprintf("%s:%d: duplicate section [%s] (first at line %d)", path, line,
                            name, prev->line));
        cur = NULL;
        in_duplicate = 1;
      } else {
        cur = add_section(f, &section_cap, name, strlen(name), line);
        util_grow((void **)&entry_caps, &entry_caps_cap, f->section_count, sizeof(size_t));
        entry_caps[f->section_count - 1] = 0;
        in_duplicate = 0;
      }
      free(name);
      continue;
    }

    if (!ln->handled) {
      char *ex = excerpt(t, tn);
      add_error(&le, line,
                xasprintf("%s:%d: syntax error: expected \"key = value\", \"[section]\" or a "
                          "comment, got \"%s\"",
                          path, line, ex));
      free(ex);
      continue;
    }

    /* A key line: inih found the separator; the name is the text before it. */
    in_key = 1;
    last = NULL;
    const char *sep = find_separator(t, tn);
    char *key = trimmed_copy(t, sep ? (size_t)(sep - t) : 0);
    char *value = NULL;
    const char *raw_value = sep ? sep + 1 : t + tn;
    size_t raw_n = (size_t)(t + tn - raw_value);
    size_t vlead = 0;
    while (vlead < raw_n && is_blank(raw_value[vlead])) vlead++;
    if (ln->cut || (vlead < raw_n && raw_value[vlead] == '"')) {
      const char *why = NULL;
      value = extract_value(raw_value, raw_n, &why);
      if (!value) {
        add_error(&le, line, xasprintf("%s:%d: syntax error: %s", path, line, why));
        value = xstrdup("");
      }
    } else {
      value = xstrdup(ln->value);
    }
    if (key[0] == '\0') {
      add_error(&le, line,
                xasprintf("%s:%d: syntax error: missing key name before '%c'", path, line,
                          sep ? *sep : '='));
      free(key);
      free(value);
      in_key = 0;
      continue;
    }
    if (!cur) {
      if (!in_duplicate)
        add_error(&le, line,
                  xasprintf("%s:%d: syntax error: key \"%s\" is outside any [section]", path,
                            line, key));
      free(key);
      free(value);
      continue;
    }
    const cfg_entry *first = cfg_section_entry(cur, key);
    if (first) {
      util_grow((void **)&dups, &dup_cap, dup_count + 1, sizeof(dup_key));
      dups[dup_count++] = (dup_key){(size_t)(cur - f->sections), line, first->line, key};
      free(value);
      continue;
    }
    last = add_entry(cur, &entry_caps[cur - f->sections], key, value, line);
  }

  /* Duplicates are reported once the section's plugin is known. */
  for (size_t i = 0; i < dup_count; i++) {
    char *label = section_label(&f->sections[dups[i].section]);
    add_error(&le, dups[i].line,
              xasprintf("%s:%d: %s: key \"%s\": duplicate key (first set at line %d)", path,
                        dups[i].line, label, dups[i].key, dups[i].first_line));
    free(label);
    free(dups[i].key);
  }
  free(dups);
  free(entry_caps);

  if (le.count > 1) qsort(le.items, le.count, sizeof(load_error), error_order);
  for (size_t i = 0; i < le.count; i++) {
    sd_errors_add(errs, "%s", le.items[i].msg);
    free(le.items[i].msg);
  }
  free(le.items);
  for (size_t i = 0; i < st.count; i++) free(st.lines[i].value);
  free(st.lines);
  return f;
}

cfg_file *cfg_file_load(const char *path, sd_errors *errs) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    sd_errors_add(errs, "%s: cannot open the config file: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    util_grow((void **)&buf, &cap, len + 4096, 1);
    size_t n = fread(buf + len, 1, cap - len, fp);
    len += n;
    if (n == 0) break;
  }
  int failed = ferror(fp);
  int saved = errno;
  fclose(fp);
  if (failed) {
    sd_errors_add(errs, "%s: cannot read the config file: %s", path, strerror(saved));
    free(buf);
    return NULL;
  }
  cfg_file *f = cfg_file_parse(path, buf, len, errs);
  free(buf);
  return f;
}

void cfg_file_free(cfg_file *file) {
  if (!file) return;
  for (size_t i = 0; i < file->section_count; i++) {
    cfg_section *sec = &file->sections[i];
    for (size_t j = 0; j < sec->entry_count; j++) {
      free(sec->entries[j].key);
      free(sec->entries[j].value);
    }
    free(sec->entries);
    free(sec->name);
  }
  free(file->sections);
  free(file->path);
  free(file);
}

const cfg_section *cfg_file_section(const cfg_file *file, const char *name) {
  if (!file || !name) return NULL;
  for (size_t i = 0; i < file->section_count; i++)
    if (strcmp(file->sections[i].name, name) == 0) return &file->sections[i];
  return NULL;
}

const cfg_entry *cfg_section_entry(const cfg_section *section, const char *key) {
  if (!section || !key) return NULL;
  for (size_t i = 0; i < section->entry_count; i++)
    if (strcmp(section->entries[i].key, key) == 0) return &section->entries[i];
  return NULL;
}
