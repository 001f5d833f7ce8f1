#!/usr/bin/env bash
# Does usage-limit enforcement move the chat benchmark? Starts the test suite's fake upstream and
# a release gatehouse, then alternates wrk runs of POST /v1/chat/completions without any limit
# and with a project Requests limit plus an organization Cost limit (both far from reached).
# Usage: bench/chat_limits.sh [seconds per run, default 8] [rounds, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
rounds=${2:-2}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; wait 2> /dev/null || true; rm -rf "$work"' EXIT
python3 -c '
import sys, time
sys.path.insert(0, ".")
from tests.http.fake_upstream import FakeUpstream
u = FakeUpstream().start()
print(u.base_url, flush=True)
time.sleep(100000)' > "$work/upstream.url" &
for _ in $(seq 50); do [ -s "$work/upstream.url" ] && break; sleep 0.1; done
base=$(cat "$work/upstream.url")
printf '[[providers]]\nname = "fake"\nbase_url = "%s"\n\n[[providers.models]]\nname = "echo"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n' "$base" > "$work/gatehouse.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
init=$(build/release/gatehouse init --data-dir "$work/data" --json)
org=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["apiToken"]["secret"])' "$init")
org_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["organizationId"])' "$init")
build/release/gatehouse serve --config "$work/gatehouse.toml" --data-dir "$work/data" \
    --listen "127.0.0.1:$port" 2> "$work/serve.log" &
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
api="http://127.0.0.1:$port"
project=$(curl -sf -H "Authorization: Bearer $org" -H 'Content-Type: application/json' \
    -d '{"name":"bench"}' "$api/v1/organization/project")
pid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["projectId"])' "$project")
secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tokens"][0]["secret"])' "$project")
limits="$api/v2/usageLimits/organizations/$org_id"
run() {
  wrk -t1 -c16 -d"${seconds}s" -s bench/chat.lua -H "Authorization: Bearer $secret" \
      "$api/v1/chat/completions" | awk -v what="$1" '/Requests\/sec/ {print what, $2}'
}
for round in $(seq "$rounds"); do
  run "no-limit"
  p=$(curl -sf -H "Authorization: Bearer $org" -H 'Content-Type: application/json' -d \
      '{"subscriptionType":"Monthly","usageUnit":"Requests","hardLimit":1e12}' "$limits/projects/$pid/limits")
  o=$(curl -sf -H "Authorization: Bearer $org" -H 'Content-Type: application/json' -d \
      '{"subscriptionType":"Daily","usageUnit":"Cost","hardLimit":1e9}' "$limits/limits")
  run "limits"
  curl -sf -X DELETE -H "Authorization: Bearer $org" \
      "$limits/projects/$pid/limits/$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$p")" > /dev/null
  curl -sf -X DELETE -H "Authorization: Bearer $org" \
      "$limits/limits/$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$o")" > /dev/null
done
curl -sf -H "Authorization: Bearer $org" "$limits/projects/$pid/limits" |
  python3 -c 'import json,sys; print("project Requests limits used:", [l["usedAmount"] for l in json.load(sys.stdin)["limits"]])'
