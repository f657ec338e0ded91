-- wrk script for scripts/benchmark.sh: POSTs binary-mode CloudEvents that consumer.java accepts
-- (valid data for each of its three types, in turn), each with an id of its own, so every request
-- takes the full path: decode, validate, dedupe, answer 202, one JSON log line.
-- usage: wrk -t2 -c32 -d15s -s tests/benchmark/events.lua http://127.0.0.1:8080/

local n = 0
local prefix = "wrk-"

function init(args)
  -- wrk runs one Lua state per thread: a random prefix keeps ids apart across threads and runs
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("wrk-%d-%08x-", os.time(), math.random(0, 0x7fffffff))
end

local kinds = {
  { "demo.event", function(i) return string.format('{"message":"benchmark event %d"}', i) end },
  { "user.created", function(i)
      return string.format('{"user_id":"u-%d","username":"user%d","email":"user%d@example.com"}', i, i, i) end },
  { "order.placed", function(i)
      return string.format('{"order_id":"o-%d","user_id":"u-%d","amount":%d.25,"items":[{"sku":"sku-%d","quantity":1}]}', i, i % 997, i % 500 + 1, i % 31) end },
}

function request()
  n = n + 1
  local kind = kinds[n % 3 + 1]
  return wrk.format("POST", nil, {
    ["ce-specversion"] = "1.0",
    ["ce-id"] = prefix .. n,
    ["ce-source"] = "/benchmark/wrk",
    ["ce-type"] = kind[1],
    ["ce-time"] = "2026-01-01T00:00:00Z",
    ["content-type"] = "application/json",
  }, kind[2](n))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d sock_err=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
