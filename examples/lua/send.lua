#!/usr/bin/env luajit
-- SPDX-License-Identifier: MIT
-- Sends one message read from standard input with resty.smtpcore.client in plain LuaJIT
-- (luasocket, luasec for TLS) and prints the per-recipient results.
--
-- Usage: luajit examples/lua/send.lua --host H [--port 25] --from A --to B [--to C ...]
--          [--helo NAME] [--starttls opportunistic|required|never] [--cafile CA.pem]
--          [--server-name NAME (the certificate's name; default the host)]
--          [--user U --password P] [--timeout MS] < message.eml
-- Exit status: 0 when the message was accepted for at least one recipient, 1 otherwise.
local client = require "resty.smtpcore.client"
local lsock = require "resty.smtpcore.socket"

local opts = { port = 25, helo_name = "localhost.localdomain", keepalive = false }
local to = {}
local from
local i = 1
while i <= #arg do
    local k, v = arg[i], arg[i + 1]
    if k == "--host" then opts.host = v
    elseif k == "--port" then opts.port = tonumber(v)
    elseif k == "--from" then from = v
    elseif k == "--to" then to[#to + 1] = v
    elseif k == "--helo" then opts.helo_name = v
    elseif k == "--starttls" then opts.starttls = v
    elseif k == "--cafile" then
        opts.socket = lsock.factory({ cafile = v })
        opts.ssl_verify = true
    elseif k == "--server-name" then opts.server_name = v
    elseif k == "--user" then opts.username = v
    elseif k == "--password" then opts.password = v
    elseif k == "--timeout" then opts.timeout = tonumber(v)
    else
        io.stderr:write("unknown option " .. tostring(k) .. "\n")
        os.exit(2)
    end
    i = i + 2
end
if not opts.host or not from or #to == 0 then
    io.stderr:write("usage: send.lua --host H --from A --to B [...] < message\n")
    os.exit(2)
end
opts.socket = opts.socket or lsock.tcp

local message = io.read("*a")
local res, err = client.send(opts, { from = from, to = to, body = message })
if not res then
    io.stderr:write("send: " .. tostring(err) .. "\n")
    os.exit(1)
end
-- On a refusal the top-level reply is the one that decided it (stage: mail, rcpt, data);
-- a multi-line reply is printed whole, one indented line per reply line.
print(string.format("%s %s %s%s", res.ok and "accepted" or "refused", tostring(res.code or "-"),
                    ((res.text or res.message or ""):gsub("\n", "\n    ")),
                    res.stage and (" [" .. res.stage .. "]") or ""))
for _, r in ipairs(res.recipients) do
    print(string.format("  %-40s %s %s", r.address, tostring(r.code or "-"), r.failure))
end
os.exit(res.ok and 0 or 1)
