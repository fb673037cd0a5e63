/* Plugin loader: finds <plugin_dir>/<name>.so, dlopens it and checks its descriptor field
 * by field (magic, major, vendor, traits, minor, size, name, kind, callbacks, defaults),
 * stopping at the first failure with a message that says what differs and how to fix it. */
#ifndef SD_CORE_LOADER_H
#define SD_CORE_LOADER_H

#include "errors.h"
#include <sensord/plugin.h>
#include <sys/types.h>

typedef struct loader_plugin {
  char *name;
  char *path;
  char *dir;
  void *handle; /* never dlclosed while the daemon runs */
  dev_t dev;
  ino_t ino;
  /* A zero-filled copy, so fields a plugin built against an older minor lacks read 0. */
  sd_plugin_descriptor desc;
} loader_plugin;

typedef struct loader loader;

loader *loader_new(const char *plugin_dir);
/* Closes every library: only after every stage was destroyed. */
void loader_free(loader *ld);
const char *loader_dir(const loader *ld);

/* Loads (or returns the already loaded) plugin `name`. On failure returns NULL and adds
 * one message `plugin "name": …` to errs (cfg_check_defaults may add one per key). */
const loader_plugin *loader_load(loader *ld, const char *name, sd_errors *errs);

/* Stems of every *.so file in the directory, sorted; NULL when it cannot be read. */
char **loader_list_names(const char *plugin_dir, size_t *count);
void loader_free_names(char **names, size_t count);

const char *loader_kind_name(uint32_t kind);

/* The default plugin directory: <dir of the executable>/plugins when that exists (a build
 * tree), else the compiled-in SENSORD_LIBDIR. Returns a fresh string. */
char *loader_default_dir(void);

#endif
