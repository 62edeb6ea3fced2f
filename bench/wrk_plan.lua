-- wrk script for bench/bench_platform.py: replays a request plan written by the bench.
--   wrk -t1 -cN -dTs -s bench/wrk_plan.lua URL -- PLAN TOKENS HOST [RATE]
-- PLAN: one request a line, "path<TAB>user index<TAB>If-None-Match value or empty".
-- TOKENS: one bearer token a line (user index 0 is the first line), or "-" for none.
-- Every request string is built once in init(); request() only hands the next one out,
-- so the generator's own CPU per request stays small. Statuses are counted per thread
-- and printed by done() as one "plan:" line the bench parses.
-- RATE (requests a second, optional): requests leave on a fixed schedule, RATE a second
-- over all connections (as wrk2's -R does), instead of each connection sending its next
-- request as soon as the last one is answered. A latency target holds at a throughput, and
-- a closed loop at saturation measures the queue its N connections make, not that. Latency
-- is still timed from each request's send: when the server falls behind, the schedule
-- catches up at most one second's worth at once, and the achieved rate shows the shortfall.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } zipbob_timespec;
int clock_gettime(int clock_id, zipbob_timespec *tp);
]])
local now_spec = ffi.new("zipbob_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, now_spec) -- CLOCK_MONOTONIC
  return tonumber(now_spec.tv_sec) * 1000 + tonumber(now_spec.tv_nsec) / 1e6
end
local interval_ms = nil -- nil: closed loop
local next_ms = nil

local requests = {}
local counter = 0
statuses = {}

function init(args)
  if args[4] and args[4] ~= "" then
    interval_ms = 1000 / tonumber(args[4])
  end
  local tokens = {}
  if args[2] ~= "-" then
    for line in io.lines(args[2]) do
      tokens[#tokens + 1] = line
    end
  end
  for line in io.lines(args[1]) do
    local path, user, etag = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = { Host = args[3], Accept = "application/json" }
    if #tokens > 0 then
      headers["Authorization"] = "Bearer " .. tokens[tonumber(user) + 1]
    end
    if etag ~= "" then
      headers["If-None-Match"] = etag
    end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
end

function delay()
  if not interval_ms then
    return 0
  end
  local now = now_ms()
  if not next_ms or next_ms < now - 1000 then
    next_ms = now
  end
  next_ms = next_ms + interval_ms
  return math.max(0, next_ms - now)
end

function request()
  counter = counter + 1
  if counter > #requests then
    counter = 1
  end
  return requests[counter]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests_)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(totals) do
    parts[#parts + 1] = status .. "=" .. count
  end
  local e = summary.errors
  io.write(string.format(
    "plan: requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d timeout=%d status=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status, table.concat(parts, ",")))
end
