/* Pipeline construction (see pipeline.h). Stages are kept in file order while loading so
 * messages follow the file; once the graph is known they are re-ordered so every stage
 * comes after its inputs, which is the order of init, drain and (reversed) destroy. */
#include "pipeline.h"

#include "host.h"
#include "metrics.h"
#include "net/listen_addr.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *pipeline_plugin_dir(const cfg_values *daemon_values, const char *override) {
  if (override && *override) return xstrdup(override);
  const char *dir = daemon_values ? cfg_get_string(daemon_values, "plugin_dir") : NULL;
  if (dir && *dir) return xstrdup(dir);
  return loader_default_dir();
}

static int valid_stage_name(const char *name) {
  if (!*name) return 0;
  for (const char *c = name; *c; c++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '_' || *c == '-' || *c == '.';
    if (!ok) return 0;
  }
  return 1;
}

static sd_stage *find_stage(pipeline *pl, const char *name) {
  for (size_t i = 0; i < pl->stage_count; i++)
    if (strcmp(pl->stages[i]->name, name) == 0) return pl->stages[i];
  return NULL;
}

static char *stage_labels(const char *stage, const char *plugin) {
  char *s = metrics_escape_label(stage), *p = metrics_escape_label(plugin);
  char *labels = xasprintf("stage=\"%s\",plugin=\"%s\"", s, p);
  free(s);
  free(p);
  return labels;
}

/* Creates the stage for one section: plugin, typed values, input names. */
static sd_stage *build_stage(pipeline *pl, const cfg_section *sec, sd_errors *errs) {
  sd_stage *st = stage_create(pl, sec->name, sec->line);
  const char *path = pl->file->path;
  int stage_ok = 1;
  if (!valid_stage_name(sec->name)) {
    sd_errors_add(
        errs, "%s:%d: stage \"%s\": invalid stage name: use letters, digits, '_', '-' and '.'",
        path, sec->line, sec->name);
    stage_ok = 0;
  }
  const cfg_entry *plugin = cfg_section_entry(sec, "plugin");
  if (!plugin || !plugin->value[0]) {
    sd_errors_add(
        errs,
        "%s:%d: stage \"%s\": key \"plugin\": required key is missing: add plugin = NAME "
        "(sensord --list-plugins shows what is there)",
        path, plugin ? plugin->line : sec->line, sec->name);
  } else {
    sd_errors *load_errs = sd_errors_new();
    st->plugin = loader_load(pl->ld, plugin->value, load_errs);
    for (size_t i = 0; i < sd_errors_count(load_errs); i++)
      sd_errors_add(errs, "%s:%d: stage \"%s\": %s", path, plugin->line, sec->name,
                    sd_errors_at(load_errs, i));
    sd_errors_free(load_errs);
  }
  if (st->plugin) {
    st->desc = &st->plugin->desc;
    const sd_config_key *tables[] = {cfg_core_stage_keys, st->desc->config_keys, NULL};
    size_t before = sd_errors_count(errs);
    st->values = cfg_values_build(pl->file, sec, st->plugin->name, tables, errs);
    if (sd_errors_count(errs) != before) stage_ok = 0;
  } else {
    /* Only for the graph checks: the plugin's own keys cannot be judged without it. */
    const sd_config_key *tables[] = {cfg_core_stage_keys, NULL};
    sd_errors *scratch = sd_errors_new();
    st->values = cfg_values_build(pl->file, sec, NULL, tables, scratch);
    sd_errors_free(scratch);
    stage_ok = 0;
  }
  st->input_name_count = cfg_get_list_count(st->values, "inputs");
  st->input_names = xcalloc(st->input_name_count + 1, sizeof *st->input_names);
  for (size_t i = 0; i < st->input_name_count; i++)
    st->input_names[i] = xstrdup(cfg_get_list_item(st->values, "inputs", i));
  const char *plugin_name = st->plugin ? st->plugin->name : "";
  st->origin.plugin = st->plugin ? st->plugin->name : NULL;
  const char *level = cfg_get_string(st->values, "log_level");
  st->origin.level = level ? log_parse_level(level) : -1;
  st->labels = stage_labels(st->name, plugin_name);
  st->asset_dir = xasprintf("%s/assets/%s", pl->plugin_dir, plugin_name);
  st->config_ok = stage_ok;
  return st;
}

static void add_edge(sd_stage ***list, size_t *count, sd_stage *st) {
  *list = xrealloc(*list, (*count + 1) * sizeof **list);
  (*list)[(*count)++] = st;
}

static int input_line(const sd_stage *st) {
  return cfg_is_set(st->values, "inputs") ? cfg_line(st->values, "inputs") : st->line;
}

/* Resolves input names and checks what each kind may be connected to. */
static void check_edges(pipeline *pl, sd_errors *errs) {
  const char *path = pl->file->path;
  for (size_t i = 0; i < pl->stage_count; i++) {
    sd_stage *st = pl->stages[i];
    int line = input_line(st);
    for (size_t j = 0; j < st->input_name_count; j++) {
      const char *name = st->input_names[j];
      sd_stage *in = find_stage(pl, name);
      if (!in) {
        char *known = xstrdup("");
        for (size_t k = 0; k < pl->stage_count; k++) {
          char *next = xasprintf("%s%s%s", known, k ? ", " : "", pl->stages[k]->name);
          free(known);
          known = next;
        }
        sd_errors_add(errs, "%s:%d: stage \"%s\": input \"%s\" names no stage (stages: %s)",
                      path, line, st->name, name, known);
        free(known);
        continue;
      }
      int twice = 0;
      for (size_t k = 0; k < j; k++) twice |= strcmp(st->input_names[k], name) == 0;
      if (twice) {
        sd_errors_add(errs, "%s:%d: stage \"%s\": input \"%s\" is listed twice", path, line,
                      st->name, name);
        continue;
      }
      if (in->desc && in->desc->kind == SD_KIND_SINK) {
        sd_errors_add(errs,
                      "%s:%d: stage \"%s\": input \"%s\" is a sink (%s), which has no output: "
                      "use a source or query stage",
                      path, line, st->name, name, in->plugin->name);
        continue;
      }
      stage_connect(in, st);
    }
    if (!st->desc) continue;
    if (st->desc->kind == SD_KIND_SOURCE && st->input_name_count > 0)
      sd_errors_add(errs, "%s:%d: stage \"%s\" (%s): a source takes no inputs: remove inputs",
                    path, line, st->name, st->plugin->name);
    if (st->desc->kind != SD_KIND_SOURCE && st->input_name_count == 0)
      sd_errors_add(
          errs,
          "%s:%d: stage \"%s\" (%s): a %s stage needs inputs: add inputs = STAGE[, STAGE…]",
          path, st->line, st->name, st->plugin->name, loader_kind_name(st->desc->kind));
  }
}

/* Depth-first search along outputs; a grey stage reached again closes a cycle. */
static void find_cycles_from(pipeline *pl, sd_stage *st, int *color, sd_stage **stack,
                             size_t depth, sd_errors *errs) {
  color[st->index] = 1;
  stack[depth] = st;
  for (size_t i = 0; i < st->output_count; i++) {
    sd_stage *next = st->outputs[i];
    if (color[next->index] == 0) {
      find_cycles_from(pl, next, color, stack, depth + 1, errs);
    } else if (color[next->index] == 1) {
      size_t start = 0;
      while (stack[start] != next) start++;
      char *text = xstrdup(next->name);
      for (size_t k = start + 1; k <= depth; k++) {
        char *more = xasprintf("%s -> %s", text, stack[k]->name);
        free(text);
        text = more;
      }
      char *closed = xasprintf("%s -> %s", text, next->name);
      sd_errors_add(errs, "%s:%d: stage \"%s\": inputs form a cycle: %s", pl->file->path,
                    input_line(next), next->name, closed);
      free(text);
      free(closed);
    }
  }
  color[st->index] = 2;
}

static int check_cycles(pipeline *pl, sd_errors *errs) {
  size_t before = sd_errors_count(errs);
  int *color = xcalloc(pl->stage_count, sizeof *color);
  sd_stage **stack = xcalloc(pl->stage_count + 1, sizeof *stack);
  for (size_t i = 0; i < pl->stage_count; i++)
    if (color[i] == 0) find_cycles_from(pl, pl->stages[i], color, stack, 0, errs);
  free(color);
  free(stack);
  return sd_errors_count(errs) != before;
}

static int compare_index(const void *a, const void *b) {
  size_t x = (*(sd_stage *const *)a)->index, y = (*(sd_stage *const *)b)->index;
  return x < y ? -1 : x > y;
}

/* Kahn's algorithm, stable in file order; levels are the longest path from a source. */
static void order_stages(pipeline *pl) {
  size_t n = pl->stage_count;
  size_t *missing = xcalloc(n, sizeof *missing);
  sd_stage **ordered = xcalloc(n, sizeof *ordered);
  for (size_t i = 0; i < n; i++) missing[i] = pl->stages[i]->input_count;
  size_t done = 0;
  while (done < n) {
    size_t pick = n;
    for (size_t i = 0; i < n && pick == n; i++)
      if (missing[i] == 0) pick = i;
    if (pick == n) break; /* a cycle: reported already */
    missing[pick] = (size_t)-1;
    sd_stage *st = pl->stages[pick];
    ordered[done++] = st;
    for (size_t j = 0; j < st->output_count; j++) {
      sd_stage *out = st->outputs[j];
      if (out->level < st->level + 1) out->level = st->level + 1;
      missing[out->index]--;
    }
  }
  if (done == n) {
    memcpy(pl->stages, ordered, n * sizeof *ordered);
    for (size_t i = 0; i < n; i++) pl->stages[i]->index = i;
    for (size_t i = 0; i < n; i++) {
      sd_stage *st = pl->stages[i];
      if (st->output_count > 1)
        qsort(st->outputs, st->output_count, sizeof *st->outputs, compare_index);
    }
  }
  free(missing);
  free(ordered);
}

/* ---- Listen addresses: every port the file asks for, checked before anything binds ---- */

typedef struct listener {
  char *who; /* `[sensord]` or `stage "x" (plugin)` */
  const char *key;
  const char *value;
  int line; /* of the key, or of the section header when the default applies */
  int is_default;
  struct sockaddr_storage addr;
} listener;

/* "p.ini:7" or "p.ini" (no line: a default with no section to point at). */
static char *where(const char *path, int line) {
  return line > 0 ? xasprintf("%s:%d", path, line) : xstrdup(path);
}

static char *describe(const char *path, const listener *l) {
  char *at = where(path, l->line);
  char *text = xasprintf("%s key \"%s\" = %s (%s%s)", l->who, l->key, l->value, at,
                         l->is_default ? ", the default" : "");
  free(at);
  return text;
}

/* admin_listen is opened by the core itself (admin.c), which needs a host: check it the
 * way admin_start() will read it, so -t and the start agree. */
static int check_admin_listen(const pipeline *pl, listener *out, sd_errors *errs) {
  if (strcmp(pl->admin_listen, "off") == 0) return 0;
  const cfg_values *v = pl->daemon_values;
  int line = cfg_line(v, "admin_listen");
  char *at = where(pl->file->path, line);
  char why[200];
  socklen_t len;
  const char *a = pl->admin_listen;
  int rc = la_parse_listen(a, &out->addr, &len, why, sizeof why);
  if (rc == 0 && (a[0] == ':' || strncmp(a, "*:", 2) == 0 || strncmp(a, "[]:", 3) == 0)) {
    snprintf(why, sizeof why, "needs a host (0.0.0.0 for every interface, but keep it local)");
    rc = -1;
  }
  if (rc != 0) {
    sd_errors_add(errs,
                  "%s: [sensord]: key \"admin_listen\": \"%s\": %s: use HOST:PORT such as "
                  "127.0.0.1:9180, or off",
                  at, a, why);
    free(at);
    return 0;
  }
  free(at);
  out->who = xstrdup("[sensord]");
  out->key = "admin_listen";
  out->value = pl->admin_listen;
  out->line = line;
  out->is_default = !cfg_is_set(v, "admin_listen");
  return 1;
}

/* Every listen key of every stage whose keys are valid, parsed; a value that does not parse
 * is left to the plugin's validate(), which words it (each listener plugin does). */
static void collect_stage_listeners(const pipeline *pl, listener **list, size_t *count,
                                    size_t *cap) {
  for (size_t i = 0; i < pl->stage_count; i++) {
    sd_stage *st = pl->stages[i];
    if (!st->config_ok || !st->desc->config_keys) continue;
    for (const sd_config_key *k = st->desc->config_keys; k->name; k++) {
      if (!cfg_is_listen_key(k)) continue;
      const char *value = cfg_get_string(st->values, k->name);
      if (!value || !*value || strcmp(value, "off") == 0) continue;
      listener l = {.key = k->name, .value = value};
      char why[200];
      socklen_t len;
      if (la_parse_listen(value, &l.addr, &len, why, sizeof why) != 0) continue;
      l.who = xasprintf("stage \"%s\" (%s)", st->name, st->plugin->name);
      l.line = cfg_line(st->values, k->name);
      l.is_default = !cfg_is_set(st->values, k->name);
      util_grow((void **)list, cap, *count + 1, sizeof **list);
      (*list)[(*count)++] = l;
    }
  }
}

static int compare_line(const void *a, const void *b) {
  const listener *x = a, *y = b;
  return (x->line > y->line) - (x->line < y->line);
}

/* Two listeners that could not both bind are an error at the later one, naming both. */
static void check_listeners(pipeline *pl, sd_errors *errs) {
  listener *list = NULL;
  size_t count = 0, cap = 0;
  util_grow((void **)&list, &cap, 1, sizeof *list);
  if (check_admin_listen(pl, &list[0], errs)) count = 1;
  collect_stage_listeners(pl, &list, &count, &cap);
  qsort(list, count, sizeof *list, compare_line);
  for (size_t j = 1; j < count; j++) {
    for (size_t i = 0; i < j; i++) {
      if (!la_same_bind(&list[i].addr, &list[j].addr)) continue;
      char *at = where(pl->file->path, list[j].line);
      char *first = describe(pl->file->path, &list[i]);
      sd_errors_add(errs,
                    "%s: %s: key \"%s\": %s%s would bind the same address and port as %s: "
                    "give one of them another port",
                    at, list[j].who, list[j].key, list[j].value,
                    list[j].is_default ? " (the default)" : "", first);
      free(at);
      free(first);
      break; /* one message per listener is enough */
    }
  }
  for (size_t i = 0; i < count; i++) free(list[i].who);
  free(list);
}

/* Tries to bind addr as the listener will (SO_REUSEADDR, IPv6 only for IPv6); 0 or errno. */
static int probe_bind(const struct sockaddr_storage *addr) {
  int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1, err = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr->ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  socklen_t len =
      addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, (const struct sockaddr *)addr, len) != 0) err = errno;
  close(fd);
  return err;
}

/* One listen key of the file at path, read without building the stage: the value as
 * written, else the key's default. Adds it to the list when it parses and is not off. */
static void add_file_listener(const cfg_section *sec, const char *who, const sd_config_key *k,
                              listener **list, size_t *count, size_t *cap) {
  const cfg_entry *e = sec ? cfg_section_entry(sec, k->name) : NULL;
  const char *value = e ? e->value : k->default_value;
  if (!value || !*value || strcmp(value, "off") == 0) return;
  listener l = {.key = k->name, .value = value, .is_default = !e};
  l.line = e ? e->line : sec ? sec->line : 0;
  char why[200];
  socklen_t len;
  if (la_parse_listen(value, &l.addr, &len, why, sizeof why) != 0) return;
  l.who = xstrdup(who);
  util_grow((void **)list, cap, *count + 1, sizeof **list);
  (*list)[(*count)++] = l;
}

void pipeline_probe_new_listeners(const pipeline *pl, const char *path, sd_errors *errs) {
  listener *held = NULL, *wanted = NULL;
  size_t held_count = 0, held_cap = 0, wanted_count = 0, wanted_cap = 0;
  sd_errors *scratch = sd_errors_new();
  util_grow((void **)&held, &held_cap, 1, sizeof *held);
  if (check_admin_listen(pl, &held[0], scratch)) held_count = 1;
  collect_stage_listeners(pl, &held, &held_count, &held_cap);
  cfg_file *file = cfg_file_load(path, scratch);
  if (file) {
    for (const sd_config_key *k = cfg_daemon_keys; k->name; k++)
      if (cfg_is_listen_key(k))
        add_file_listener(cfg_file_section(file, "sensord"), "[sensord]", k, &wanted,
                          &wanted_count, &wanted_cap);
    for (size_t i = 0; i < file->section_count; i++) {
      const cfg_section *sec = &file->sections[i];
      const cfg_entry *plugin = cfg_section_entry(sec, "plugin");
      if (strcmp(sec->name, "sensord") == 0 || !plugin) continue;
      /* Key tables of the plugins this pipeline runs; a plugin it does not run yet is
       * left to its start (loading it here would run its code in the daemon). */
      const sd_config_key *keys = NULL;
      for (size_t j = 0; j < pl->stage_count && !keys; j++)
        if (pl->stages[j]->plugin && strcmp(pl->stages[j]->plugin->name, plugin->value) == 0)
          keys = pl->stages[j]->desc->config_keys;
      if (!keys) continue;
      char *who = xasprintf("stage \"%s\" (%s)", sec->name, plugin->value);
      for (const sd_config_key *k = keys; k->name; k++)
        if (cfg_is_listen_key(k))
          add_file_listener(sec, who, k, &wanted, &wanted_count, &wanted_cap);
      free(who);
    }
  }
  for (size_t i = 0; i < wanted_count; i++) {
    const listener *w = &wanted[i];
    int ours = la_port(&w->addr) == 0;
    for (size_t j = 0; j < held_count && !ours; j++)
      ours = la_same_bind(&w->addr, &held[j].addr);
    if (ours) continue; /* released by the drain, or picked by the kernel */
    int err = probe_bind(&w->addr);
    if (err == 0) continue;
    char *at = where(path, w->line);
    sd_errors_add(errs, "%s: %s: key \"%s\": cannot bind %s%s: %s%s", at, w->who, w->key,
                  w->value, w->is_default ? " (the default)" : "", strerror(err),
                  err == EADDRINUSE ? " (another process holds it)" : "");
    free(at);
  }
  for (size_t i = 0; i < held_count; i++) free(held[i].who);
  for (size_t i = 0; i < wanted_count; i++) free(wanted[i].who);
  free(held);
  free(wanted);
  cfg_file_free(file);
  sd_errors_free(scratch);
}

pipeline *pipeline_load(const char *path, const char *plugin_dir_override, sd_errors *errs) {
  size_t before = sd_errors_count(errs);
  cfg_file *file = cfg_file_load(path, errs);
  if (!file) {
    if (sd_errors_count(errs) == before) sd_errors_add(errs, "%s: cannot read the file", path);
    return NULL;
  }
  pipeline *pl = xcalloc(1, sizeof *pl);
  pl->config_path = xstrdup(path);
  pl->file = file;
  const sd_config_key *daemon_tables[] = {cfg_daemon_keys, NULL};
  pl->daemon_values =
      cfg_values_build(file, cfg_file_section(file, "sensord"), NULL, daemon_tables, errs);
  pl->plugin_dir = pipeline_plugin_dir(pl->daemon_values, plugin_dir_override);
  const char *admin = cfg_get_string(pl->daemon_values, "admin_listen");
  pl->admin_listen = xstrdup(admin && *admin ? admin : "off");
  pl->grace_ns = cfg_get_duration(pl->daemon_values, "grace");
  pl->ld = loader_new(pl->plugin_dir);

  for (size_t i = 0; i < file->section_count; i++) {
    const cfg_section *sec = &file->sections[i];
    if (strcmp(sec->name, "sensord") == 0) continue;
    sd_stage *st = build_stage(pl, sec, errs);
    st->index = pl->stage_count;
    add_edge(&pl->stages, &pl->stage_count, st);
  }
  check_listeners(pl, errs);
  if (pl->stage_count == 0) {
    sd_errors_add(errs, "%s: no stages: add a section such as [gen] with plugin = source_gen",
                  path);
    return pl;
  }
  check_edges(pl, errs);
  if (!check_cycles(pl, errs)) order_stages(pl);
  return pl;
}

void pipeline_validate(pipeline *pl, sd_errors *errs) {
  for (size_t i = 0; i < pl->stage_count; i++) {
    sd_stage *st = pl->stages[i];
    /* A stage with errors already has values that are not trustworthy. */
    if (!st->config_ok || !st->desc->validate) continue;
    st->validate_errs = errs;
    size_t before = sd_errors_count(errs);
    sd_result r = st->desc->validate(host_api(), st);
    if (r != SD_OK && sd_errors_count(errs) == before)
      sd_errors_add(errs, "%s:%d: stage \"%s\" (%s): validate() failed without saying why",
                    pl->file->path, st->line, st->name, st->plugin->name);
    st->validate_errs = NULL;
  }
}

void pipeline_free(pipeline *pl) {
  if (!pl) return;
  for (size_t i = 0; i < pl->stage_count; i++) stage_free(pl->stages[i]);
  free(pl->stages);
  loader_free(pl->ld);
  cfg_values_free(pl->daemon_values);
  cfg_file_free(pl->file);
  free(pl->plugin_dir);
  free(pl->admin_listen);
  free(pl->config_path);
  free(pl);
}
