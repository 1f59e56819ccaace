-- wrk script: POST the 1 KB JSON body in body.json to every request.
local f = assert(io.open(os.getenv("BODY_FILE") or "benches/gateway/body.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
