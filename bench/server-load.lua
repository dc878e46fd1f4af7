-- wrk script for bench/server-load.sh. ESYNC_WRK_MODE=post: POST /api/test-items with a unique
-- title per request (thread id + counter); anything else: plain GETs of the URL given to wrk.
-- done() prints one machine-readable line, "WRKJSON {...}", that the shell script parses.
local mode = os.getenv("ESYNC_WRK_MODE") or "get"
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local counter = 0
function request()
  if mode ~= "post" then
    return wrk.format("GET", nil)
  end
  counter = counter + 1
  local body = string.format('{"title":"bench %d-%d-%d","completed":%s}',
    tid or 0, counter, os.time(), counter % 2 == 0 and "true" or "false")
  return wrk.format("POST", "/api/test-items", { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
