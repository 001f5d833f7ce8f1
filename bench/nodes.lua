-- Spreads wrk's threads over several Gatehouse nodes: thread i connects to the i-th port of
-- BENCH_PORTS (comma-separated, on the URL's host; round robin when there are more threads).
-- Without BENCH_PORTS every thread connects to the URL's port. With BENCH_BODY set, POSTs that
-- JSON body (as post_json.lua). One wrk, so its latency percentiles cover every node.
local ports = {}
for port in string.gmatch(os.getenv("BENCH_PORTS") or "", "%d+") do
  ports[#ports + 1] = port
end
local threads = 0

function setup(thread)
  if #ports > 0 then
    thread.addr = wrk.lookup(wrk.host, ports[threads % #ports + 1])[1]
  end
  threads = threads + 1
end

local body = os.getenv("BENCH_BODY")
if body then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
