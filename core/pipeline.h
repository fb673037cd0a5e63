/* Building a pipeline from its INI file: the [sensord] settings, one stage per other
 * section, plugins loaded and checked, keys validated, the graph (inputs, cycles, kinds)
 * checked and put in order, then each plugin's validate(). Every error is collected. */
#ifndef SD_CORE_PIPELINE_H
#define SD_CORE_PIPELINE_H

#include "errors.h"
#include "stage.h"

/* Loads path; plugin_dir_override (the -p option) wins over [sensord] plugin_dir. Returns
 * NULL only when the file cannot be read; otherwise a pipeline, with every problem found
 * in errs. The pipeline is runnable only when errs stayed empty. */
pipeline *pipeline_load(const char *path, const char *plugin_dir_override, sd_errors *errs);
/* Calls validate() of every stage whose plugin loaded and whose keys were valid. */
void pipeline_validate(pipeline *pl, sd_errors *errs);
void pipeline_free(pipeline *pl);

/* For a reload of the file at path (already checked): every listen address it asks for
 * that pl does not hold (nor covers with a wildcard) is tried with bind(), and each one
 * that cannot be bound (another process holds it, a privileged port) is added to errs as
 * `path:line: stage "x" (plugin): key "listen": cannot bind ...`. Only the key tables of
 * plugins pl runs are known: a stage of another plugin is not probed. */
void pipeline_probe_new_listeners(const pipeline *pl, const char *path, sd_errors *errs);

/* The plugin_dir a config file (may be NULL) or override selects; fresh string. */
char *pipeline_plugin_dir(const cfg_values *daemon_values, const char *override);

#endif
