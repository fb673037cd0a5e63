# out_sse: Server-Sent Events output and the dashboard. hub.c, rowjson.c, outs.c and web.c
# are shared with out_websocket (see plugins/out_websocket/plugin.mk).
out_sse_SRCS := plugins/out_sse/hub.c plugins/out_sse/rowjson.c plugins/out_sse/outs.c \
  plugins/out_sse/web.c plugins/out_sse/pump.c plugins/out_sse/sse.c
out_sse_LIBS := -lmicrohttpd -ljansson -lpthread -lm

# uPlot, pinned by package-lock.json, vendored next to the page so it works offline.
OUT_SSE_VENDOR := $(BUILD)/plugins/assets/out_sse/vendor
$(OUT_SSE_VENDOR)/%: node_modules/uplot/dist/%
	@mkdir -p $(dir $@)
	cp $< $@
ASSET_DEPS += $(OUT_SSE_VENDOR)/uPlot.iife.min.js $(OUT_SSE_VENDOR)/uPlot.min.css
