# out_websocket: the same routes as out_sse over WebSocket. The hub, routing and stage glue
# are compiled from plugins/out_sse/;
# only ws.c is its own. The dashboard is out_sse's.
out_websocket_SRCS := plugins/out_sse/hub.c plugins/out_sse/rowjson.c plugins/out_sse/outs.c \
  plugins/out_sse/web.c plugins/out_sse/pump.c \
  plugins/out_websocket/ws.c
out_websocket_LIBS := -lmicrohttpd -ljansson -lwslay -lnettle -lpthread -lm

# It serves out_sse's dashboard: copy those files (and the vendored uPlot) beside it.
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
