-- wrk script: POST the 1 KB JSON body in body.json with the 16 header
-- fields of a browser's JSON POST (browser-headers.txt; HEADERS=short
-- sends only content-type, as wrk adds host itself).
local f = assert(io.open(os.getenv("BODY_FILE") or "benches/gateway/body.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
if os.getenv("HEADERS") == "short" then
  wrk.headers["Content-Type"] = "application/json"
else
  for line in io.lines("benches/gateway/browser-headers.txt") do
    local name, value = line:match("^([^:]+): (.*)$")
    -- wrk sets host and content-length itself.
    if name and name ~= "host" and name ~= "content-length" then
      wrk.headers[name] = value
    end
  end
end
