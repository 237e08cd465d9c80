-- wrk script: POST /tv_renko_one with a fresh bar_id on every request (durable writes, no duplicates).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  secret = os.getenv("TV_WEBHOOK_SECRET") or "load-secret"
  prefix = os.getenv("RUN_ID") or tostring(os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/plain"
end

function request()
  counter = counter + 1
  local body = string.format('{"secret":"%s","asset":"ES","color":"%s","bar_id":"%s-%d-%d"}',
    secret, (counter % 2 == 0) and "green" or "red", prefix, tid, counter)
  return wrk.format(nil, "/tv_renko_one", nil, body)
end
