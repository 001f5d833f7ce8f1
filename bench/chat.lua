-- POST /v1/chat/completions with a small body (the fake upstream's echo model).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"fake/echo","messages":[{"role":"user","content":"hello"}]}'
