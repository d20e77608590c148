-- SPDX-License-Identifier: MIT
-- POSTs a file to a URL and prints "STATUS\n" then the response body (luasocket's HTTP
-- client, so the test needs no curl). Usage: luajit http_post.lua URL FILE
local http = require "socket.http"
local ltn12 = require "ltn12"

local url, file = arg[1], arg[2]
local f = assert(io.open(file, "rb"))
local body = f:read("*a")
f:close()

http.TIMEOUT = 20
local out = {}
local ok, status = http.request({
    url = url,
    method = "POST",
    headers = { ["content-type"] = "message/rfc822", ["content-length"] = #body },
    source = ltn12.source.string(body),
    sink = ltn12.sink.table(out),
})
if not ok then
    io.stderr:write("http_post: " .. tostring(status) .. "\n")
    os.exit(1)
end
io.write(status, "\n", table.concat(out))
