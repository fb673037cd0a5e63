# out_sse: Server-Sent Events output and the dashboard. Only the SSE transport (sse.c) is
# its own: the hub, routes, stage glue and stream writer shared with out_websocket are
# lib/stream/, linked from the shared archive.
out_sse_SRCS := plugins/out_sse/sse.c
out_sse_LIBS := -lmicrohttpd -ljansson -lpthread -lm

# uPlot, pinned by package-lock.json, vendored next to the page so it works offline.
OUT_SSE_VENDOR := $(BUILD)/plugins/assets/out_sse/vendor
$(OUT_SSE_VENDOR)/%: node_modules/uplot/dist/%
	@mkdir -p $(dir $@)
	cp $< $@
ASSET_DEPS += $(OUT_SSE_VENDOR)/uPlot.iife.min.js $(OUT_SSE_VENDOR)/uPlot.min.css
