/* Running a loaded and validated pipeline: admin listener, init/start in order, waiting
 * for SIGTERM/SIGINT on a signalfd, drain in pipeline order within [sensord] grace,
 * destroy in reverse order. */
#ifndef SD_CORE_RUNTIME_H
#define SD_CORE_RUNTIME_H

#include "stage.h"

/* Blocks SIGTERM/SIGINT in the calling thread (call before any thread exists, so every
 * thread inherits the mask and only the signalfd sees them) and ignores SIGPIPE. */
void runtime_block_signals(void);
/* Returns the process exit code: 0 after a clean drain, 1 on a startup failure. A second
 * signal during the drain exits the process at once with code 1. */
int runtime_run(pipeline *pl);

#endif
