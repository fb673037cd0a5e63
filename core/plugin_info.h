/* What `sensord --list-plugins`, `--plugin-info NAME` and `--core-info` print: the
 * descriptor and config-key tables as aligned text or as Markdown for docs/CONFIG.md. */
#ifndef SD_CORE_PLUGIN_INFO_H
#define SD_CORE_PLUGIN_INFO_H

#include <stdio.h>

typedef enum info_format { INFO_TEXT, INFO_MARKDOWN } info_format;

/* Each returns the process exit code. */
int info_list_plugins(const char *plugin_dir, FILE *out, FILE *err);
int info_plugin(const char *plugin_dir, const char *name, info_format format, FILE *out,
                FILE *err);
int info_core(info_format format, FILE *out);

#endif
