-- wrk script: GET /api/state at a paced total rate (env POLL_RATE, default 1000 req/s), as the
-- consoles polling the desk would. Run it with -t1 and -cN (N pollers, 8 in compare.sh).
--
-- wrk calls delay() after each response and waits that many ms before the connection's next
-- request. A fixed delay (8 ms per connection) gives less than the rate asked for, since the
-- response time and wrk's 1 ms timer granularity add to it; so the requests are put on a
-- schedule instead: slot k of the thread is due at t0 + k / POLL_RATE, and delay() returns the
-- time left until the next slot (0 when late). A server that falls more than 50 ms behind is not
-- hammered to catch up: the schedule restarts from now. The achieved rate is wrk's Requests/sec.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bd_timespec;
  int clock_gettime(int clk_id, bd_timespec *tp);
]]
local ts = ffi.new("bd_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local period, t0, k

function init(args)
  period = 1000 / tonumber(os.getenv("POLL_RATE") or "1000") -- ms between requests, per thread
  wrk.method = "GET"
end

function delay()
  local now = now_ms()
  if t0 == nil then
    t0, k = now, 0
  end
  k = k + 1
  local due = t0 + k * period
  if due < now - 50 then
    t0, k = now, 0
    return 0
  end
  local d = due - now
  if d < 0 then
    return 0
  end
  return math.floor(d + 0.5)
end
