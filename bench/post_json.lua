-- POSTs the JSON body in the environment variable BENCH_BODY with the Authorization header
-- given to wrk (-H); used for the chat benchmarks.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
