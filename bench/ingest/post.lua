-- wrk script: every request POSTs one Sensor Logger batch of N readings (N = the first
-- script argument, default 100), shaped like the app's 100 Hz motion sensors: three
-- interleaved sensors, 19-digit nanosecond times, full-precision doubles.
-- usage: wrk -t1 -c16 -d10s --latency -s post.lua http://127.0.0.1:8000/phone-producer/ -- 100

local readings = 100

local function body(n)
  local names = { "accelerometeruncalibrated", "gyroscopeuncalibrated", "magnetometeruncalibrated" }
  local parts = {}
  -- 19-digit times as text: LuaJIT numbers are doubles and cannot hold them exactly
  local t = 201000000103
  local seed = 12345
  local function rnd()
    seed = (seed * 1103515245 + 12345) % 2147483648
    return (seed / 2147483648 - 0.5) * 20
  end
  for i = 0, n - 1 do
    local name = names[(i % 3) + 1]
    if i % 3 == 0 and i > 0 then t = t + 10000000 end
    parts[#parts + 1] = string.format(
      '{"name":"%s","time":1732435%012d,"values":{"z":%.17g,"y":%.17g,"x":%.17g}}',
      name, t, rnd(), rnd(), rnd())
  end
  return '{"messageId":17,"sessionId":"78e51061-7311-48a3-82ce-6f447ed4d57b",' ..
    '"deviceId":"cd613e30-d8f1-4adf-91b7-584a2265b1f5","payload":[' ..
    table.concat(parts, ",") .. "]}"
end

function init(args)
  readings = tonumber(args[1] or "100")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = body(readings)
end

-- Runs in the main Lua state (not the threads'), so it prints only what wrk measured.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d non2xx=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
