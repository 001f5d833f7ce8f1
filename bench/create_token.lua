-- POST /v2/organization/tokens with a fresh name per request (scripts/bench-scale). The
-- Authorization header comes from wrk's -H option.
local counter = 0
local run_tag = tostring(os.time())
request = function()
  counter = counter + 1
  wrk.headers["Content-Type"] = "application/json"
  local body = '{"name":"bench-' .. run_tag .. '-' .. counter .. '"}'
  return wrk.format("POST", "/v2/organization/tokens", wrk.headers, body)
end
