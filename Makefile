# sensord build: the core binary, one shared object per plugins/<name>/, tests and tools.
# Plugins and test suites describe themselves in small fragments (plugins/*/plugin.mk,
# tests/*/test.mk) so adding one never means editing this file.

.DEFAULT_GOAL := all
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
SAN     ?=
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
ABI_MAJOR := $(shell sed -n 's/^\#define SD_ABI_MAJOR[[:space:]]*\([0-9][0-9]*\).*/\1/p' include/sensord/plugin.h)

# Quiet build lines ("CC core/flow.c"); V=1 shows the full commands.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n'
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
LIBDIR    = $(PREFIX)/lib/sensord/abi-$(ABI_MAJOR)
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Icore -DSENSORD_VERSION='"$(VERSION)"' \
            -DSENSORD_LIBDIR='"$(LIBDIR)"'
LDFLAGS  ?=
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
CFLAGS   += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=thread
# libtsan does not intercept C11 thrd_create/mtx_/cnd_ (librdkafka's threads crashed):
# pull core/tsan_c11threads.c, which maps them onto pthreads, into every executable.
LDFLAGS  += -Wl,--undefined=thrd_create
endif

PLUGIN_CFLAGS  := -fPIC -fvisibility=hidden
PLUGIN_LDFLAGS := -shared -Wl,-z,defs -Wl,-z,now

CORE_LIBS := -lmicrohttpd -ljansson -linih -ldl -lpthread -lm
CORE_SRCS := $(filter-out core/main.c,$(wildcard core/*.c))
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)

# lib/: the shared layer below the plugins (net, the HTTP front end, ...). Not part of the
# ABI: one position-independent static archive linked into the core and into every plugin
# that uses it; plugins see it as -Ilib.
SHARED_SRCS := $(wildcard lib/*/*.c)
SHARED_OBJS := $(SHARED_SRCS:%.c=$(BUILD)/pobj/%.o)
SHARED_LIB  := $(BUILD)/libsensordshared.a
CFLAGS      += -Ilib

ASSET_DEPS :=
PLUGINS := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/plugin.mk))))
-include $(wildcard plugins/*/plugin.mk)

PLUGIN_SOS := $(PLUGINS:%=$(BUILD)/plugins/%.so)

.PHONY: all run test check check-asan check-tsan valgrind valgrind-all install format fuzz bench clean deps deps-test assets
all: $(BUILD)/sensord $(PLUGIN_SOS) assets

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/pobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) $(CFLAGS) $(PLUGIN_CFLAGS) $($(word 2,$(subst /, ,$*))_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libsensordcore.a: $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(say) AR $@
	$(Q)ar rcs $@ $^

$(SHARED_LIB): $(SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(say) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/sensord: $(BUILD)/obj/core/main.o $(BUILD)/libsensordcore.a $(SHARED_LIB)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CORE_LIBS)

# One shared object per plugin folder; <name>_SRCS/<name>_LIBS come from its plugin.mk.
define PLUGIN_RULE
$(1)_SRCS ?= $$(wildcard plugins/$(1)/*.c)
$(BUILD)/plugins/$(1).so: $$($(1)_SRCS:%.c=$(BUILD)/pobj/%.o) $(SHARED_LIB)
	@mkdir -p $$(dir $$@)
	$$(say) LD $$@
	$$(Q)$$(CC) $$(LDFLAGS) $$(PLUGIN_LDFLAGS) -o $$@ $$^ $$($(1)_LIBS)
endef
$(foreach p,$(PLUGINS),$(eval $(call PLUGIN_RULE,$(p))))

# Static assets a plugin ships (plugins/<name>/static) land beside the plugins; a plugin.mk
# may add generated files (e.g. vendored npm assets) to ASSET_DEPS.
assets: $(ASSET_DEPS)
	@for p in $(PLUGINS); do if [ -d plugins/$$p/static ]; then \
	  mkdir -p $(BUILD)/plugins/assets/$$p && cp -r plugins/$$p/static/. $(BUILD)/plugins/assets/$$p/; fi; done

# ---- tests -------------------------------------------------------------------------
# A test.mk adds names to UNIT_TESTS and sets <name>_SRCS / <name>_LIBS.
UNIT_TESTS :=
-include $(wildcard tests/*/test.mk)

define UNIT_RULE
$(BUILD)/tests/$(1): $$($(1)_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libsensordcore.a $(SHARED_LIB)
	@mkdir -p $$(dir $$@)
	$$(say) LD $$@
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LIBS) $(CORE_LIBS) $$(shell pkg-config --libs check)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_RULE,$(t))))

TEST_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)
FIXTURE_SOS :=
-include tests/fixtures/fixtures.mk

test-build: all $(TEST_BINS) $(FIXTURE_SOS)

test: deps-test
	@$(MAKE) --no-print-directory test-build
	@BUILD=$(BUILD) tests/run.sh

check: test

check-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test

check-tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan SAN=thread test

valgrind: deps-test
	@$(MAKE) --no-print-directory test-build
	@BUILD=$(BUILD) VALGRIND=1 tests/run.sh unit

# Every test with sensord itself under valgrind (slow: waits scale by SD_TIME_SCALE).
valgrind-all: deps-test
	@$(MAKE) --no-print-directory test-build
	@BUILD=$(BUILD) VALGRIND=1 tests/run.sh

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/sensord -c etc/pipeline.ini

# ---- install -----------------------------------------------------------------------
# Configuration goes to /etc when installing into /usr (FHS), else under the prefix.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/include/sensord \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(SYSCONFDIR)/sensord
	install -m 755 $(BUILD)/sensord $(DESTDIR)$(PREFIX)/bin/sensord
	install -m 644 $(PLUGIN_SOS) $(DESTDIR)$(LIBDIR)/
	if [ -d $(BUILD)/plugins/assets ]; then cp -r $(BUILD)/plugins/assets $(DESTDIR)$(LIBDIR)/; fi
	install -m 644 include/sensord/plugin.h $(DESTDIR)$(PREFIX)/include/sensord/plugin.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@ABI_MAJOR@|$(ABI_MAJOR)|g' \
	  sensord.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sensord.pc
	install -m 644 etc/*.ini $(DESTDIR)$(SYSCONFDIR)/sensord/
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/usr/local/etc/|$(SYSCONFDIR)/|g' \
	  etc/sensord.service > $(DESTDIR)$(SYSCONFDIR)/sensord/sensord.service

# ---- tools -------------------------------------------------------------------------
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRCS)

fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk BUILD=$(BUILD) fuzz

bench:
	@bench/run.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
