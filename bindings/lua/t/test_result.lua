-- SPDX-License-Identifier: MIT
-- The result of resty.smtpcore.client's send(): which reply decided a failure, and whole
-- multi-line replies. Against real peers on 127.0.0.1: the Lua sink (smtpcore's server),
-- Postfix's smtp-sink (refusals by command) and a scripted server playing Exim's replies.
local H = require "harness"
local socket = require "socket"
local client = require "resty.smtpcore.client"
local lsock = require "resty.smtpcore.socket"

local ROOT = os.getenv("SMTPCORE_ROOT") or "."

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

local function mailer(port, extra)
    local opts = { host = "127.0.0.1", port = port, helo_name = "client.example.org",
                   timeout = 5000, socket = lsock.tcp, keepalive = false }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(client.new(opts))
end

local function start_lua_sink()
    local dir = H.tmpdir()
    local portfile = dir .. "/port"
    local pid = H.spawn(string.format("LUA_PATH='%s' luajit %s/examples/lua/sink.lua --dir %s "
        .. "--port-file %s --idle-exit 60", package.path, ROOT, dir, portfile))
    local port = H.wait_for(function()
        local s = H.read_file(portfile)
        return s and tonumber(s:match("%d+"))
    end, 10, "sink port file")
    return port, dir, pid
end

--- Postfix's smtp-sink with extra options (e.g. "-f mail" refuses MAIL with 5xx).
local function start_smtp_sink(opts)
    local dir = H.tmpdir()
    os.execute("chmod 777 " .. dir)
    local port = H.free_port()
    local pid = H.spawn(string.format("/usr/sbin/smtp-sink %s %s -d %s/%%M. 127.0.0.1:%d 10",
        H.sink_user(), opts or "", dir, port))
    H.wait_for(function()
        local s = socket.connect("127.0.0.1", port)
        if s then s:close() return true end
    end, 10, "smtp-sink listening")
    return port, pid
end

local EHLO_PIPELINING = "250-script.example.net\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
    .. "250 ENHANCEDSTATUSCODES"

local function send1(port, to, extra)
    return mailer(port, extra):send({ from = "a@example.org", to = to,
                                      body = "Subject: t\r\n\r\nx\r\n" })
end

test("all recipients refused: the recipient's reply decides, not 554 no valid recipients", function()
    local port, _, pid = start_lua_sink()
    local res, err = send1(port, { "reject-a@example.org", "reject-b@example.org" })
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.failure, "permanent")
    H.eq(res.stage, "rcpt")
    H.eq(res.code, 550)
    H.eq(res.enhanced, "5.1.1")
    H.eq(res.text, "5.1.1 No such user here")
    H.eq(res.accepted, 0)
    H.kill(pid)
end)

test("MAIL refused (smtp-sink -f mail): the MAIL reply decides", function()
    local port, pid = start_smtp_sink("-f mail")
    local res, err = send1(port, "b@example.org")
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.stage, "mail")
    H.eq(res.failure, "permanent")
    H.eq(res.code, res.mail.code)
    H.ok(res.code >= 500 and res.code < 600, "5xx to MAIL: " .. tostring(res.code))
    H.eq(res.text, res.mail.text)
    H.kill(pid)
end)

test("recipient deferred (smtp-sink -r rcpt): the 4xx decides, failure transient", function()
    local port, pid = start_smtp_sink("-r rcpt")
    local res, err = send1(port, "b@example.org")
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.stage, "rcpt")
    H.eq(res.failure, "transient")
    H.ok(res.code >= 400 and res.code < 500, "4xx: " .. tostring(res.code))
    H.eq(res.code, res.recipients[1].code)
    H.kill(pid)
end)

test("scripted: MAIL 550 5.7.1 then 503s: the 550 decides", function()
    local port, _, pid = H.script_server({
        ehlo = EHLO_PIPELINING,
        mail = "550 5.7.1 sender blocked",
        rcpt = "503 5.5.1 Error: need MAIL command",
        data = "503 5.5.1 Error: need MAIL command",
    })
    local res, err = send1(port, { "b@example.org", "c@example.org" })
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.stage, "mail")
    H.eq(res.failure, "permanent")
    H.eq(res.code, 550)
    H.eq(res.enhanced, "5.7.1")
    H.eq(res.text, "5.7.1 sender blocked")
    H.kill(pid)
end)

test("scripted: one recipient 450, the other 550, DATA 554: the 450 decides (retry)", function()
    local port, _, pid = H.script_server({
        ehlo = EHLO_PIPELINING,
        rcpt = { "550 5.1.1 No such user", "450 4.2.0 Greylisted, try later" },
        data = "554 5.5.1 Error: no valid recipients",
    })
    local res, err = send1(port, { "b@example.org", "c@example.org" })
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.stage, "rcpt")
    H.eq(res.failure, "transient")
    H.eq(res.code, 450)
    H.eq(res.enhanced, "4.2.0")
    H.eq(res.text, "4.2.0 Greylisted, try later")
    H.eq(res.recipients[1].code, 550)
    H.eq(res.recipients[2].code, 450)
    H.kill(pid)
end)

test("scripted Exim: multi-line final reply is whole (queue id on the last line)", function()
    local port, log, pid = H.script_server({
        ehlo = EHLO_PIPELINING,
        dot = "250-Accepted: message is queued\r\n250 OK id=1tXyZq-0001Ab-Cd",
    })
    local res, err = send1(port, "b@example.org")
    H.ok(res, err)
    H.eq(res.ok, true)
    H.eq(res.stage, nil, "no stage on success")
    H.eq(res.code, 250)
    H.eq(res.text, "Accepted: message is queued\nOK id=1tXyZq-0001Ab-Cd")
    H.eq(#res.lines, 2)
    H.eq(res.lines[2], "OK id=1tXyZq-0001Ab-Cd")
    H.contains(H.read_file(log), "D: x")
    H.kill(pid)
end)

test("scripted Exim: all RCPT refused, multi-line 503 to DATA; the 550 decides", function()
    local port, _, pid = H.script_server({
        ehlo = EHLO_PIPELINING,
        rcpt = "550 relay not permitted",
        data = "503-All RCPT commands were rejected with this error:\r\n"
            .. "503-550 relay not permitted\r\n503 Valid RCPT command must precede DATA",
    })
    local res, err = send1(port, "b@example.org")
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.stage, "rcpt")
    H.eq(res.failure, "permanent")
    H.eq(res.code, 550)
    H.eq(res.enhanced, nil, "no enhanced code in the reply")
    H.eq(res.text, "relay not permitted")
    H.kill(pid)
end)

test("scripted: message refused after the dot: the dot's reply decides", function()
    local port, _, pid = H.script_server({
        ehlo = EHLO_PIPELINING,
        dot = "554-5.7.1 Message rejected as spam\r\n554 5.7.1 see https://example.net/why",
    })
    local res, err = send1(port, "b@example.org")
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.stage, "data")
    H.eq(res.failure, "permanent")
    H.eq(res.code, 554)
    H.eq(res.enhanced, "5.7.1")
    H.eq(res.text, "5.7.1 Message rejected as spam\n5.7.1 see https://example.net/why")
    H.eq(res.accepted, 1)
    H.kill(pid)
end)

test("scripted: DATA command refused: stage data, its reply at the top", function()
    local port, _, pid = H.script_server({
        ehlo = EHLO_PIPELINING,
        data = "451 4.3.0 Try again later",
    })
    local res, err = send1(port, "b@example.org")
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.stage, "data")
    H.eq(res.failure, "transient")
    H.eq(res.code, 451)
    H.eq(res.text, "4.3.0 Try again later")
    H.kill(pid)
end)

test("send_many: each result names its deciding reply", function()
    local port, _, pid = start_lua_sink()
    local results, err = mailer(port):send_many({
        { from = "a@example.org", to = "reject-x@example.org", body = "1\r\n" },
        { from = "a@example.org", to = "b@example.org", body = "2\r\n" },
    })
    H.ok(results, err)
    H.eq(results[1].ok, false)
    H.eq(results[1].stage, "rcpt")
    H.eq(results[1].code, 550)
    H.eq(results[1].enhanced, "5.1.1")
    H.eq(results[2].ok, true)
    H.eq(results[2].code, 250)
    H.kill(pid)
end)

test("scripted, no PIPELINING: MAIL refused, no RCPT or DATA sent", function()
    local port, log, pid = H.script_server({ ehlo = "250 script.example.net",
                                             mail = "553 5.1.8 sender domain unknown" })
    local res, err = send1(port, { "b@example.org", "c@example.org" })
    H.ok(res, err)
    H.eq(res.stage, "mail")
    H.eq(res.code, 553)
    H.eq(res.enhanced, "5.1.8")
    H.eq(res.failure, "permanent")
    H.eq(res.recipients[1].failure, "not_sent")
    H.ok(not H.read_file(log):find("RCPT"), "no RCPT after a refused MAIL")
    H.kill(pid)
end)

test("scripted, no PIPELINING: every RCPT refused, no DATA; first refusal decides", function()
    local port, log, pid = H.script_server({ ehlo = "250 script.example.net",
        rcpt = { "550 5.1.1 unknown user b", "551 5.1.6 user c has moved" } })
    local res, err = send1(port, { "b@example.org", "c@example.org" })
    H.ok(res, err)
    H.eq(res.stage, "rcpt")
    H.eq(res.code, 550)
    H.eq(res.text, "5.1.1 unknown user b")
    H.eq(res.recipients[2].code, 551)
    H.ok(not H.read_file(log):find("C: DATA"), "no DATA without a recipient")
    H.kill(pid)
end)

test("local refusals name their stage too", function()
    local port, _, pid = start_lua_sink()
    local m = mailer(port)
    local res = assert(m:send({ from = "a@example.org", to = "b@example.org>\r\nDATA",
                                body = "x\r\n" }))
    H.eq(res.failure, "local")
    H.eq(res.stage, "rcpt")
    res = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n",
                          mail_params = { size = 1e12 } }))
    H.eq(res.ok, false)
    H.eq(res.failure, "local")
    H.eq(res.stage, "mail")
    H.kill(pid)
end)

test("examples/lua/send.lua prints the whole multi-line reply and the deciding stage", function()
    local port, _, pid = H.script_server({
        ehlo = EHLO_PIPELINING,
        rcpt = { "250 OK", "550 5.1.1 unknown" },
        dot = "250-Accepted: message is queued\r\n250 OK id=1tXyZq-0001Ab-Cd",
    })
    local dir = H.tmpdir()
    H.write_file(dir .. "/msg", "Subject: t\r\n\r\nx\r\n")
    local function run()
        local p = io.popen(string.format("LUA_PATH='%s' luajit %s/examples/lua/send.lua --host 127.0.0.1 "
            .. "--port %d --from a@example.org --to b@example.org --to c@example.org --timeout 5000 "
            .. "< %s/msg; echo rc=$?", package.path, ROOT, port, dir))
        local out = p:read("*a")
        p:close()
        return out
    end
    local out = run()
    H.match(out, "^accepted 250 Accepted: message is queued\n    OK id=1tXyZq%-0001Ab%-Cd\n")
    H.match(out, "c@example%.org%s+550 permanent")
    H.match(out, "rc=0\n$")
    H.kill(pid)
    port, _, pid = H.script_server({ ehlo = EHLO_PIPELINING, mail = "550 5.7.1 sender blocked",
                                     rcpt = "503 5.5.1 need MAIL", data = "503 5.5.1 need MAIL" })
    out = run()
    H.match(out, "^refused 550 5%.7%.1 sender blocked %[mail%]\n")
    H.match(out, "rc=1\n$")
    H.kill(pid)
end)

test("scripted, no 8BITMIME: BODY=7BIT contradicted by the data is refused before MAIL", function()
    local port, log, pid = H.script_server({ ehlo = "250-script.example.net\r\n250 PIPELINING" })
    local m = mailer(port, { keepalive = true })
    local res = assert(m:send({ from = "a@example.org", to = "b@example.org",
                                body = "caf\195\169\r\n", mail_params = { body = "7BIT" } }))
    H.eq(res.failure, "local")
    H.eq(res.stage, "mail")
    H.contains(res.message, "8BITMIME")
    res = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "plain\r\n" }))
    H.eq(res.ok, true, "the connection is still usable")
    H.eq(res.reused, true)
    lsock.drain_pools()
    H.kill(pid)
    local got = H.read_file(log)
    local _, mails = got:gsub("C: MAIL FROM", "")
    H.eq(mails, 1, "only the second message reached MAIL")
end)

-- The engine refuses an 8-bit body for a server without 8BITMIME (RFC 6152) when it was
-- not declared: for an iterator body, which the client cannot scan before MAIL, that is
-- the only check.
test("scripted, no 8BITMIME: an 8-bit iterator body is a local refusal, no dot sent", function()
    local port, log, pid = H.script_server({ ehlo = "250-script.example.net\r\n250 PIPELINING" })
    local parts = { "Subject: t\r\n\r\n", "caf\195\169\r\n" }
    local i = 0
    local res, err = mailer(port):send({ from = "a@example.org", to = "b@example.org",
        body = function() i = i + 1 return parts[i] end })
    H.ok(res, err)
    H.eq(res.ok, false)
    H.eq(res.failure, "local")
    H.eq(res.stage, "data")
    H.ok(res.violation or res.message, "a reason")
    H.kill(pid)
    H.ok(not (H.read_file(log) or ""):find("\nD: %.\n"), "the server never saw the final dot")
end)

return T
