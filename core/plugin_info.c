/* Rendering of plugin descriptors and key tables (see plugin_info.h). The same rows feed
 * the text table and the Markdown table, so docs generated from --format=markdown always
 * say what the binary enforces. */
#include "plugin_info.h"

#include "config.h"
#include "loader.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct key_row {
  char *cells[6]; /* key, type, default, allowed, flags, description */
} key_row;

static const char *const headers[6] = {"KEY",     "TYPE",  "DEFAULT",
                                       "ALLOWED", "FLAGS", "DESCRIPTION"};

static char *format_bound(uint32_t type, double v) {
  char buf[64];
  if (type == SD_CFG_SIZE)
    cfg_format_size((int64_t)v, buf, sizeof buf);
  else if (type == SD_CFG_DURATION)
    cfg_format_duration((int64_t)v, buf, sizeof buf);
  else
    snprintf(buf, sizeof buf, "%.15g", v);
  return xstrdup(buf);
}

static char *allowed_text(const sd_config_key *k) {
  if (k->type == SD_CFG_ENUM) return xstrdup(k->enum_values ? k->enum_values : "");
  if (k->type == SD_CFG_BOOL) return xstrdup("true|false");
  if (k->type == SD_CFG_PREFIX) return xasprintf("%s*", k->name);
  int has_min = (k->flags & SD_CFG_HAS_MIN) != 0, has_max = (k->flags & SD_CFG_HAS_MAX) != 0;
  char *lo = has_min ? format_bound(k->type, k->min) : NULL;
  char *hi = has_max ? format_bound(k->type, k->max) : NULL;
  char *out = has_min && has_max ? xasprintf("%s .. %s", lo, hi)
              : has_min          ? xasprintf(">= %s", lo)
              : has_max          ? xasprintf("<= %s", hi)
                                 : xstrdup("");
  free(lo);
  free(hi);
  return out;
}

static char *flags_text(uint32_t flags) {
  char buf[64] = "";
  if (flags & SD_CFG_REQUIRED) strcat(buf, "required ");
  if (flags & SD_CFG_SECRET) strcat(buf, "secret ");
  if (flags & SD_CFG_MULTI) strcat(buf, "multi-line ");
  size_t n = strlen(buf);
  if (n) buf[n - 1] = '\0';
  return xstrdup(buf);
}

static key_row *build_rows(const sd_config_key *table, size_t *count) {
  size_t n = 0;
  for (const sd_config_key *k = table; k && k->name; k++) n++;
  key_row *rows = xcalloc(n + 1, sizeof *rows);
  for (size_t i = 0; i < n; i++) {
    const sd_config_key *k = &table[i];
    rows[i].cells[0] = xstrdup(k->name);
    rows[i].cells[1] = xstrdup(cfg_type_name(k->type));
    if (k->flags & SD_CFG_SECRET)
      rows[i].cells[2] = xstrdup(k->default_value ? "(secret)" : "");
    else
      rows[i].cells[2] = xstrdup(k->default_value ? k->default_value : "");
    rows[i].cells[3] = allowed_text(k);
    rows[i].cells[4] = flags_text(k->flags);
    rows[i].cells[5] = xstrdup(k->description ? k->description : "");
  }
  *count = n;
  return rows;
}

static void free_rows(key_row *rows, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < 6; c++) free(rows[i].cells[c]);
  free(rows);
}

static void print_text_table(FILE *out, const key_row *rows, size_t n) {
  size_t width[5];
  for (int c = 0; c < 5; c++) {
    width[c] = strlen(headers[c]);
    for (size_t i = 0; i < n; i++)
      if (strlen(rows[i].cells[c]) > width[c]) width[c] = strlen(rows[i].cells[c]);
  }
  for (int c = 0; c < 5; c++) fprintf(out, "%-*s  ", (int)width[c], headers[c]);
  fprintf(out, "%s\n", headers[5]);
  for (size_t i = 0; i < n; i++) {
    for (int c = 0; c < 5; c++)
      fprintf(out, "%-*s  ", (int)width[c], rows[i].cells[c][0] ? rows[i].cells[c] : "-");
    fprintf(out, "%s\n", rows[i].cells[5]);
  }
}

/* Markdown cell: pipes escaped, code spans for literal values. */
static void md_cell(FILE *out, const char *text, int code) {
  fputs(" ", out);
  if (!*text) {
    fputs(" |", out);
    return;
  }
  if (code) fputs("`", out);
  for (const char *c = text; *c; c++) {
    if (*c == '|')
      fputs(code ? "\\|" : "\\|", out);
    else if (*c == '\n')
      fputs(" ", out);
    else
      fputc(*c, out);
  }
  if (code) fputs("`", out);
  fputs(" |", out);
}

static void print_markdown_table(FILE *out, const key_row *rows, size_t n) {
  fputs("| Key | Type | Default | Allowed | Flags | Description |\n", out);
  fputs("|---|---|---|---|---|---|\n", out);
  for (size_t i = 0; i < n; i++) {
    fputs("|", out);
    md_cell(out, rows[i].cells[0], 1);
    md_cell(out, rows[i].cells[1], 0);
    md_cell(out, rows[i].cells[2], 1);
    md_cell(out, rows[i].cells[3], 1);
    md_cell(out, rows[i].cells[4], 0);
    md_cell(out, rows[i].cells[5], 0);
    fputs("\n", out);
  }
}

static void print_table(FILE *out, const sd_config_key *table, info_format format) {
  size_t n;
  key_row *rows = build_rows(table, &n);
  if (n == 0)
    fputs(format == INFO_MARKDOWN ? "This plugin has no keys of its own.\n"
                                  : "(no keys of its own)\n",
          out);
  else if (format == INFO_MARKDOWN)
    print_markdown_table(out, rows, n);
  else
    print_text_table(out, rows, n);
  free_rows(rows, n);
}

static void core_key_names(FILE *out) {
  for (const sd_config_key *k = cfg_core_stage_keys; k->name; k++)
    fprintf(out, "%s%s", k == cfg_core_stage_keys ? "" : ", ", k->name);
}

int info_plugin(const char *plugin_dir, const char *name, info_format format, FILE *out,
                FILE *err) {
  loader *ld = loader_new(plugin_dir);
  sd_errors *errs = sd_errors_new();
  const loader_plugin *p = loader_load(ld, name, errs);
  if (!p) {
    sd_errors_print(errs, err);
    sd_errors_free(errs);
    loader_free(ld);
    return 1;
  }
  const sd_plugin_descriptor *d = &p->desc;
  const char *version = d->version ? d->version : "(none)";
  const char *description = d->description ? d->description : "";
  if (format == INFO_MARKDOWN) {
    fprintf(out, "## %s\n\n%s\n\nKind: %s · version %s · built for ABI %u.%u\n\n", d->name,
            description, loader_kind_name(d->kind), version, (unsigned)d->abi_major,
            (unsigned)d->abi_minor);
    print_table(out, d->config_keys, format);
    fputs("\nEvery stage also takes the core keys: ", out);
    core_key_names(out);
    fputs(" (see `sensord --core-info`).\n", out);
  } else {
    fprintf(out, "name:        %s\nkind:        %s\nversion:     %s\ndescription: %s\n",
            d->name, loader_kind_name(d->kind), version, description);
    fprintf(out, "file:        %s\nabi:         %u.%u (this sensord: %d.%d)\n\n", p->path,
            (unsigned)d->abi_major, (unsigned)d->abi_minor, SD_ABI_MAJOR, SD_ABI_MINOR);
    print_table(out, d->config_keys, format);
    fputs("\ncore keys (every stage): ", out);
    core_key_names(out);
    fputs("\n", out);
  }
  sd_errors_free(errs);
  loader_free(ld);
  return 0;
}

int info_core(info_format format, FILE *out) {
  if (format == INFO_MARKDOWN) {
    fputs("## [sensord]\n\nDaemon settings, in the `[sensord]` section.\n\n", out);
    print_table(out, cfg_daemon_keys, format);
    fputs("\n## Core stage keys\n\nEvery stage section takes these besides its plugin's "
          "keys.\n\n",
          out);
    print_table(out, cfg_core_stage_keys, format);
  } else {
    fputs("[sensord] keys:\n", out);
    print_table(out, cfg_daemon_keys, format);
    fputs("\nkeys of every stage:\n", out);
    print_table(out, cfg_core_stage_keys, format);
  }
  return 0;
}

int info_list_plugins(const char *plugin_dir, FILE *out, FILE *err) {
  size_t n = 0;
  char **names = loader_list_names(plugin_dir, &n);
  if (!names) {
    fprintf(err, "sensord: cannot read plugin directory %s\n", plugin_dir);
    return 1;
  }
  fprintf(out, "plugins in %s:\n", plugin_dir);
  if (n == 0) fputs("(none)\n", out);
  loader *ld = loader_new(plugin_dir);
  size_t width = 4;
  for (size_t i = 0; i < n; i++)
    if (strlen(names[i]) > width) width = strlen(names[i]);
  for (size_t i = 0; i < n; i++) {
    sd_errors *errs = sd_errors_new();
    const loader_plugin *p = loader_load(ld, names[i], errs);
    if (p)
      fprintf(out, "%-*s  %-6s  %-8s  %s\n", (int)width, names[i],
              loader_kind_name(p->desc.kind), p->desc.version ? p->desc.version : "-",
              p->desc.description ? p->desc.description : "");
    else
      fprintf(out, "%-*s  %-6s  %-8s  refused: %s\n", (int)width, names[i], "-", "-",
              sd_errors_count(errs) ? sd_errors_at(errs, 0) : "?");
    sd_errors_free(errs);
  }
  loader_free(ld);
  loader_free_names(names, n);
  return 0;
}
