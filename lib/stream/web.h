/* HTTP routing shared by out_sse and out_websocket: the dashboard's static files, the JSON
 * endpoints (/config.json, /streams, /healthz), CORS, and parsing of stream requests
 * before they are handed to the transport. */
#ifndef OUTS_WEB_H
#define OUTS_WEB_H

#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

enum MHD_Result web_access(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **con_cls);

void web_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe);

#endif
