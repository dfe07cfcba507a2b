-- A cross-check of `downwave loadgen` with wrk (Debian package `wrk`): the same
-- report load, a new client address for every request, from the documentation
-- prefix 2001:db8::/32 (one /64 each, consecutive clients in different /48s,
-- so each /48 sees one request in 65,536), so that a server trusting 127.0.0.1
-- as a proxy neither rate-limits nor de-duplicates it.
--
--   wrk -t2 -c128 -d1s http://127.0.0.1:8080/healthz
--   wrk -t2 -c128 -d1s -s benches/wrk/reports.lua http://127.0.0.1:8080/api/v1/reports -- BASE
--
-- BASE numbers the first client; give each run a new one (runs 2^25 apart
-- never share an address), or the server counts the repeats as duplicates.

local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local categories = {"login", "website", "app", "api", "other"}
local codes = {529, 500, 500}

function init(args)
  n = tonumber(args[1] or "0") + tid * 16777216
  wrk.method = "POST"
  wrk.path = "/api/v1/reports"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  wrk.headers["X-Forwarded-For"] =
    string.format("2001:db8:%x:%x::1", n % 65536, math.floor(n / 65536) % 65536)
  wrk.body = string.format('{"service":"claude","category":"%s","error_code":%d}',
    categories[n % 5 + 1], codes[n % 3 + 1])
  return wrk.format()
end
