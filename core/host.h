/* The host function table handed to every plugin (sd_host_api), filled entry by entry
 * from the core's modules. */
#ifndef SD_CORE_HOST_H
#define SD_CORE_HOST_H

#include <sensord/plugin.h>

const sd_host_api *host_api(void);

#endif
