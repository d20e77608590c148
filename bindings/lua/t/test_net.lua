-- SPDX-License-Identifier: MIT
-- resty.smtpcore.client in plain LuaJIT (luasocket through resty.smtpcore.socket) against
-- real servers on 127.0.0.1: the Lua example sink (examples/lua/sink.lua) and Postfix's
-- smtp-sink. Same code path as inside nginx; only the socket factory differs.
local H = require "harness"
local socket = require "socket"
local client = require "resty.smtpcore.client"
local lsock = require "resty.smtpcore.socket"

local ROOT = os.getenv("SMTPCORE_ROOT") or "."

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

local MESSAGE = "From: Alice <alice@example.org>\r\n"
    .. "To: Bob <bob@example.org>\r\n"
    .. "Subject: smtpcore from LuaJIT\r\n"
    .. "\r\n"
    .. "Hello Bob,\r\n"
    .. ".a line that starts with a dot\r\n"
    .. "..and one with two\r\n"
    .. "\r\n"
    .. "8bit: caf\195\169\r\n"

--- Starts the Lua sink; returns port, dir, pid.
local function start_lua_sink(extra)
    local dir = H.tmpdir()
    local portfile = dir .. "/port"
    local cmd = string.format("LUA_PATH='%s' luajit %s/examples/lua/sink.lua --dir %s "
        .. "--port-file %s --idle-exit 60 %s", package.path, ROOT, dir, portfile, extra or "")
    local pid = H.spawn(cmd)
    local port = H.wait_for(function()
        local s = H.read_file(portfile)
        return s and tonumber(s:match("%d+"))
    end, 10, "sink port file")
    return port, dir, pid
end

local function wait_message(dir, n)
    return H.wait_for(function() return H.read_file(dir .. "/" .. n .. ".eml") end, 10,
                      "stored message " .. n)
end

local function mailer(port, extra)
    local opts = { host = "127.0.0.1", port = port, helo_name = "client.example.org",
                   timeout = 5000, socket = lsock.tcp }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(client.new(opts))
end

test("send to the Lua sink: stored byte for byte, per-recipient results", function()
    local port, dir, pid = start_lua_sink()
    local m = mailer(port, { keepalive = false })
    local res, err = m:send({ from = "alice@example.org",
        to = { "bob@example.org", "reject-carol@example.org", "dave@example.org" },
        body = MESSAGE })
    H.ok(res, err)
    H.eq(res.ok, true, "message accepted")
    H.eq(res.code, 250)
    H.eq(res.accepted, 2)
    H.eq(res.total, 3)
    H.eq(res.mail.code, 250)
    H.eq(res.recipients[1].ok, true)
    H.eq(res.recipients[2].ok, false)
    H.eq(res.recipients[2].code, 550)
    H.eq(res.recipients[2].enhanced, "5.1.1")
    H.eq(res.recipients[2].failure, "permanent")
    H.eq(res.recipients[3].code, 250)
    H.eq(wait_message(dir, 1), MESSAGE, "stored message")
    H.eq(H.read_file(dir .. "/1.env"),
         "MAIL FROM:<alice@example.org>\nRCPT TO:<bob@example.org>\nRCPT TO:<dave@example.org>\n")
    H.kill(pid)
end)

test("injection attempts are refused locally and the connection stays usable", function()
    local port, dir, pid = start_lua_sink()
    local m = mailer(port, { keepalive = true })
    local res = assert(m:send({ from = "a@example.org",
        to = { "b@example.org", "c@example.org>\r\nRCPT TO:<evil@example.org" }, body = "x\r\n" }))
    H.eq(res.ok, false)
    H.eq(res.failure, "local")
    H.eq(res.recipients[2].failure, "local")
    res = assert(m:send({ from = "a@example.org>\r\nRSET", to = "b@example.org", body = "x\r\n" }))
    H.eq(res.failure, "local", "CR/LF in the sender")
    res = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "after\r\n" }))
    H.eq(res.ok, true)
    H.eq(res.reused, true, "the same connection carried on")
    H.eq(wait_message(dir, 1), "after\r\n", "nothing injected was stored")
    lsock.drain_pools()
    H.kill(pid)
end)

test("keepalive: the second message reuses the connection after NOOP", function()
    local port, dir, pid = start_lua_sink()
    local m = mailer(port, { keepalive = true, keepalive_timeout = 10000 })
    local r1 = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "One\r\n" }))
    H.eq(r1.ok, true)
    H.eq(r1.reused, false)
    H.eq(m:idle_count(), 1, "pooled after a clean end")
    local r2 = assert(m:send({ from = "a@example.org", to = "b@example.org",
                               body = { "Tw", "o\r\n" } }))
    H.eq(r2.ok, true)
    H.eq(r2.reused, true, "second send reused the pooled connection")
    H.eq(wait_message(dir, 2), "Two\r\n")
    -- The pool dropped the socket behind our back: the stale session must not be used.
    lsock.drain_pools()
    local r3 = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "3\r\n" }))
    H.eq(r3.reused, false, "fresh connection after the pool lost it")
    H.eq(wait_message(dir, 3), "3\r\n")
    lsock.drain_pools()
    H.kill(pid)
end)

test("a pooled connection the server closed is replaced", function()
    local port, dir, pid = start_lua_sink()
    local m = mailer(port, { keepalive = true })
    assert(m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" }))
    wait_message(dir, 1)
    H.kill(pid)
    socket.sleep(0.2)
    local port2, dir2, pid2 = start_lua_sink("--port " .. port)
    H.eq(port2, port)
    local r = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "y\r\n" }))
    H.eq(r.ok, true)
    H.eq(r.reused, false)
    H.eq(wait_message(dir2, 1), "y\r\n")
    lsock.drain_pools()
    H.kill(pid2)
end)

test("AUTH against the Lua sink", function()
    local port, dir, pid = start_lua_sink("--auth user:secret")
    local good = mailer(port, { username = "user", password = "secret", keepalive = false })
    local res, err = good:send({ from = "a@example.org", to = "b@example.org", body = "auth\r\n" })
    H.ok(res, err)
    H.eq(res.ok, true)
    H.eq(wait_message(dir, 1), "auth\r\n")
    local bad = mailer(port, { username = "user", password = "nope", keepalive = false })
    res, err = bad:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil, "refused")
    H.contains(err, "535")
    H.kill(pid)
end)

test("read timeout when the server never greets", function()
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    local m = mailer(tonumber(port), { read_timeout = 300, keepalive = false })
    local t0 = socket.gettime()
    local res, err = m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil)
    H.contains(err, "timeout")
    H.ok(socket.gettime() - t0 < 5, "gave up in bounded time")
    srv:close()
end)

test("connection refused is an error, not a hang", function()
    local port = H.free_port()
    local m = mailer(port, { connect_timeout = 1000 })
    local res, err = m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil)
    H.match(err, "^connect: ")
end)

test("check_reused = rset also reuses the connection", function()
    local port, dir, pid = start_lua_sink()
    local m = mailer(port, { check_reused = "rset" })
    assert(m:send({ from = "a@example.org", to = "b@example.org", body = "1\r\n" }))
    local r = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "2\r\n" }))
    H.eq(r.reused, true)
    H.eq(wait_message(dir, 2), "2\r\n")
    lsock.drain_pools()
    H.kill(pid)
end)

test("starttls = required against a server without STARTTLS fails before MAIL", function()
    local port, dir, pid = start_lua_sink()
    local m = mailer(port, { starttls = "required", keepalive = false })
    local res, err = m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil)
    H.match(err, "TLS", "error names TLS")
    socket.sleep(0.1)
    H.eq(H.read_file(dir .. "/1.eml"), nil, "nothing stored")
    H.kill(pid)
end)

--- A fake server: sends `script` to each connection (the readiness probe is the first),
--- keeps it open a moment, and exits after a few connections or 10 s idle.
local function start_fake(script)
    local port = H.free_port()
    local code = string.format([[
        local socket = require "socket"
        local srv = assert(socket.bind("127.0.0.1", %d))
        srv:settimeout(10)
        for _ = 1, 3 do
            local c = srv:accept()
            if not c then break end
            c:send(%q)
            socket.sleep(0.5)
            c:close()
        end
    ]], port, script)
    local pid = H.spawn("LUA_PATH='" .. package.path .. "' luajit -e '" .. code:gsub("'", "'\\''") .. "'")
    H.wait_for(function()
        local s = socket.connect("127.0.0.1", port)
        if s then s:close() return true end
    end, 10, "fake server")
    return port, pid
end

test("a malformed greeting is a clean error", function()
    local port, pid = start_fake("hello there\r\n")
    local m = mailer(port, { read_timeout = 2000, keepalive = false })
    local res, err = m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil)
    H.ok(err and not err:find("timeout"), "not a timeout: " .. tostring(err))
    H.kill(pid)
end)

test("421 at greeting is reported with its text", function()
    local port, pid = start_fake("421 4.3.2 Service shutting down\r\n")
    local m = mailer(port, { read_timeout = 2000, keepalive = false })
    local res, err = m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil)
    H.contains(err, "421")
    H.kill(pid)
end)

--- A self-signed certificate for "localhost" in dir (cert.pem doubles as the CA).
local function make_cert(dir)
    local rc = os.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
        .. "-addext subjectAltName=DNS:localhost -keyout " .. dir .. "/key.pem -out "
        .. dir .. "/cert.pem >/dev/null 2>&1")
    H.ok(rc == 0 or rc == true, "openssl req")
    return dir .. "/cert.pem", dir .. "/key.pem"
end

test("a server that hangs up after the greeting is a clean error", function()
    local port, pid = start_fake("220 fake.example.org ESMTP\r\n")
    local m = mailer(port, { read_timeout = 3000, keepalive = false })
    local t0 = socket.gettime()
    local res, err = m:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil)
    H.ok(not err:find("timeout"), "noticed the close, not a timeout: " .. err)
    H.ok(socket.gettime() - t0 < 2.5, "no wait for the read timeout")
    H.kill(pid)
end)

test("STARTTLS + AUTH from plain LuaJIT to the Lua sink (luasec on both ends)", function()
    local certdir = H.tmpdir()
    local cert, key = make_cert(certdir)
    local port, dir, pid = start_lua_sink("--auth user:secret --tls-cert " .. cert
                                          .. " --tls-key " .. key)
    local m = mailer(port, { starttls = "required", ssl_verify = true, server_name = "localhost",
                             username = "user", password = "secret",
                             socket = lsock.factory({ cafile = cert }) })
    local res, err = m:send({ from = "a@example.org", to = "b@example.org", body = MESSAGE })
    H.ok(res, err)
    H.eq(res.ok, true)
    H.eq(wait_message(dir, 1), MESSAGE)
    H.eq(H.read_file(dir .. "/1.env"),
         "MAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>\ntls=yes\nauth=user\n")
    -- The pooled TLS connection is reused without a second handshake.
    local r2 = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "tls 2\r\n" }))
    H.eq(r2.reused, true)
    H.eq(wait_message(dir, 2), "tls 2\r\n")
    lsock.drain_pools()
    -- A certificate for another name is refused when verifying.
    local wrong = mailer(port, { starttls = "required", ssl_verify = true,
                                 server_name = "mail.example.org", keepalive = false,
                                 socket = lsock.factory({ cafile = cert }) })
    res, err = wrong:send({ from = "a@example.org", to = "b@example.org", body = "x\r\n" })
    H.eq(res, nil)
    H.contains(err, "ssl handshake")
    H.kill(pid)
end)

test("examples/lua/send.lua sends stdin and reports per recipient", function()
    local port, dir, pid = start_lua_sink()
    local tmp = H.tmpdir()
    H.write_file(tmp .. "/msg", MESSAGE)
    local p = io.popen(string.format("LUA_PATH='%s' luajit %s/examples/lua/send.lua --host 127.0.0.1 "
        .. "--port %d --from a@example.org --to b@example.org --to reject-c@example.org "
        .. "--helo cli.example.org --timeout 5000 < %s/msg; echo rc=$?", package.path, ROOT,
        port, tmp))
    local out = p:read("*a")
    p:close()
    H.match(out, "^accepted 250 ")
    H.match(out, "reject%-c@example%.org%s+550 permanent")
    H.match(out, "rc=0\n$")
    H.eq(wait_message(dir, 1), MESSAGE)
    H.kill(pid)
end)

test("an 8-bit body to a server without 8BITMIME is refused before MAIL", function()
    local sink = "/usr/sbin/smtp-sink"
    local dir = H.tmpdir()
    os.execute("chmod 777 " .. dir)
    local port = H.free_port()
    local pid = H.spawn(string.format("%s %s -8 -d %s/%%M. 127.0.0.1:%d 10", sink, H.sink_user(),
                                      dir, port))
    H.wait_for(function()
        local s = socket.connect("127.0.0.1", port)
        if s then s:close() return true end
    end, 10, "smtp-sink listening")
    local m = mailer(port, { keepalive = false })
    local res = assert(m:send({ from = "a@example.org", to = "b@example.org", body = MESSAGE }))
    H.eq(res.ok, false)
    H.eq(res.failure, "local")
    H.contains(res.message, "8BITMIME")
    -- 7-bit content still goes through on the same kind of server.
    res = assert(m:send({ from = "a@example.org", to = "b@example.org", body = "plain\r\n" }))
    H.eq(res.ok, true)
    local permissive = mailer(port, { keepalive = false, allow_8bit = true })
    res = assert(permissive:send({ from = "a@example.org", to = "b@example.org", body = MESSAGE }))
    H.eq(res.ok, true, "allow_8bit sends it anyway")
    H.kill(pid)
end)

test("the Lua sink drops a client that pipelines after STARTTLS", function()
    local certdir = H.tmpdir()
    local cert, key = make_cert(certdir)
    local port, _, pid = start_lua_sink("--tls-cert " .. cert .. " --tls-key " .. key)
    local s = assert(socket.connect("127.0.0.1", port))
    s:settimeout(5)
    H.match(s:receive("*l"), "^220 ")
    s:send("EHLO x.example.org\r\n")
    local saw_starttls = false
    for _ = 1, 20 do
        local l = assert(s:receive("*l"))
        if l:find("STARTTLS") then saw_starttls = true end
        if l:sub(4, 4) == " " then break end
    end
    H.ok(saw_starttls, "STARTTLS offered")
    -- CVE-2011-0411 class: plaintext after STARTTLS in the same packet.
    s:send("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    local lines = {}
    for _ = 1, 5 do
        local l, err = s:receive("*l")
        if not l then
            H.eq(err, "closed")
            break
        end
        lines[#lines + 1] = l
    end
    local all = table.concat(lines, "\n")
    H.ok(not all:find("^220"), "no TLS offered to an injector: " .. all)
    H.ok(not all:find("250"), "the injected command was not run: " .. all)
    s:close()
    H.kill(pid)
end)

test("certificate name matching", function()
    local nm = lsock._name_matches
    H.eq(nm("localhost", "LOCALHOST"), true)
    H.eq(nm("*.example.org", "mx.example.org"), true)
    H.eq(nm("*.example.org", "a.mx.example.org"), false)
    H.eq(nm("*.org", "example.org"), false)
    H.eq(nm("mx.example.org", "example.org"), false)
end)

--- Postfix's smtp-sink dumping each message into a fresh directory; returns port, dir, pid.
local function start_smtp_sink()
    local sink = "/usr/sbin/smtp-sink"
    H.ok(io.open(sink), "smtp-sink installed (postfix)")
    local dir = H.tmpdir()
    os.execute("chmod 777 " .. dir)
    local port = H.free_port()
    local pid = H.spawn(string.format("%s %s -d %s/%%M. 127.0.0.1:%d 10", sink, H.sink_user(),
                                      dir, port))
    H.wait_for(function()
        local s = socket.connect("127.0.0.1", port)
        if s then s:close() return true end
    end, 10, "smtp-sink listening")
    return port, dir, pid
end

test("send to Postfix smtp-sink: dump holds the message", function()
    local port, dir, pid = start_smtp_sink()
    local m = mailer(port, { keepalive = false })
    local res, err = m:send({ from = "alice@example.org",
                              to = { "bob@example.org", "carol@example.org" }, body = MESSAGE })
    H.ok(res, err)
    H.eq(res.ok, true)
    H.eq(res.accepted, 2)
    local dump = H.wait_for(function()
        local p = io.popen("cat " .. dir .. "/*.* 2>/dev/null")
        local s = p:read("*a")
        p:close()
        return #s > 0 and s:find("\n\n$") and s
    end, 10, "smtp-sink dump")
    -- smtp-sink writes LF line ends and its own X- headers first, then the message.
    -- The body has 8-bit text, so BODY=8BITMIME was declared for us.
    H.contains(dump, "X-Mail-Args: <alice@example.org> BODY=8BITMIME")
    H.contains(dump, "X-Rcpt-Args: <bob@example.org>\nX-Rcpt-Args: <carol@example.org>")
    local lf = MESSAGE:gsub("\r\n", "\n")
    H.eq(dump:sub(-(#lf + 1)), lf .. "\n", "message at the end of the dump")
    H.kill(pid)
end)

test("send_many to Postfix smtp-sink: each MAIL behind the previous dot, all stored", function()
    local port, dir, pid = start_smtp_sink()
    local m = mailer(port, { keepalive = false })
    local msgs = {}
    for i = 1, 10 do
        msgs[i] = { from = "alice@example.org", to = { "bob@example.org", "carol@example.org" },
                    body = "Subject: batch " .. i .. "\r\n\r\nmessage " .. i .. "\r\n.dot\r\n" }
    end
    -- A message refused locally keeps its place in the results.
    table.insert(msgs, 4, { from = "alice@example.org", to = "evil@example.org>\r\nDATA",
                            body = "x\r\n" })
    local results, err = m:send_many(msgs)
    H.ok(results, err)
    H.eq(#results, 11)
    for i, r in ipairs(results) do
        if i == 4 then
            H.eq(r.ok, false)
            H.eq(r.failure, "local")
        else
            H.eq(r.ok, true, "message " .. i)
            H.eq(r.accepted, 2)
            H.eq(r.rcpt_total, 2)
        end
    end
    local dump = H.wait_for(function()
        local p = io.popen("cat " .. dir .. "/*.* 2>/dev/null")
        local s = p:read("*a")
        p:close()
        local _, n = s:gsub("X%-Mail%-Args:", "")
        return n == 10 and s
    end, 10, "smtp-sink dumps")
    for i = 1, 10 do
        H.contains(dump, "Subject: batch " .. i .. "\n\nmessage " .. i .. "\n.dot\n")
    end
    H.kill(pid)
end)

test("send_many against a server that hangs up mid-batch: no message is lost silently", function()
    -- Greets and answers EHLO (sent ahead: replies are matched in order), then hangs up
    -- while the first envelope is out.
    local port, pid = start_fake("220 fake ESMTP\r\n250-fake\r\n250 PIPELINING\r\n")
    local m = mailer(port, { read_timeout = 2000, keepalive = false })
    local results, err, partial = m:send_many({
        { from = "a@example.org", to = "b@example.org", body = "1\r\n" },
        { from = "a@example.org", to = "b@example.org", body = "2\r\n" } })
    H.eq(results, nil)
    H.ok(err)
    H.eq(#partial, 2)
    H.eq(partial[1].ok, false)
    H.eq(partial[1].failure, "transient", "under way when the server left: send again")
    H.eq(partial[2].failure, "not_sent")
    H.eq(partial[2].message, err)
    H.kill(pid)
end)

return T
