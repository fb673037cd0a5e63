/* Plugin loader (see loader.h). The order of the checks matters: nothing past the magic
 * is meaningful for a foreign file, and nothing past the major for another ABI, so each
 * check only reads fields that the previous ones proved trustworthy. */
#include "loader.h"

#include "config.h"
#include "util.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SENSORD_LIBDIR
#define SENSORD_LIBDIR "/usr/local/lib/sensord/abi-1"
#endif

struct loader {
  char *dir;
  loader_plugin **plugins;
  size_t count, cap;
};

loader *loader_new(const char *plugin_dir) {
  loader *ld = xcalloc(1, sizeof *ld);
  ld->dir = xstrdup(plugin_dir);
  return ld;
}

void loader_free(loader *ld) {
  if (!ld) return;
  for (size_t i = 0; i < ld->count; i++) {
    loader_plugin *p = ld->plugins[i];
    /* Loaded plugins stay mapped to the end: the process is exiting, and unloading would
     * drop the symbols leak checkers (LSan, valgrind) need, and would turn what the
     * plugins' libraries keep in globals (librdkafka's libsasl2 init) into false leaks. */
    free(p->name);
    free(p->path);
    free(p->dir);
    free(p);
  }
  free(ld->plugins);
  free(ld->dir);
  free(ld);
}

const char *loader_dir(const loader *ld) {
  return ld->dir;
}

const char *loader_kind_name(uint32_t kind) {
  switch (kind) {
  case SD_KIND_SOURCE:
    return "source";
  case SD_KIND_QUERY:
    return "query";
  case SD_KIND_SINK:
    return "sink";
  default:
    return "unknown";
  }
}

/* Minimum descriptor size for each published minor of this major. */
static size_t descriptor_size_for_minor(unsigned minor) {
  (void)minor; /* 1.1 only gave meaning to a bit of flags: the layout is still 1.0's */
  return sizeof(sd_plugin_descriptor);
}

static const char *traits_text(uint32_t traits, char *buf, size_t len) {
  snprintf(buf, len, "%s %s", (traits & SD_TRAIT_PTR64) ? "64-bit" : "32-bit",
           (traits & SD_TRAIT_BIG_ENDIAN) ? "big-endian" : "little-endian");
  return buf;
}

static int name_is_safe(const char *name) {
  return name[0] != '\0' && !strchr(name, '/') && !strstr(name, "..");
}

/* Checks a descriptor that dlsym handed us; returns 0 or adds one error. */
static int check_descriptor(const char *name, const char *path, const sd_plugin_descriptor *d,
                            sd_errors *errs) {
  if (d->magic != SD_ABI_MAGIC) {
    sd_errors_add(errs,
                  "plugin \"%s\": bad magic 0x%08X (expected 0x%08X): not a sensord plugin",
                  name, d->magic, SD_ABI_MAGIC);
    return -1;
  }
  if (d->abi_major != SD_ABI_MAJOR) {
    sd_errors_add(errs,
                  "plugin \"%s\": built for ABI major %u, this sensord speaks ABI major %d: "
                  "rebuild the plugin against this sensord's plugin.h",
                  name, (unsigned)d->abi_major, SD_ABI_MAJOR);
    return -1;
  }
  if (!d->vendor || strcmp(d->vendor, SD_ABI_VENDOR) != 0) {
    sd_errors_add(errs,
                  "plugin \"%s\": built for vendor \"%s\", this sensord is \"%s\": "
                  "rebuild the plugin against this sensord's plugin.h",
                  name, d->vendor ? d->vendor : "(none)", SD_ABI_VENDOR);
    return -1;
  }
  if (d->build_traits != SD_BUILD_TRAITS) {
    char mine[32], theirs[32];
    sd_errors_add(
        errs,
        "plugin \"%s\": built for %s (traits 0x%X), this sensord is %s (traits 0x%X): "
        "rebuild the plugin for this machine",
        name, traits_text(d->build_traits, theirs, sizeof theirs), d->build_traits,
        traits_text(SD_BUILD_TRAITS, mine, sizeof mine), SD_BUILD_TRAITS);
    return -1;
  }
  if (d->abi_minor > SD_ABI_MINOR) {
    sd_errors_add(
        errs, "plugin \"%s\": needs ABI %d.%u but this sensord provides %d.%d: upgrade sensord",
        name, SD_ABI_MAJOR, (unsigned)d->abi_minor, SD_ABI_MAJOR, SD_ABI_MINOR);
    return -1;
  }
  size_t need = descriptor_size_for_minor(d->abi_minor);
  if (d->struct_size < need) {
    sd_errors_add(errs,
                  "plugin \"%s\": descriptor is %u bytes, ABI %d.%u needs at least %zu: "
                  "rebuild the plugin",
                  name, d->struct_size, SD_ABI_MAJOR, (unsigned)d->abi_minor, need);
    return -1;
  }
  (void)path;
  return 0;
}

/* Checks after the descriptor was copied: identity, kind, callbacks, config table. */
static int check_contents(const char *name, const sd_plugin_descriptor *d, sd_errors *errs) {
  if (!d->name) {
    sd_errors_add(errs,
                  "plugin \"%s\": descriptor has no name (expected \"%s\"): fix the plugin",
                  name, name);
    return -1;
  }
  if (strcmp(d->name, name) != 0) {
    sd_errors_add(errs,
                  "plugin \"%s\": descriptor name \"%s\" does not match the file name %s.so: "
                  "rename the file or fix the descriptor",
                  name, d->name, name);
    return -1;
  }
  if (d->kind != SD_KIND_SOURCE && d->kind != SD_KIND_QUERY && d->kind != SD_KIND_SINK) {
    sd_errors_add(errs,
                  "plugin \"%s\": unknown kind %u (expected %d source, %d query or %d sink): "
                  "fix the plugin",
                  name, d->kind, SD_KIND_SOURCE, SD_KIND_QUERY, SD_KIND_SINK);
    return -1;
  }
  const char *kind = loader_kind_name(d->kind);
  if (!d->init) {
    sd_errors_add(errs, "plugin \"%s\": a %s plugin must provide init(): fix the plugin", name,
                  kind);
    return -1;
  }
  if (d->kind != SD_KIND_SOURCE && !d->process) {
    sd_errors_add(errs, "plugin \"%s\": a %s plugin must provide process(): fix the plugin",
                  name, kind);
    return -1;
  }
  if (d->flags & ~SD_PLUGIN_KNOWN_FLAGS) {
    sd_errors_add(errs,
                  "plugin \"%s\": unknown descriptor flags 0x%X (ABI %d.%d knows 0x%X): fix "
                  "the plugin",
                  name, d->flags & ~SD_PLUGIN_KNOWN_FLAGS, SD_ABI_MAJOR, SD_ABI_MINOR,
                  SD_PLUGIN_KNOWN_FLAGS);
    return -1;
  }
  /* A slot a later minor gives meaning to: a plugin that sets one was built against a
   * header this sensord does not know, and would silently lose what it asked for. */
  for (size_t i = 0; i < sizeof d->reserved / sizeof d->reserved[0]; i++)
    if (d->reserved[i]) {
      sd_errors_add(errs,
                    "plugin \"%s\": descriptor slot reserved[%zu] is set (ABI %d.%d defines "
                    "none): rebuild the plugin against this sensord's plugin.h",
                    name, i, SD_ABI_MAJOR, SD_ABI_MINOR);
      return -1;
    }
  if (d->config_keys) {
    if (cfg_check_defaults(name, d->config_keys, errs) > 0) return -1;
  }
  return 0;
}

static loader_plugin *find_loaded(loader *ld, const char *name) {
  for (size_t i = 0; i < ld->count; i++)
    if (strcmp(ld->plugins[i]->name, name) == 0) return ld->plugins[i];
  return NULL;
}

const loader_plugin *loader_load(loader *ld, const char *name, sd_errors *errs) {
  if (!name_is_safe(name)) {
    sd_errors_add(errs,
                  "plugin \"%s\": invalid plugin name: use the file stem of a .so in %s, "
                  "without \"/\" or \"..\"",
                  name, ld->dir);
    return NULL;
  }
  loader_plugin *cached = find_loaded(ld, name);
  if (cached) return cached;

  char *path = xasprintf("%s/%s.so", ld->dir, name);
  struct stat st;
  if (stat(path, &st) != 0) {
    sd_errors_add(errs,
                  "plugin \"%s\": no %s.so in %s (sensord --list-plugins shows what is there)",
                  name, name, ld->dir);
    free(path);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    sd_errors_add(errs, "plugin \"%s\": %s is not a regular file: remove it from %s", name,
                  path, ld->dir);
    free(path);
    return NULL;
  }
  for (size_t i = 0; i < ld->count; i++) {
    if (ld->plugins[i]->dev == st.st_dev && ld->plugins[i]->ino == st.st_ino) {
      /* A link to a plugin already loaded under its own name. */
      sd_errors_add(errs,
                    "plugin \"%s\": descriptor name \"%s\" does not match the file name %s.so: "
                    "rename the file or fix the descriptor",
                    name, ld->plugins[i]->name, name);
      free(path);
      return NULL;
    }
  }

  dlerror();
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    sd_errors_add(errs, "plugin \"%s\": cannot load %s: %s", name, path,
                  why ? why : "unknown error");
    free(path);
    return NULL;
  }
  dlerror();
  void *sym = dlsym(handle, SD_PLUGIN_ENTRY_SYMBOL);
  if (!sym) {
    sd_errors_add(errs, "plugin \"%s\": %s is not a sensord plugin (no %s symbol)", name, path,
                  SD_PLUGIN_ENTRY_SYMBOL);
    goto fail;
  }
  sd_plugin_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry); /* object pointer to function pointer, POSIX-style */
  const sd_plugin_descriptor *d = entry();
  if (!d) {
    sd_errors_add(errs, "plugin \"%s\": %s() in %s returned no descriptor: fix the plugin",
                  name, SD_PLUGIN_ENTRY_SYMBOL, path);
    goto fail;
  }
  if (check_descriptor(name, path, d, errs) != 0) goto fail;

  loader_plugin *p = xcalloc(1, sizeof *p);
  size_t copy = d->struct_size < sizeof p->desc ? d->struct_size : sizeof p->desc;
  memcpy(&p->desc, d, copy);
  if (check_contents(name, &p->desc, errs) != 0) {
    free(p);
    goto fail;
  }
  p->name = xstrdup(name);
  p->path = path;
  p->dir = xstrdup(ld->dir);
  p->handle = handle;
  p->dev = st.st_dev;
  p->ino = st.st_ino;
  util_grow((void **)&ld->plugins, &ld->cap, ld->count + 1, sizeof *ld->plugins);
  ld->plugins[ld->count++] = p;
  return p;

fail:
  /* Nothing of a refused plugin ever ran beyond its entry function: safe to unload. */
#if !defined(__SANITIZE_ADDRESS__)
  dlclose(handle);
#endif
  free(path);
  return NULL;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char **loader_list_names(const char *plugin_dir, size_t *count) {
  DIR *dir = opendir(plugin_dir);
  *count = 0;
  if (!dir) return NULL;
  char **names = NULL;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(dir))) {
    size_t len = strlen(e->d_name);
    if (len <= 3 || strcmp(e->d_name + len - 3, ".so") != 0) continue;
    util_grow((void **)&names, &cap, *count + 1, sizeof *names);
    names[*count] = xstrdup(e->d_name);
    names[*count][len - 3] = '\0';
    (*count)++;
  }
  closedir(dir);
  if (*count) qsort(names, *count, sizeof *names, compare_names);
  if (!names) names = xcalloc(1, sizeof *names);
  return names;
}

void loader_free_names(char **names, size_t count) {
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
}

char *loader_default_dir(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *dir = xasprintf("%s/plugins", dirname(exe));
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return dir;
    free(dir);
  }
  return xstrdup(SENSORD_LIBDIR);
}
