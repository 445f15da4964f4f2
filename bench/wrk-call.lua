-- wrk script: each thread keeps one MCP session (ids from MCP_SESSIONS, comma-separated, one per thread)
-- and POSTs tools/call echo on it in a closed loop; answers that are not the echo are counted as errors.
local sessions = {}
for id in string.gmatch(os.getenv("MCP_SESSIONS") or "", "[^,]+") do sessions[#sessions + 1] = id end
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("session", sessions[((#threads - 1) % #sessions) + 1])
end

function init(args)
  calls = 0
  errors = 0
end

function request()
  calls = calls + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["Mcp-Session-Id"] = session,
    ["MCP-Protocol-Version"] = "2025-11-25",
  }, '{"jsonrpc":"2.0","id":' .. calls .. ',"method":"tools/call","params":{"name":"echo","arguments":{"message":"wrk"}}}')
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, "Echo: wrk", 1, true) then errors = errors + 1 end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("errors") end
  io.write(string.format("RESULT requests=%d seconds=%.3f errors=%d p50us=%d p99us=%d\n",
    summary.requests, summary.duration / 1e6, failed, latency:percentile(50), latency:percentile(99)))
end
