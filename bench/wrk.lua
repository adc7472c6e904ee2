-- wrk script for bench/run.sh.
-- * Always: done() prints one machine-readable line, "BENCHJSON {...}", with the request count,
--   error counts (errors.status = responses with status >= 400) and latency percentiles in us.
-- * With BENCH_TOKENS=<file> (one JWT per line): every request carries the next token of the
--   file (each thread starts at a different offset), so a gateway must verify a token it has not
--   seen recently on every request. Requests are pre-formatted in init() to keep wrk's own
--   per-request cost low and identical for every target.

local tokens_file = os.getenv("BENCH_TOKENS")
local thread_count = 0

-- * With BENCH_DELAY_MS=<n>: each connection waits n ms after a response before its next
--   request, so the load is a rate well below what the server can take, the same for any server
--   that answers in much less than n ms.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

if tokens_file and tokens_file ~= "" then
  local reqs = nil
  local idx = 0

  function init(args)
    reqs = {}
    for line in io.lines(tokens_file) do
      if #line > 0 then
        reqs[#reqs + 1] = wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. line })
      end
    end
    -- Spread threads over the set: thread k starts k * 7919 tokens further on.
    idx = ((tid or 0) * 7919) % #reqs
  end

  function request()
    idx = idx % #reqs + 1
    return reqs[idx]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), latency.mean, math.floor(latency.max)))
end
