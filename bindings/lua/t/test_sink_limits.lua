-- SPDX-License-Identifier: MIT
-- Limits of the Lua example sink (examples/lua/sink.lua) against hostile clients (issue
-- 18 item 3): connection cap, idle/command/content deadlines with 421, a client that
-- never reads, AUTH refusals delayed without blocking the loop and limited per address.
-- Raw luasocket clients on 127.0.0.1; times only bound the tests.
local H = require "harness"
local socket = require "socket"

local ROOT = os.getenv("SMTPCORE_ROOT") or "."

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

-- base64("\0user\0secret") and base64("\0user\0wrong")
local AUTH_GOOD = "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n"
local AUTH_BAD = "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n"
-- What the engine ends a session with when any deadline passed.
local TIMEOUT_421 = "421 4.4.2 sink.localdomain Error: timeout exceeded\r\n"

local function start_sink(extra)
    local dir = H.tmpdir()
    local portfile = dir .. "/port"
    local pid = H.spawn(string.format("LUA_PATH='%s' luajit %s/examples/lua/sink.lua --dir %s "
        .. "--port-file %s --idle-exit 60 %s", package.path, ROOT, dir, portfile, extra or ""))
    local port = H.wait_for(function()
        local s = H.read_file(portfile)
        return s and tonumber(s:match("%d+"))
    end, 10, "sink port file")
    return port, dir, pid
end

local function connect(port)
    local s = assert(socket.connect("127.0.0.1", port))
    s:settimeout(10)
    return s
end

--- Reads one whole reply (the last line); raises on timeout.
local function reply(s)
    for _ = 1, 50 do
        local l = assert(s:receive("*l"))
        if l:sub(4, 4) ~= "-" then return l end
    end
    error("endless reply")
end

--- Everything until the server closes; nil, err when it does not within `seconds`.
local function read_to_close(s, seconds)
    s:settimeout(seconds or 20)
    local got = {}
    while true do
        local data, err, partial = s:receive(4096)
        data = data or partial
        if data and #data > 0 then got[#got + 1] = data end
        if err == "closed" then return table.concat(got) end
        if err then return nil, err .. " after " .. table.concat(got) end
    end
end

test("a connection over --max-conn gets 421 4.7.0 and a freed slot is reused", function()
    local port, _, pid = start_sink("--max-conn 2")
    local a, b = connect(port), connect(port)
    H.match(reply(a), "^220 ")
    H.match(reply(b), "^220 ")
    local c = connect(port)
    H.eq(read_to_close(c), "421 4.7.0 Too many connections, try later\r\n")
    c:close()
    a:close()
    local line = H.wait_for(function()
        local d = connect(port)
        local l = d:receive("*l")
        d:close()
        return l and l:match("^220 ") and l
    end, 10, "a greeting once a slot is free")
    H.match(line, "^220 ")
    b:close()
    H.kill(pid)
end)

test("idle timeout mid-DATA: 421 4.4.2 and the message is not stored", function()
    local port, dir, pid = start_sink("--timeout 1 --content-timeout 30")
    local s = connect(port)
    reply(s)
    for _, cmd in ipairs({ "EHLO c\r\n", "MAIL FROM:<a@example.com>\r\n",
                           "RCPT TO:<b@example.com>\r\n", "DATA\r\n" }) do
        s:send(cmd)
        H.match(reply(s), "^[23]")
    end
    s:send("Subject: never ends\r\n\r\nhalf\r\n")
    H.eq(read_to_close(s), TIMEOUT_421)
    s:close()
    H.eq(H.read_file(dir .. "/1.eml"), nil)
    H.kill(pid)
end)

--- Sends `data` one byte every 0.1 s until the server closes; returns what it said and
--- how many bytes went out.
local function trickle(s, data)
    local got = {}
    for i = 1, #data do
        local ok = s:send(data:sub(i, i))
        if not ok then return table.concat(got), i end
        s:settimeout(0.1)
        local d, err, partial = s:receive(4096)
        d = d or partial
        if d and #d > 0 then got[#got + 1] = d end
        if err == "closed" then return table.concat(got), i end
    end
    return table.concat(got), #data
end

test("a command line sent one byte at a time is closed at the command deadline", function()
    local port, _, pid = start_sink("--timeout 1")
    local s = connect(port)
    reply(s)
    local got, sent = trickle(s, "EHLO " .. string.rep("x", 400))
    H.eq(got, TIMEOUT_421)
    H.ok(sent < 400, "closed before the line was complete")
    s:close()
    H.kill(pid)
end)

test("message content sent one byte at a time is closed at the content deadline", function()
    local port, dir, pid = start_sink("--timeout 1")
    local s = connect(port)
    reply(s)
    for _, cmd in ipairs({ "EHLO c\r\n", "MAIL FROM:<a@example.com>\r\n",
                           "RCPT TO:<b@example.com>\r\n", "DATA\r\n" }) do
        s:send(cmd)
        H.match(reply(s), "^[23]")
    end
    local got, sent = trickle(s, "Subject: slow\r\n\r\n" .. string.rep("a\r\n", 200))
    H.eq(got, TIMEOUT_421)
    H.ok(sent < 600, "closed before the end")
    s:close()
    H.eq(H.read_file(dir .. "/1.eml"), nil)
    H.kill(pid)
end)

test("a client that never reads its replies is dropped; the sink keeps serving", function()
    -- Authenticated, so pipelining is allowed (the unauthenticated default refuses it).
    local port, _, pid = start_sink("--timeout 1 --auth user:secret")
    local s = connect(port)
    s:setoption("keepalive", false)
    reply(s)
    s:send("EHLO c\r\n")
    reply(s)
    s:send(AUTH_GOOD)
    H.match(reply(s), "^235 ")
    s:settimeout(0)
    local chunk = string.rep("NOOP\r\n", 1000)
    local stalled
    for _ = 1, 20000 do -- bounded: at most 120 MB
        local ok, err = s:send(chunk)
        if ok then
            stalled = nil
        elseif err == "timeout" then
            stalled = stalled or socket.gettime()
            if socket.gettime() - stalled > 0.3 then break end
            socket.sleep(0.01)
        else
            break
        end
    end
    -- The sink still answers others while this client is stuck.
    local other = connect(port)
    H.match(reply(other), "^220 ")
    other:send("QUIT\r\n")
    H.match(reply(other), "^221 ")
    other:close()
    -- Then it drops the stuck one: reading now ends in a close, not in endless replies.
    local done = H.wait_for(function()
        s:settimeout(1)
        for _ = 1, 100000 do
            local d, err = s:receive(65536)
            if err == "closed" then return "closed" end
            if not d and err == "timeout" then return nil end
        end
    end, 30, "the sink to drop the client that did not read")
    H.eq(done, "closed")
    s:close()
    H.kill(pid)
end)

test("a refused AUTH is answered after the pause, other sessions served meanwhile", function()
    local port, _, pid = start_sink("--auth user:secret --auth-failure-delay 1")
    local s = connect(port)
    reply(s)
    s:send("EHLO c\r\n")
    reply(s)
    s:send(AUTH_BAD)
    s:settimeout(0.3)
    local early = s:receive("*l")
    H.eq(early, nil, "no answer before the pause ends")
    local other = connect(port)
    H.match(reply(other), "^220 ")
    other:send("QUIT\r\n")
    H.match(reply(other), "^221 ")
    other:close()
    s:settimeout(20)
    H.match(reply(s), "^535 5%.7%.8 ")
    s:close()
    H.kill(pid)
end)

test("--max-auth-failures-per-address: 421 4.7.0 and close, unchecked", function()
    local port, _, pid = start_sink("--auth user:secret --auth-failure-delay 0 "
        .. "--max-auth-failures-per-address 2")
    local s = connect(port)
    reply(s)
    s:send("EHLO c\r\n")
    reply(s)
    s:send(AUTH_BAD)
    H.match(reply(s), "^535 ")
    s:send(AUTH_BAD)
    H.match(reply(s), "^535 ")
    s:close()
    local t = connect(port)
    reply(t)
    t:send("EHLO c\r\n")
    reply(t)
    t:send(AUTH_GOOD)
    H.eq(read_to_close(t), "421 4.7.0 sink.localdomain Error: too many failed authentications "
        .. "from 127.0.0.1, try later\r\n")
    t:close()
    H.kill(pid)
end)

test("AUTH the engine refuses (AUTH FOO, a cancelled exchange) counts per address too", function()
    local port, _, pid = start_sink("--auth user:secret --auth-failure-delay 0 "
        .. "--max-auth-failures-per-address 2")
    local s = connect(port)
    reply(s)
    s:send("EHLO c\r\n")
    reply(s)
    s:send("AUTH FOO\r\n")
    H.match(reply(s), "^504 ")
    s:send("AUTH PLAIN\r\n")
    H.match(reply(s), "^334")
    s:send("*\r\n")
    H.match(reply(s), "^501 ")
    s:close()
    local t = connect(port)
    reply(t)
    t:send("EHLO c\r\n")
    reply(t)
    t:send(AUTH_GOOD)
    H.match(read_to_close(t), "^421 4%.7%.0 sink%.localdomain Error: too many failed authentications")
    t:close()
    H.kill(pid)
end)

test("--max-auth-failures ends the session with 421 4.7.0 (the engine's limit)", function()
    local port, _, pid = start_sink("--auth user:secret --auth-failure-delay 0 --max-auth-failures 2")
    local s = connect(port)
    reply(s)
    s:send("EHLO c\r\n")
    reply(s)
    s:send(AUTH_BAD)
    H.match(reply(s), "^535 ")
    s:send(AUTH_BAD)
    H.eq(read_to_close(s), "535 5.7.8 Authentication credentials invalid\r\n"
        .. "421 4.7.0 sink.localdomain Error: too many failed authentications\r\n")
    s:close()
    H.kill(pid)
end)

local function make_cert(dir)
    local rc = os.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
        .. "-addext subjectAltName=DNS:localhost -keyout " .. dir .. "/key.pem -out "
        .. dir .. "/cert.pem >/dev/null 2>&1")
    H.ok(rc == 0 or rc == true, "openssl req")
    return dir .. "/cert.pem", dir .. "/key.pem"
end

test("a client stalling in the TLS handshake holds no one else up, and meets its deadline", function()
    local cert, key = make_cert(H.tmpdir())
    local port, _, pid = start_sink("--timeout 3 --tls-cert " .. cert .. " --tls-key " .. key)
    local a = connect(port)
    reply(a)
    a:send("EHLO c\r\n")
    reply(a)
    a:send("STARTTLS\r\n")
    H.match(reply(a), "^220 ")
    -- a now says nothing: the sink waits for its ClientHello. Meanwhile b is served...
    local b = connect(port)
    H.match(reply(b), "^220 ")
    b:send("QUIT\r\n")
    H.match(reply(b), "^221 ")
    b:close()
    -- ...while a is still connected (a blocking handshake would have served b only
    -- after giving up on a).
    a:settimeout(0)
    local d, err = a:receive(1)
    H.eq(d, nil)
    H.eq(err, "timeout", "a still open while b was served")
    -- Then a meets the deadline: closed without a reply (it is mid-handshake).
    H.eq(read_to_close(a), "")
    a:close()
    H.kill(pid)
end)

return T
