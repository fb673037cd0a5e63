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

/* The plugin_dir a config file (may be NULL) or override selects; fresh string. */
char *pipeline_plugin_dir(const cfg_values *daemon_values, const char *override);

#endif
