-- SPDX-License-Identifier: MIT
-- The client role through the FFI, against the server role in memory (see pair.lua).
local H = require "harness"
local smtpcore = require "resty.smtpcore"
local Pair = require "pair"

local SEV = smtpcore.SEV

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

local CLIENT = { helo_name = "client.example.org" }
local SERVER = { hostname = "mx.example.org" }

local function reject_prefix(s, e)
    if e.type == SEV.RCPT and e.address:match("^reject") then
        assert(s:reject(550, "5.1.1", "No such user"))
        return true
    end
end

test("READY carries the server's capabilities", function()
    local p = Pair.new(CLIENT, SERVER)
    local ev = p:expect("READY")
    H.eq(ev.caps.esmtp, true)
    local ext = table.concat(ev.caps.extensions, ",")
    H.contains(ext, "PIPELINING")
    H.contains(ext, "SIZE")
    H.eq(ev.caps.size_limit, 10 * 1024 * 1024, "default SIZE limit")
    H.eq(p.c:caps().extension_mask, ev.caps.extension_mask, "caps() agrees")
end)

-- Results and SEND_BODY come in an order that depends on DATA vs BDAT and on grouping;
-- collect them by type until `stop` arrives.
local function collect(p, stop, into)
    into = into or { rcpt = {} }
    for _ = 1, 50 do
        local e = p:next()
        if not e then error("no event while waiting for " .. stop) end
        if e.name == "MAIL_RESULT" then into.mail = e
        elseif e.name == "RCPT_RESULT" then into.rcpt[e.rcpt_index + 1] = e
        else into[e.name] = e end
        if e.name == stop then return into end
    end
    error("too many events")
end

for _, mode in ipairs({ "BDAT", "DATA" }) do
    test("a transaction with per-recipient results and a normalised body (" .. mode .. ")", function()
        local copts = { helo_name = "client.example.org" }
        if mode == "DATA" then copts.quirks = { "NO_CHUNKING" } end
        local p = Pair.new(copts, SERVER, reject_prefix)
        p:expect("READY")
        assert(p.c:mail("alice@example.org"))
        assert(p.c:rcpt("bob@example.org"))
        assert(p.c:rcpt("reject-me@example.org"))
        assert(p.c:rcpt("carol@example.org", { notify = { "SUCCESS", "FAILURE" } }))
        assert(p.c:data())
        local got = collect(p, "SEND_BODY")
        -- Bare LF becomes CRLF, a leading dot is stuffed and unstuffed again.
        p:send_body("Subject: hi\n\n.leading dot\nline two\r\n..two dots\n")
        collect(p, "MESSAGE_RESULT", got)
        H.eq(got.mail.failure, "success")
        H.eq(got.mail.reply.code, 250)
        local r = got.rcpt
        H.eq(r[1].failure, "success")
        H.eq(r[2].failure, "permanent")
        H.eq(r[2].reply.code, 550)
        H.eq(r[2].reply.enhanced, "5.1.1")
        H.contains(r[2].reply.text, "No such user")
        H.eq(r[3].reply.code, 250)
        local res = got.MESSAGE_RESULT
        H.eq(res.failure, "success")
        H.eq(res.reply.code, 250)
        H.eq(res.rcpt_accepted, 2)
        H.eq(res.rcpt_total, 3)
        H.eq(#p.messages, 1)
        H.eq(p.messages[1], "Subject: hi\r\n\r\n.leading dot\r\nline two\r\n..two dots\r\n")
        local saw_notify, bdat = false, false
        for _, e in ipairs(p.server_events) do
            if e.type == SEV.RCPT and e.address == "carol@example.org" then
                saw_notify = e.rcpt.notify == smtpcore.NOTIFY.SUCCESS + smtpcore.NOTIFY.FAILURE
            end
            if e.type == SEV.MESSAGE_END then bdat = e.bdat end
        end
        H.ok(saw_notify, "NOTIFY reached the server")
        H.eq(bdat, mode == "BDAT", "transfer mode")
        assert(p.c:quit())
        p:expect("CLOSED")
    end)
end

test("the envelope leaves as one pipelined group", function()
    local p = Pair.new({ helo_name = "client.example.org", quirks = { "NO_CHUNKING" } }, SERVER)
    p:expect("READY")
    assert(p.c:mail("a@example.org"))
    assert(p.c:rcpt("b@example.org"))
    assert(p.c:rcpt("c@example.org"))
    assert(p.c:data())
    H.eq(p.c:take_output(), "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
        .. "RCPT TO:<c@example.org>\r\nDATA\r\n", "one write")
end)

test("without PIPELINING the envelope goes one command at a time", function()
    local p = Pair.new({ helo_name = "client.example.org", quirks = { "NO_PIPELINING" } }, SERVER)
    p:expect("READY")
    assert(p.c:mail("a@example.org"))
    assert(p.c:rcpt("b@example.org"))
    assert(p.c:data())
    H.eq(p.c:take_output(), "MAIL FROM:<a@example.org>\r\n", "only MAIL before its reply")
end)

test("all recipients refused: no body is sent", function()
    local p = Pair.new({ helo_name = "client.example.org", quirks = { "NO_CHUNKING" } },
                       SERVER, reject_prefix)
    p:expect("READY")
    assert(p.c:mail("alice@example.org"))
    assert(p.c:rcpt("reject-1@example.org"))
    assert(p.c:rcpt("reject-2@example.org"))
    assert(p.c:data())
    local got = collect(p, "MESSAGE_RESULT")
    H.eq(got.SEND_BODY, nil, "no SEND_BODY")
    H.eq(got.MESSAGE_RESULT.failure, "permanent")
    H.eq(got.MESSAGE_RESULT.rcpt_accepted, 0)
    H.eq(#p.messages, 0)
end)

test("a large body through a small output buffer", function()
    local p = Pair.new({ helo_name = "client.example.org", output_buffer_size = 1024 }, SERVER)
    p:expect("READY")
    assert(p.c:mail("a@example.org"))
    assert(p.c:rcpt("b@example.org"))
    assert(p.c:data())
    collect(p, "SEND_BODY")
    local lines = {}
    for i = 1, 2000 do lines[i] = ("line %05d %s"):format(i, ("x"):rep(i % 70)) end
    local body = table.concat(lines, "\r\n") .. "\r\n"
    p:send_body(body)
    local res = collect(p, "MESSAGE_RESULT").MESSAGE_RESULT
    H.eq(res.failure, "success")
    H.eq(p.messages[1], body, "body intact")
end)

test("a second transaction on the same session", function()
    local p = Pair.new(CLIENT, SERVER)
    p:expect("READY")
    for n = 1, 2 do
        assert(p.c:mail("a@example.org"))
        assert(p.c:rcpt("b@example.org"))
        assert(p.c:data())
        collect(p, "SEND_BODY")
        p:send_body("Subject: " .. n .. "\r\n\r\nbody\r\n")
        H.eq(collect(p, "MESSAGE_RESULT").MESSAGE_RESULT.failure, "success")
    end
    H.eq(#p.messages, 2)
    H.eq(p.messages[2], "Subject: 2\r\n\r\nbody\r\n")
end)

test("the next MAIL goes out behind the final dot (RFC 2920 3.1)", function()
    local p = Pair.new({ helo_name = "client.example.org", quirks = { "NO_CHUNKING" } }, SERVER)
    p:expect("READY")
    assert(p.c:mail("a@example.org"))
    assert(p.c:rcpt("b@example.org"))
    assert(p.c:data())
    collect(p, "SEND_BODY")
    H.eq(assert(p.c:body("one\r\n")), 5)
    assert(p.c:body_end())
    -- No MESSAGE_RESULT yet: the next transaction starts at once.
    assert(p.c:mail("a@example.org"))
    assert(p.c:rcpt("c@example.org"))
    assert(p.c:rcpt("d@example.org"))
    assert(p.c:data())
    local out = p.c:take_output()
    H.eq(out, "one\r\n.\r\nMAIL FROM:<a@example.org>\r\n"
        .. "RCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n", "one write")
    p.c2s = p.c2s .. out -- on its way to the server
    -- The first message's verdict (its own counts) comes before the second's events.
    local first = p:next()
    H.eq(first.name, "MESSAGE_RESULT")
    H.eq(first.failure, "success")
    H.eq(first.rcpt_total, 1)
    local got = collect(p, "SEND_BODY")
    H.eq(got.READY, nil, "no READY between the two transactions")
    H.eq(got.mail.failure, "success")
    H.eq(#got.rcpt, 2)
    p:send_body("two\r\n")
    local res = collect(p, "MESSAGE_RESULT").MESSAGE_RESULT
    H.eq(res.failure, "success")
    H.eq(res.rcpt_total, 2)
    H.eq(#p.messages, 2)
    H.eq(p.messages[1], "one\r\n")
    H.eq(p.messages[2], "two\r\n")
end)

test("NOOP and RSET when idle give REPLY", function()
    local p = Pair.new(CLIENT, SERVER)
    p:expect("READY")
    assert(p.c:noop())
    H.eq(p:expect("REPLY").reply.code, 250)
    assert(p.c:rset())
    H.eq(p:expect("REPLY").reply.code, 250)
end)

test("host mistakes are refused before anything is sent", function()
    local p = Pair.new(CLIENT, { hostname = "mx.example.org", max_message_size = 1000 })
    p:expect("READY")
    local ok, err, rc = p.c:mail("a@example.org", { size = 5000 })
    H.eq(ok, nil, "SIZE over the limit")
    H.eq(rc, smtpcore.ERR.TOO_LONG, err)
    ok, err, rc = p.c:mail("a@example.org\r\nRSET")
    H.eq(ok, nil, "CRLF in the sender")
    H.eq(rc, smtpcore.ERR.INJECTION, err)
    assert(p.c:mail("a@example.org", { size = 100 }))
    ok, err, rc = p.c:rcpt("b@example.org>\r\nDATA")
    H.eq(ok, nil, "CRLF in a recipient")
    H.ok(rc == smtpcore.ERR.INJECTION or rc == smtpcore.ERR.SYNTAX, err)
end)

-- body_end() refused with BUFFER_FULL must leave the state as it was: the DATA path once
-- lost the final CRLF on the retry ("xxx.\r\n" instead of "xxx\r\n.\r\n"), so the
-- message never ended and later commands became message content (fixed in f25bdde).
T[#T + 1] = { "body_end retried after BUFFER_FULL still ends a DATA body with CRLF.CRLF",
    function()
        for fill = 1018, 1026 do
            local p = Pair.new({ helo_name = "client.example.org", quirks = { "NO_CHUNKING" },
                                 output_buffer_size = 1024 }, SERVER)
            p:expect("READY")
            assert(p.c:mail("a@example.org"))
            assert(p.c:rcpt("b@example.org"))
            assert(p.c:data())
            collect(p, "SEND_BODY")
            local sent = { p.c:take_output() }
            local body = ("x"):rep(fill) -- no line break at the end, output left full
            local n = assert(p.c:body(body))
            if n < #body then
                sent[#sent + 1] = p.c:take_output()
                H.eq(p.c:body(body, n + 1), #body - n)
            end
            for _ = 1, 5 do
                local ok, _, rc = p.c:body_end()
                if ok then break end
                H.eq(rc, smtpcore.ERR.BUFFER_FULL)
                sent[#sent + 1] = p.c:take_output()
            end
            sent[#sent + 1] = p.c:take_output()
            H.eq(table.concat(sent):sub(-6), "x\r\n.\r\n", "end of data after " .. fill .. " bytes")
        end
    end }

local AUTH_SERVER = {
    hostname = "mx.example.org",
    extensions = { "PIPELINING", "AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE" },
    auth_mechs = { "PLAIN", "LOGIN" }, allow_plaintext_auth = true,
}

local function check_password(s, e)
    if e.type == SEV.AUTH then
        if e.username == "user" and e.password == "secret" then
            assert(s:accept())
        else
            assert(s:reject(535, "5.7.8", "Bad credentials"))
        end
        return true
    end
end

for _, mech in ipairs({ "PLAIN", "LOGIN" }) do
    test("AUTH " .. mech .. " accepted", function()
        local p = Pair.new({ helo_name = "client.example.org", auth_user = "user",
                             auth_password = "secret", auth_mechanism = mech },
                           AUTH_SERVER, check_password)
        local auth = p:expect("AUTH_RESULT")
        H.eq(auth.failure, "success")
        H.eq(auth.reply.code, 235)
        p:expect("READY")
    end)
end

test("AUTH refused is reported", function()
    local p = Pair.new({ helo_name = "client.example.org", auth_user = "user",
                         auth_password = "wrong" }, AUTH_SERVER, check_password)
    local auth = p:expect("AUTH_RESULT")
    H.eq(auth.failure, "permanent")
    H.eq(auth.reply.code, 535)
end)

return T
