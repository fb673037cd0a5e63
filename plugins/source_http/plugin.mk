# source_http: Sensor Logger HTTP push ingest (libmicrohttpd, jansson, zlib).
source_http_LIBS := -lmicrohttpd -ljansson -lz -lpthread
