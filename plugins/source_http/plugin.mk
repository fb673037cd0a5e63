# source_http: Sensor Logger HTTP push ingest (libmicrohttpd, jansson, simdjson, zlib).
# ingest_fast.cpp (the simdjson fast path) is C++: the main Makefile compiles only .c, so
# its object is built here and listed among the sources (a .o passes through unchanged).
SOURCE_HTTP_FAST_OBJ := $(BUILD)/pobj/plugins/source_http/ingest_fast.o
source_http_SRCS := $(wildcard plugins/source_http/*.c) $(SOURCE_HTTP_FAST_OBJ)
source_http_LIBS := -lmicrohttpd -ljansson -lsimdjson -lz -lpthread -lstdc++ \
  -Wl,--version-script=plugins/source_http/exports.map

# Same optimisation and sanitizers as the C objects (SAN=1 adds -fsanitize=... to CFLAGS).
SOURCE_HTTP_CXXFLAGS = -std=c++17 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Werror \
  $(filter -fsanitize=% -fno-sanitize-recover=% -fno-omit-frame-pointer,$(CFLAGS))

$(SOURCE_HTTP_FAST_OBJ): plugins/source_http/ingest_fast.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(SOURCE_HTTP_CXXFLAGS) -MMD -MP -c $< -o $@
