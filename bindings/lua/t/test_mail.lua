-- SPDX-License-Identifier: MIT
-- resty.smtpcore.mail: lua-resty-mail's interface (new options, send fields, true or
-- nil, err) over resty.smtpcore.client, against the Lua sink on 127.0.0.1.
local H = require "harness"
local mail = require "resty.smtpcore.mail"
local lsock = require "resty.smtpcore.socket"

local ROOT = os.getenv("SMTPCORE_ROOT") or "."

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

local function start_lua_sink(extra)
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

-- The example of lua-resty-mail's README, names changed.
local function readme_message(to)
    return {
        from = "Master Splinter <splinter@example.org>",
        to = to or { "michelangelo@example.org" },
        cc = { "leo@example.org", "Raphael <raph@example.org>", "donatello@example.org" },
        subject = "Pizza is here!",
        text = "There's pizza in the sewer.",
        html = "<h1>There's pizza in the sewer.</h1>",
        attachments = { { filename = "toppings.txt", content_type = "text/plain",
                          content = "1. Cheese\n2. Pepperoni" } },
    }
end

test("new() checks options as lua-resty-mail does", function()
    local m, err = mail.new({ username = "u" })
    H.eq(m, nil)
    H.eq(err, "authentication requested, but missing password")
    m, err = mail.new({ password = "p" })
    H.eq(err, "authentication requested, but missing username")
    m, err = mail.new({ username = "u", password = "p", auth_type = "cram" })
    H.eq(err, "invalid auth_type: cram")
    m = assert(mail.new({ domain = "web.example.org", starttls = true, ssl_host = "mx.example.org",
                          timeout_connect = 1000, timeout_read = 2000, username = "u",
                          password = "p", auth_type = "login" }))
    local c = m.mailer
    H.eq(c.host, "localhost")
    H.eq(c.port, 25)
    H.eq(c.helo_name, "web.example.org")
    H.eq(c.starttls, "required")
    H.eq(c.server_name, "mx.example.org")
    H.eq(c.auth_mechanism, "LOGIN")
    H.eq(c.connect_timeout, 1000)
    H.eq(c.read_timeout, 2000)
    H.eq(assert(mail.new({})).mailer.starttls, "never", "no STARTTLS unless asked, as there")
end)

test("send(): the README message goes out, true; stored with every recipient", function()
    local port, dir, pid = start_lua_sink()
    local m = assert(mail.new({ host = "127.0.0.1", port = port, socket = lsock.tcp,
                                keepalive = false }))
    local ok, err, res = m:send(readme_message())
    H.eq(ok, true, err)
    H.eq(err, nil)
    H.eq(res.accepted, 4)
    local env = H.wait_for(function() return H.read_file(dir .. "/1.env") end, 10, "stored")
    H.eq(env, "MAIL FROM:<splinter@example.org>\nRCPT TO:<michelangelo@example.org>\n"
        .. "RCPT TO:<leo@example.org>\nRCPT TO:<raph@example.org>\nRCPT TO:<donatello@example.org>\n")
    local eml = H.wait_for(function() return H.read_file(dir .. "/1.eml") end, 10, "stored")
    H.contains(eml, "\r\nSubject: Pizza is here!\r\n")
    H.contains(eml, "Content-Disposition: attachment; filename=\"toppings.txt\"")
    H.kill(pid)
end)

test("send(): a refusal is nil, err quoting the deciding reply; partial is true + details", function()
    local port, _, pid = start_lua_sink()
    local m = assert(mail.new({ host = "127.0.0.1", port = port, socket = lsock.tcp }))
    local msg = readme_message({ "reject-a@example.org" })
    msg.cc = nil
    local ok, err, res = m:send(msg)
    H.eq(ok, nil)
    H.eq(err, "message refused at rcpt: 550 5.1.1 No such user here")
    H.eq(res.stage, "rcpt")
    msg = readme_message({ "reject-a@example.org", "b@example.org" })
    msg.cc = nil
    ok, err, res = m:send(msg)
    H.eq(ok, true, err)
    H.eq(res.recipients[1].code, 550, "the refused recipient is in the details")
    ok, err = m:send({ from = "a@example.org", to = "b@example.org", subject = "a\nb", text = "x" })
    H.eq(ok, nil)
    H.contains(err, "CR, LF")
    lsock.drain_pools()
    H.kill(pid)
end)

test("AUTH with auth_type = login; a wrong password is an error", function()
    local port, _, pid = start_lua_sink("--auth user:secret")
    local good = assert(mail.new({ host = "127.0.0.1", port = port, socket = lsock.tcp,
                                   username = "user", password = "secret", auth_type = "login",
                                   keepalive = false }))
    local ok, err = good:send(readme_message())
    H.eq(ok, true, err)
    local bad = assert(mail.new({ host = "127.0.0.1", port = port, socket = lsock.tcp,
                                  username = "user", password = "nope", keepalive = false }))
    ok, err = bad:send(readme_message())
    H.eq(ok, nil)
    H.contains(err, "535")
    H.kill(pid)
end)

test("starttls = true against a server without STARTTLS fails, nothing sent", function()
    local port, dir, pid = start_lua_sink()
    local m = assert(mail.new({ host = "127.0.0.1", port = port, socket = lsock.tcp,
                                starttls = true }))
    local ok, err = m:send(readme_message())
    H.eq(ok, nil)
    H.match(err, "TLS")
    H.eq(H.read_file(dir .. "/1.eml"), nil)
    H.kill(pid)
end)

return T
