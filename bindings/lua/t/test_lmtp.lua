-- SPDX-License-Identifier: MIT
-- LMTP (RFC 2033) through the Lua binding:
--   * the FFI layer in memory: server_new{lmtp=true} answering each recipient after the
--     data with :reply_rcpt() out of order, client_new{lmtp=true} getting one
--     DELIVERY_RESULT per accepted recipient in RCPT order, then MESSAGE_RESULT;
--   * resty.smtpcore.client with lmtp = true (plain LuaJIT, luasocket wrapper) against
--     Postfix's smtp-sink -L on TCP and on a unix: socket, and against a real Dovecot LMTP
--     server (tests/lmtp/dovecot_instance.sh, as root): two users delivered, one unknown
--     user refused at RCPT, the mailbox files hold the body byte for byte.
local H = require "harness"
local socket = require "socket"
local smtpcore = require "resty.smtpcore"
local client = require "resty.smtpcore.client"
local lsock = require "resty.smtpcore.socket"
local Pair = require "pair"

local ROOT = os.getenv("SMTPCORE_ROOT") or "."
local SEV = smtpcore.SEV

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

local BODY = "From: a@example.org\r\nSubject: lmtp from LuaJIT\r\n\r\n"
    .. "first line\r\n.starts with a dot\r\n..two dots\r\n\r\nlast line\r\n"

test("FFI: per-recipient answers out of order come back in RCPT order", function()
    local p = Pair.new({ helo_name = "client.example.org", lmtp = true },
        { hostname = "lmtp.example.org", lmtp = true },
        function(s, e)
            if e.type ~= SEV.MESSAGE_END then return false end
            assert(s:lmtp())
            H.eq(e.rcpt_count, 3, "recipients of the message")
            assert(s:reply_rcpt(2, 550, "5.1.1", "No such mailbox"))
            assert(s:reply_rcpt(1, 452, "4.2.2", "Mailbox full"))
            H.eq(s:rcpt_unanswered(), 1)
            assert(s:accept()) -- the rest: recipient 0
            H.eq(s:rcpt_unanswered(), 0)
            return true
        end)
    p:expect("READY")
    assert(p.c:mail("a@example.org"))
    for _, r in ipairs({ "x@example.com", "full@example.com", "gone@example.com" }) do
        assert(p.c:rcpt(r))
    end
    assert(p.c:data())
    p:expect("SEND_BODY")
    p:send_body(BODY)
    local got = {}
    for _ = 1, 10 do
        local e = p:next()
        if e.name == "DELIVERY_RESULT" then
            got[#got + 1] = { e.rcpt_index, e.reply.code }
        elseif e.name == "MESSAGE_RESULT" then
            H.eq(e.rcpt_accepted, 1, "delivered to one")
            break
        end
    end
    H.eq(#got, 3, "one delivery result per recipient")
    H.eq(got[1][1], 0); H.eq(got[1][2], 250)
    H.eq(got[2][1], 1); H.eq(got[2][2], 452)
    H.eq(got[3][1], 2); H.eq(got[3][2], 550)
    H.eq(p.messages[1], BODY, "content as sent (stuffed on the wire, unstuffed again)")
end)

local function mailer(host, port, extra)
    local opts = { host = host, port = port, helo_name = "client.example.org",
                   timeout = 5000, socket = lsock.tcp, lmtp = true, keepalive = false }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(client.new(opts))
end

local function start_smtp_sink(listen)
    return H.spawn(string.format("/usr/sbin/smtp-sink %s -L %s 10", H.sink_user(), listen))
end

test("client lmtp = true: smtp-sink -L over TCP and over a unix: socket", function()
    local port = H.free_port()
    local pid = start_smtp_sink("127.0.0.1:" .. port)
    H.wait_for(function()
        local s = socket.connect("127.0.0.1", port)
        if s then s:close() return true end
    end, 10, "smtp-sink -L listening")
    local res = assert(mailer("127.0.0.1", port):send({ from = "a@example.org",
        to = { "b@example.org", "c@example.org" }, body = BODY }))
    H.eq(res.ok, true)
    H.eq(res.lmtp, true)
    H.eq(res.accepted, 2)
    for i = 1, 2 do
        H.eq(res.recipients[i].delivery.code, 250, "delivery reply " .. i)
        H.eq(res.recipients[i].delivery.ok, true)
    end
    H.kill(pid)

    local dir = H.tmpdir()
    os.execute("chmod 777 " .. dir)
    local path = dir .. "/lmtp.sock"
    pid = start_smtp_sink("unix:" .. path)
    H.wait_for(function() return H.read_file(path) ~= nil or os.rename(path, path) end, 10,
               "smtp-sink -L socket")
    local m = mailer("unix:" .. path, nil)
    res = assert(H.wait_for(function()
        return m:send({ from = "a@example.org", to = { "b@example.org" }, body = BODY })
    end, 10, "delivery over the unix: socket"))
    H.eq(res.ok, true)
    H.eq(res.recipients[1].delivery.code, 250)
    H.kill(pid)
end)

local function is_root()
    local p = io.popen("id -u")
    local uid = p:read("*l")
    p:close()
    return uid == "0"
end

test("client lmtp = true: Dovecot LMTP, two users and an unknown one", function()
    assert(is_root(), "the Dovecot LMTP test needs root (scripts/test.sh runs as root)")
    local dir = H.tmpdir()
    os.execute("chmod 755 " .. dir)
    local script = ROOT .. "/tests/lmtp/dovecot_instance.sh"
    local p = io.popen(script .. " start " .. dir .. "/dovecot 2>&1")
    local out = p:read("*a")
    p:close()
    local port = tonumber(out:match("port (%d+)"))
    local path = out:match("socket (%S+)")
    assert(port and path, "Dovecot did not start: " .. out)
    local ok, err = pcall(function()
        for _, target in ipairs({ { "unix:" .. path }, { "127.0.0.1", port } }) do
            local res = assert(mailer(target[1], target[2]):send({ from = "s@example.org",
                to = { "alice@example.com", "nobody@example.com", "bob@example.com" },
                body = BODY }))
            H.eq(res.ok, true, "delivered to some")
            H.eq(res.accepted, 2)
            local r = res.recipients
            H.eq(r[1].delivery.code, 250); H.contains(r[1].delivery.text, "Saved")
            H.eq(r[2].ok, false); H.eq(r[2].code, 550); H.eq(r[2].enhanced, "5.1.1")
            H.eq(r[2].delivery, nil, "refused at RCPT: no reply after the data")
            H.eq(r[3].delivery.code, 250); H.contains(r[3].delivery.text, "Saved")
        end
        local want = BODY:sub(BODY:find("\r\n\r\n", 1, true) + 4):gsub("\r\n", "\n")
        for _, user in ipairs({ "alice", "bob" }) do
            local ls = io.popen("ls " .. dir .. "/dovecot/mail/" .. user .. "/new")
            local n = 0
            for f in ls:lines() do
                n = n + 1
                local data = H.read_file(dir .. "/dovecot/mail/" .. user .. "/new/" .. f)
                local i = data:find("\n\n", 1, true)
                H.eq(data:sub(i + 2), want, user .. "'s mailbox file body")
            end
            ls:close()
            H.eq(n, 2, user .. " got both messages")
        end
    end)
    os.execute(script .. " stop " .. dir .. "/dovecot")
    assert(ok, err)
end)

return T
