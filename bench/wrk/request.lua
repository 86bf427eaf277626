-- wrk script for bench/run. The URL gives the path; the environment gives the rest:
--   MP_WRK_METHOD (GET), MP_WRK_BODY (a JSON body, sent as application/json),
--   MP_WRK_IDS=N (append a random id 1..N to the path, one per request).
-- done() prints one machine-readable line that bench/run parses.
local method = os.getenv("MP_WRK_METHOD") or "GET"
local body = os.getenv("MP_WRK_BODY")
local ids = tonumber(os.getenv("MP_WRK_IDS") or "0")

wrk.method = method
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

-- Only a dynamic path needs a Lua call per request; a static request is built once by wrk itself.
if ids > 0 then
  math.randomseed(os.time())
  request = function()
    return wrk.format(nil, wrk.path .. math.random(1, ids))
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("mp-wrk requests=%d seconds=%.3f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
