/* Running a loaded and validated pipeline: admin listener, init/start in order, waiting
 * for signals on a signalfd (SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR1/2 are ignored),
 * drain in pipeline order within [sensord] grace, destroy in reverse order. A reload
 * checks the file in a `sensord -t` child, then drains and re-executes the same binary. */
#ifndef SD_CORE_RUNTIME_H
#define SD_CORE_RUNTIME_H

#include "stage.h"

/* runtime_run's answer after a reload drained: free everything, then runtime_reexec(). */
#define RUNTIME_REEXEC (-1)

/* Blocks the daemon's signals (TERM, INT, HUP, USR1, USR2) in the calling thread (call
 * before any thread exists, so every thread inherits the mask and only the signalfd sees
 * them) and ignores SIGPIPE. */
void runtime_block_signals(void);
/* Keeps the command line for a reload (call first in main, before getopt reorders argv,
 * while there is one thread) and takes over the counters a previous image passed on. */
void runtime_set_argv(int argc, char **argv);
/* Returns the process exit code: 0 after a clean drain, 1 on a startup failure, or
 * RUNTIME_REEXEC after a reload drained. A second signal during the drain exits the
 * process at once with code 1. */
int runtime_run(pipeline *pl);
/* Replaces the process with the same binary and argv (the pid stays). Returns only when
 * the exec failed (logged): the exit code, 1. */
int runtime_reexec(void);

#endif
