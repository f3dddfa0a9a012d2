-- wrk script of go run ./bench: what to send comes from the environment the bench sets.
--   BENCH_MODE   patient | doctors | patient-doctors | create | login
--   BENCH_TOKEN  access token (every mode but login)
--   BENCH_ID_LO, BENCH_ID_HI  the fixed patients' ids
--   BENCH_LOGIN  login body (login mode)
--   BENCH_RUN    a number unique to this wrk run (create mode: unique phone numbers)
--   BENCH_HIST   1: done() also prints the latency histogram, one line "BENCH_HIST us:count,..."
-- done() prints one line "BENCH_JSON {...}" that the bench parses.

local mode = os.getenv("BENCH_MODE")
local token = os.getenv("BENCH_TOKEN") or ""
local lo = tonumber(os.getenv("BENCH_ID_LO") or "1")
local hi = tonumber(os.getenv("BENCH_ID_HI") or "1")
local n = hi - lo + 1
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local counter = 0
local get_headers = { ["Authorization"] = "Bearer " .. token }
local post_headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local login_headers = { ["Content-Type"] = "application/json" }
local login_body = os.getenv("BENCH_LOGIN") or ""
local run = tonumber(os.getenv("BENCH_RUN") or "0")

-- What wrk sends costs the same CPUs the server and PostgreSQL use, so requests are formatted once:
-- the doctor list and login are static (no request() at all), and the GETs of one patient cycle
-- through the requests for the fixed ids, formatted in init. Only create formats each request.
local function patient_path(id)
  if mode == "patient" then
    return "/api/patients/" .. id .. "/"
  end
  return "/api/patients/" .. id .. "/doctors/"
end

if mode == "doctors" then
  wrk.method, wrk.path, wrk.headers = "GET", "/api/doctors/", get_headers
elseif mode == "login" then
  wrk.method, wrk.path, wrk.headers, wrk.body = "POST", "/api/auth/login/", login_headers, login_body
elseif mode == "patient" or mode == "patient-doctors" then
  local formatted = {}
  function init(args)
    for id = lo, hi do
      formatted[id] = wrk.format("GET", patient_path(id), get_headers)
    end
  end
  function request()
    counter = counter + 1
    return formatted[lo + ((counter * 7 + (tid or 0) * 13) % n)]
  end
elseif mode == "create" then
  function request()
    counter = counter + 1
    -- phone_number is unique per owner and at most 15 characters: wrk run, thread and counter.
    local body = string.format('{"name":"Bench %d","age":%d,"gender":"F","address":"%d Bench Road","phone_number":"%d-%d-%d"}',
      counter, counter % 90, counter, run, tid or 0, counter)
    return wrk.format("POST", "/api/patients/", post_headers, body)
  end
else
  error("unknown BENCH_MODE " .. tostring(mode))
end

function done(summary, latency, requests)
  local e = summary.errors
  if os.getenv("BENCH_HIST") == "1" then
    -- The latency histogram (microseconds: count), so that the bench can merge the histograms of
    -- several wrk processes into exact percentiles (-replicas). latency(i) is the i-th distinct
    -- latency and its count (#latency of them); each call scans from the smallest, which costs
    -- time after the run only.
    local bins = {}
    for i = 1, #latency do
      local us, c = latency(i)
      bins[i] = string.format("%d:%d", us, c)
    end
    io.write("BENCH_HIST " .. table.concat(bins, ",") .. "\n")
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
