/* sensord command line: run a pipeline (-c), check it (-t), list and describe plugins,
 * print the version. Everything else lives in libsensordcore. */
#include "config.h"
#include "errors.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "plugin_info.h"
#include "runtime.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
  fprintf(out,
          "usage: sensord -c FILE             run the pipeline in FILE\n"
          "       sensord -c FILE -t          check FILE and its plugins (no init, no ports)\n"
          "       sensord --list-plugins      list the plugins in the plugin directory\n"
          "       sensord --plugin-info NAME [--format=text|markdown]\n"
          "                                   describe a plugin and every config key\n"
          "       sensord --core-info [--format=text|markdown]\n"
          "                                   the [sensord] keys and the keys of every stage\n"
          "       sensord --version | --help\n"
          "options:\n"
          "  -c, --config FILE      pipeline file (INI)\n"
          "  -t, --check            validate and exit: 0 = ok, 1 = errors (all are printed)\n"
          "  -p, --plugin-dir DIR   overrides [sensord] plugin_dir (default: the build tree's\n"
          "                         plugins beside the executable, else %s)\n",
          SENSORD_LIBDIR);
}

/* plugin_dir for the listing commands: -p, else the config file's, else the default. */
static char *listing_dir(const char *override, const char *config) {
  if (override || !config) return pipeline_plugin_dir(NULL, override);
  sd_errors *errs = sd_errors_new();
  cfg_file *file = cfg_file_load(config, errs);
  cfg_values *values = NULL;
  if (file) {
    const sd_config_key *tables[] = {cfg_daemon_keys, NULL};
    values = cfg_values_build(file, cfg_file_section(file, "sensord"), NULL, tables, errs);
  }
  char *dir = pipeline_plugin_dir(values, NULL);
  cfg_values_free(values);
  cfg_file_free(file);
  sd_errors_free(errs);
  return dir;
}

static int check_or_run(const char *config, const char *plugin_dir, int check_only) {
  if (!check_only) runtime_block_signals(); /* before any thread, plugins' included */
  sd_errors *errs = sd_errors_new();
  pipeline *pl = pipeline_load(config, plugin_dir, errs);
  /* Every stage whose own keys are good is validated even when others are not, so one
   * run of -t reports every error in the file. */
  if (pl) pipeline_validate(pl, errs);
  int code;
  if (sd_errors_count(errs) > 0) {
    sd_errors_sort_by_line(errs);
    sd_errors_print(errs, stderr);
    if (!check_only)
      LOG_ERROR("%s: %zu configuration error%s: not starting", config, sd_errors_count(errs),
                sd_errors_count(errs) == 1 ? "" : "s");
    code = 1;
  } else if (check_only) {
    printf("%s: configuration ok (%zu stages, plugins from %s)\n", config, pl->stage_count,
           pl->plugin_dir);
    code = 0;
  } else {
    code = runtime_run(pl);
  }
  pipeline_free(pl);
  sd_errors_free(errs);
  metrics_reset();
  log_shutdown();
  if (code == RUNTIME_REEXEC) code = runtime_reexec();
  return code;
}

int main(int argc, char **argv) {
  enum { OPT_LIST = 256, OPT_INFO, OPT_CORE, OPT_FORMAT };
  static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                          {"check", no_argument, NULL, 't'},
                                          {"plugin-dir", required_argument, NULL, 'p'},
                                          {"list-plugins", no_argument, NULL, OPT_LIST},
                                          {"plugin-info", required_argument, NULL, OPT_INFO},
                                          {"core-info", no_argument, NULL, OPT_CORE},
                                          {"format", required_argument, NULL, OPT_FORMAT},
                                          {"version", no_argument, NULL, 'V'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  runtime_set_argv(argc, argv);
  const char *config = NULL, *plugin_dir = NULL, *info_name = NULL;
  int check = 0, list = 0, core = 0;
  info_format format = INFO_TEXT;
  int opt;
  while ((opt = getopt_long(argc, argv, "c:tp:Vh", options, NULL)) != -1) {
    switch (opt) {
    case 'c':
      config = optarg;
      break;
    case 't':
      check = 1;
      break;
    case 'p':
      plugin_dir = optarg;
      break;
    case OPT_LIST:
      list = 1;
      break;
    case OPT_INFO:
      info_name = optarg;
      break;
    case OPT_CORE:
      core = 1;
      break;
    case OPT_FORMAT:
      if (strcmp(optarg, "markdown") == 0)
        format = INFO_MARKDOWN;
      else if (strcmp(optarg, "text") == 0)
        format = INFO_TEXT;
      else {
        fprintf(stderr, "sensord: --format %s: expected text or markdown\n", optarg);
        return 2;
      }
      break;
    case 'V':
      printf("sensord %s (plugin ABI %d.%d)\n", SENSORD_VERSION, SD_ABI_MAJOR, SD_ABI_MINOR);
      return 0;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "sensord: unexpected argument \"%s\"\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  if (core) return info_core(format, stdout);
  if (list || info_name) {
    char *dir = listing_dir(plugin_dir, config);
    int code = info_name ? info_plugin(dir, info_name, format, stdout, stderr)
                         : info_list_plugins(dir, stdout, stderr);
    free(dir);
    return code;
  }
  if (!config) {
    fprintf(stderr,
            "sensord: no pipeline file: use -c FILE (etc/pipeline.ini is an example)\n");
    usage(stderr);
    return 2;
  }
  return check_or_run(config, plugin_dir, check);
}
