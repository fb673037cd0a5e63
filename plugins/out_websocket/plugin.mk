# out_websocket: the same routes as out_sse over WebSocket. Only the WebSocket transport
# (ws.c) is its own: the hub, routes, stage glue and stream writer are lib/stream/, linked
# from the shared archive.
out_websocket_SRCS := plugins/out_websocket/ws.c
out_websocket_LIBS := -lmicrohttpd -ljansson -lwslay -lnettle -lpthread -lm

# It serves out_sse's dashboard: copy those files (and the vendored uPlot) beside it. These
# are run-time assets, not code: the one place a plugin.mk names another plugin's folder
# (tests/core/t_layout.sh allows plugins/<other>/static/).
OUT_WS_ASSETS := $(BUILD)/plugins/assets/out_websocket
OUT_WS_PAGE := $(notdir $(wildcard plugins/out_sse/static/*))
$(OUT_WS_ASSETS)/%: plugins/out_sse/static/%
	@mkdir -p $(dir $@)
	cp $< $@
$(OUT_WS_ASSETS)/vendor/%: node_modules/uplot/dist/%
	@mkdir -p $(dir $@)
	cp $< $@
ASSET_DEPS += $(OUT_WS_PAGE:%=$(OUT_WS_ASSETS)/%) $(OUT_WS_ASSETS)/vendor/uPlot.iife.min.js \
  $(OUT_WS_ASSETS)/vendor/uPlot.min.css
