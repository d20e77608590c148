-- SPDX-License-Identifier: MIT
-- resty.smtpcore.client with the xclient option: the cosocket client names the real
-- client to a server that offers XCLIENT (Postfix XCLIENT_README), as nginx's mail proxy
-- does. Against a scripted server on 127.0.0.1 that logs what it receives; the FFI call
-- itself (Client:xclient) refuses CR/LF in values.
local H = require "harness"
local smtpcore = require "resty.smtpcore"
local client = require "resty.smtpcore.client"
local lsock = require "resty.smtpcore.socket"

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

local EHLO_XCLIENT = "250-script.example.net\r\n250-PIPELINING\r\n"
    .. "250 XCLIENT NAME ADDR PORT PROTO HELO LOGIN"
local BODY = "Subject: t\r\n\r\nx\r\n"

local function send(port, xclient)
    local m = assert(client.new({ host = "127.0.0.1", port = port, timeout = 5000,
                                  helo_name = "relay.example.org", socket = lsock.tcp,
                                  keepalive = false, xclient = xclient }))
    return m:send({ from = "a@example.org", to = "b@example.org", body = BODY })
end

local function lines(log)
    local out = {}
    for l in (H.read_file(log) or ""):gmatch("[^\n]+") do out[#out + 1] = l end
    return out
end

test("xclient: XCLIENT before the transaction, EHLO again after the new 220", function()
    local port, log, pid = H.script_server({ ehlo = EHLO_XCLIENT,
                                             xclient = "220 script.example.net again" })
    local res, err = send(port, { ADDR = "192.0.2.1", PORT = "4711", NAME = "[UNAVAILABLE]",
                                  HELO = "client+1=x.example.org" })
    H.ok(res, err)
    H.eq(res.ok, true)
    local l = lines(log)
    H.eq(l[1], "C: EHLO relay.example.org")
    -- Names in sorted order; "+" and "=" in a value are xtext-encoded by the engine.
    H.eq(l[2], "C: XCLIENT ADDR=192.0.2.1 HELO=client+2B1+3Dx.example.org "
        .. "NAME=[UNAVAILABLE] PORT=4711")
    H.eq(l[3], "C: EHLO relay.example.org")
    H.match(l[4], "^C: MAIL FROM:<a@example.org>")
    H.kill(pid)
end)

test("xclient as a list of pairs keeps its order", function()
    local port, log, pid = H.script_server({ ehlo = EHLO_XCLIENT, xclient = "220 again" })
    local res, err = send(port, { { "PORT", "25" }, { "ADDR", "IPV6:2001:db8::1" } })
    H.ok(res, err)
    H.eq(lines(log)[2], "C: XCLIENT PORT=25 ADDR=IPV6:2001:db8::1")
    H.kill(pid)
end)

test("xclient: a server that does not offer it fails connect, nothing is sent", function()
    local port, log, pid = H.script_server({ ehlo = "250-script.example.net\r\n250 PIPELINING" })
    local res, err = send(port, { ADDR = "192.0.2.1" })
    H.eq(res, nil)
    H.contains(err, "does not offer XCLIENT")
    for _, l in ipairs(lines(log)) do
        H.ok(not l:find("MAIL", 1, true), "no MAIL sent: " .. l)
    end
    H.kill(pid)
end)

test("xclient refused (550 5.7.0): the error says so, no mail", function()
    local port, log, pid = H.script_server({ ehlo = EHLO_XCLIENT,
                                             xclient = "550 5.7.0 Insufficient authorization" })
    local res, err = send(port, { ADDR = "192.0.2.1" })
    H.eq(res, nil)
    H.contains(err, "XCLIENT refused: 550")
    for _, l in ipairs(lines(log)) do
        H.ok(not l:find("MAIL", 1, true), "no MAIL sent: " .. l)
    end
    H.kill(pid)
end)

test("Client:xclient refuses CR/LF in a value and bad names at the API", function()
    local c = assert(smtpcore.client_new({ helo_name = "x.example.org" }))
    -- Not ready yet: the call is refused (no greeting read), whatever the values.
    local ok, err = c:xclient({ ADDR = "192.0.2.1" })
    H.eq(ok, nil)
    H.ok(err, "error text")
    c:receive("220 s.example ESMTP\r\n")
    while tonumber(c:next_event().type) ~= smtpcore.CEV.NONE do end
    c:take_output()
    c:receive("250-s.example\r\n250 XCLIENT ADDR NAME\r\n")
    local ready = false
    for _ = 1, 10 do
        local t = tonumber(c:next_event().type)
        if t == smtpcore.CEV.READY then ready = true break end
        if t == smtpcore.CEV.NONE then break end
    end
    H.ok(ready, "READY after EHLO")
    local _, err2, rc = c:xclient({ NAME = "evil\r\nRSET" })
    H.eq(rc, smtpcore.ERR.INJECTION)
    H.ok(err2, "injection error text")
    local _, _, rc3 = c:xclient({ ["BAD NAME"] = "x" })
    H.eq(rc3, smtpcore.ERR.SYNTAX)
    H.ok(c:xclient({ ADDR = "192.0.2.1" }), "a good one is taken")
    H.match(c:take_output(), "^XCLIENT ADDR=192%.0%.2%.1\r\n$")
    c:close()
end)

return T
