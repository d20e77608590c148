-- SPDX-License-Identifier: MIT
-- The server role through the FFI: pipelined input in, events and replies out.
local H = require "harness"
local smtpcore = require "resty.smtpcore"

local SEV = smtpcore.SEV

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

-- Feeds `input` (in pieces of `step` bytes), answers events with `answer(ev_table)` or
-- accept, and returns the event tables and all output. A table input is a list of
-- stages, each fed once the previous one is fully processed (a client waiting for the
-- replies that end a pipelined group, like the EHLO reply).
local converse_one
local function converse(s, input, answer, step)
    if type(input) == "string" then return converse_one(s, input, answer, step, true) end
    local events, out = {}, {}
    for i, stage in ipairs(input) do
        local ev, o = converse_one(s, stage, answer, step, i == 1)
        for _, e in ipairs(ev) do events[#events + 1] = e end
        out[#out + 1] = o
    end
    return events, table.concat(out)
end

function converse_one(s, input, answer, step, greet)
    local events, out = {}, {}
    local pos = 1
    step = step or #input
    -- A well-behaved client waits for the greeting: run CONNECT before any input,
    -- otherwise the engine rightly reports an early talker.
    if greet then
    local first = assert(s:next_event())
    local e0 = smtpcore.server_event_table(first)
    events[1] = e0
    if not (answer and answer(s, e0)) then assert(s:accept()) end
    out[1] = s:take_output()
    end
    for _ = 1, 100000 do
        local progressed = false
        if pos <= #input then
            local n = assert(s:receive(input:sub(pos, pos + step - 1)))
            pos = pos + n
            progressed = n > 0
        end
        local ev = assert(s:next_event())
        if tonumber(ev.type) == SEV.NONE then
            local o = s:take_output()
            out[#out + 1] = o
            if not progressed and #o == 0 then break end
        else
            local e = smtpcore.server_event_table(ev)
            events[#events + 1] = e
            if e.answer_required then
                if not (answer and answer(s, e)) then assert(s:accept()) end
            end
            if e.type == SEV.CLOSE then
                out[#out + 1] = s:take_output()
                break
            end
        end
    end
    return events, table.concat(out)
end

local function codes(out)
    local list = {}
    for line in out:gmatch("([^\n]*)\n") do
        local code, sep = line:match("^(%d%d%d)([ -])")
        if sep == " " then list[#list + 1] = code end
    end
    return table.concat(list, " ")
end

local function names(events)
    local list = {}
    for _, e in ipairs(events) do
        if e.type ~= SEV.BODY then list[#list + 1] = e.name end
    end
    return table.concat(list, " ")
end

local function body_of(events)
    local parts = {}
    for _, e in ipairs(events) do
        if e.type == SEV.BODY then parts[#parts + 1] = e.data end
    end
    return table.concat(parts)
end

local TRANSACTION = { "EHLO client.example.org\r\n",
    "MAIL FROM:<alice@example.org> SIZE=64\r\n"
    .. "RCPT TO:<bob@example.org>\r\n"
    .. "RCPT TO:<reject-me@example.org>\r\n"
    .. "RCPT TO:<carol@example.org> NOTIFY=SUCCESS,FAILURE\r\n"
    .. "DATA\r\n",
    -- RFC 2920: the content waits for the 354 (server_new refuses it otherwise, below)
    "Subject: hi\r\n\r\n..leading dot\r\nline\r\n.\r\n"
    .. "QUIT\r\n" }

local function reject_me(s, e)
    if e.type == SEV.RCPT and e.address:match("^reject") then
        assert(s:reject(550, "5.1.1", "No such user"))
        return true
    end
end

test("pipelined transaction: events, fields, body and replies", function()
    local s = assert(smtpcore.server_new({ hostname = "mx.example.org" }))
    local events, out = converse(s, TRANSACTION, reject_me)
    H.eq(names(events), "CONNECT HELO MAIL RCPT RCPT RCPT DATA MESSAGE_END QUIT CLOSE")
    H.eq(events[2].esmtp, true, "EHLO")
    H.eq(events[2].helo_class, "fqdn")
    H.eq(events[2].address, "client.example.org", "HELO argument")
    H.eq(events[3].address, "alice@example.org")
    H.eq(events[3].mail.size, 64, "SIZE=")
    H.eq(events[4].address, "bob@example.org")
    H.eq(events[6].rcpt.notify, smtpcore.NOTIFY.SUCCESS + smtpcore.NOTIFY.FAILURE)
    H.eq(events[6].line, "RCPT TO:<carol@example.org> NOTIFY=SUCCESS,FAILURE", "raw line")
    H.eq(body_of(events), "Subject: hi\r\n\r\n.leading dot\r\nline\r\n", "unstuffed body")
    H.eq(events[#events - 1].name, "QUIT")
    H.match(out, "^220 mx%.example%.org ", "greeting")
    H.contains(out, "250-PIPELINING\r\n")
    H.contains(out, "550 5.1.1 No such user\r\n")
    H.eq(codes(out), "220 250 250 250 550 250 354 250 221")
    H.ok(s:want_close(), "want_close after QUIT")
end)

test("byte-at-a-time input gives the same result", function()
    local s = assert(smtpcore.server_new({ hostname = "mx.example.org" }))
    local events, out = converse(s, TRANSACTION, reject_me, 1)
    H.eq(names(events), "CONNECT HELO MAIL RCPT RCPT RCPT DATA MESSAGE_END QUIT CLOSE")
    H.eq(body_of(events), "Subject: hi\r\n\r\n.leading dot\r\nline\r\n")
    H.eq(codes(out), "220 250 250 250 550 250 354 250 221")
end)

test("custom multi-line reply and own_names loop check", function()
    local s = assert(smtpcore.server_new({ hostname = "mx.example.org",
                                           own_names = { "mx.example.org", "[192.0.2.1]" } }))
    local events, out = converse(s, { "HELO [192.0.2.1]\r\n", "NOOP\r\n" }, function(sess, e)
        if e.type == SEV.CONNECT then
            assert(sess:reply(220, nil, "mx.example.org first line\nsecond line"))
            return true
        end
    end)
    H.eq(events[2].helo_is_own_name, true, "helo_is_own_name")
    H.eq(events[2].helo_class, "ipv4_literal")
    H.match(out, "^220%-mx%.example%.org first line\r\n220 second line\r\n", "multi-line")
end)

test("reply with CR is refused as injection", function()
    local s = assert(smtpcore.server_new())
    local ev = assert(s:next_event())
    H.eq(tonumber(ev.type), SEV.CONNECT)
    local ok, err, rc = s:reply(220, nil, "evil\r\n250 ok")
    H.eq(ok, nil)
    H.eq(rc, smtpcore.ERR.INJECTION, err)
    H.ok(s:accept())
end)

test("answer with nothing pending is an error code", function()
    local s = assert(smtpcore.server_new())
    assert(s:next_event())
    assert(s:accept())
    local ok, _, rc = s:accept()
    H.eq(ok, nil)
    H.eq(rc, smtpcore.ERR.NO_ANSWER_PENDING)
end)

test("AUTH PLAIN credentials arrive as slices", function()
    local s = assert(smtpcore.server_new({
        extensions = { "PIPELINING", "AUTH", "ENHANCEDSTATUSCODES" },
        auth_mechs = { "PLAIN", "LOGIN" }, allow_plaintext_auth = true }))
    -- "\0user\0pass" in base64
    local events, out = converse(s, { "EHLO c.example.org\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\n" })
    local auth
    for _, e in ipairs(events) do if e.type == SEV.AUTH then auth = e end end
    H.ok(auth, "AUTH event")
    H.eq(auth.username, "user")
    H.eq(auth.password, "pass")
    H.eq(auth.authzid, "")
    H.eq(auth.auth_mech, smtpcore.AUTH.PLAIN)
    H.contains(out, "AUTH PLAIN LOGIN\r\n")
    H.contains(out, "235 ")
end)

test("EOF mid-transaction closes", function()
    local s = assert(smtpcore.server_new())
    local events = converse(s, { "EHLO c.example.org\r\n", "MAIL FROM:<a@example.org>\r\n" })
    assert(s:receive_eof())
    local last
    for _ = 1, 10 do
        local ev = assert(s:next_event())
        if tonumber(ev.type) == SEV.NONE then break end
        last = smtpcore.server_event_table(ev)
    end
    H.ok(#events >= 3, "events before EOF")
    H.eq(last and last.name, "CLOSE")
end)

-- The FFI-level default (sync_policy "unauth", unlike the engine's "off"): a client
-- that has not authenticated and sends the content behind DATA, before its 354, gets
-- 554 5.5.0 and the session closes (Postfix's smtpd_forbid_unauth_pipelining).
local PIPED = { "EHLO c.example.org\r\n",
    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
    .. "Subject: second\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n" }

test("default sync_policy: content before the 354 gets 554 5.5.0 and close", function()
    local s = assert(smtpcore.server_new())
    local events, out = converse(s, PIPED)
    H.eq(names(events), "CONNECT HELO MAIL RCPT PROTOCOL_ERROR CLOSE")
    H.eq(smtpcore.violation_str(events[5].violation),
         smtpcore.violation_str(10), "V_IMPROPER_PIPELINING (10)")
    H.contains(out, "554 5.5.0 Error: SMTP protocol synchronization\r\n")
    H.eq(codes(out), "220 250 250 250 554")
    H.ok(s:want_close(), "want_close")
end)

test("sync_policy off serves the pipelined message", function()
    local s = assert(smtpcore.server_new({ sync_policy = "off" }))
    local events, out = converse(s, PIPED)
    H.eq(names(events), "CONNECT HELO MAIL RCPT DATA MESSAGE_END QUIT CLOSE")
    H.eq(body_of(events), "Subject: second\r\n\r\nsmuggled\r\n")
    H.eq(codes(out), "220 250 250 250 354 250 221")
end)

test("sync_policy unauth: an authenticated session is served", function()
    local s = assert(smtpcore.server_new({
        extensions = { "PIPELINING", "AUTH", "ENHANCEDSTATUSCODES" },
        auth_mechs = { "PLAIN" }, allow_plaintext_auth = true }))
    local events, out = converse(s, { PIPED[1], "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", PIPED[2] })
    H.eq(names(events), "CONNECT HELO AUTH MAIL RCPT DATA MESSAGE_END QUIT CLOSE")
    H.eq(codes(out), "220 250 235 250 250 354 250 221")
end)

test("bad sync_policy is an error", function()
    H.ok(not pcall(smtpcore.server_new, { sync_policy = "sometimes" }), "bad sync_policy")
end)

test("PROXY header and XCLIENT through the FFI (client is the proxy)", function()
    local c = assert(smtpcore.client_new({ helo_name = "proxy.example", proxy_protocol = "v2",
        proxy_src_addr = "192.0.2.1", proxy_src_port = 4711,
        proxy_dst_addr = "198.51.100.2", proxy_dst_port = 25 }))
    local s = assert(smtpcore.server_new({ proxy_protocol = "any", xclient_allowed = true }))
    local seen, attrs = {}, nil
    local function pump()
        for _ = 1, 100 do
            local moved = false
            local o = c:take_output()
            if #o > 0 then assert(s:receive(o) == #o); moved = true end
            while true do
                local ev = assert(s:next_event())
                if tonumber(ev.type) == SEV.NONE then break end
                local e = smtpcore.server_event_table(ev)
                seen[#seen + 1] = e.type
                if e.type == SEV.XCLIENT then attrs = s:xclient_attrs() end
                if e.answer_required then assert(s:accept()) end
            end
            local so = s:take_output()
            if #so > 0 then assert(c:receive(so) == #so); moved = true end
            while true do
                local ev = assert(c:next_event())
                if tonumber(ev.type) == smtpcore.CEV.NONE then break end
                seen[#seen + 1] = "c" .. tonumber(ev.type)
            end
            if not moved then return end
        end
    end
    pump()
    H.eq(seen[1], SEV.PROXY)
    local h = s:proxy_header()
    H.eq(h.version, 2)
    H.eq(h.family, "inet")
    H.eq(h.src_addr, "192.0.2.1")
    H.eq(h.src_port, 4711)
    assert(c:xclient({ { "ADDR", "203.0.113.5" }, { "HELO", "real client" } }))
    pump()
    H.eq(attrs.ADDR, "203.0.113.5")
    H.eq(attrs.HELO, "real client")
    H.eq(seen[#seen], "c" .. smtpcore.CEV.READY)
end)

test("nul_policy: NUL in content refused by default (550 5.6.0), accepted on request", function()
    local stages = { "EHLO c.example.org\r\n",
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
        "hello\0world\r\n.\r\n" }
    local s = assert(smtpcore.server_new())
    local events, out = converse(s, stages)
    H.contains(out, "550 5.6.0 Error: NUL character in message content\r\n")
    H.eq(names(events), "CONNECT HELO MAIL RCPT DATA MESSAGE_ABORTED")
    s = assert(smtpcore.server_new({ nul_policy = "accept" }))
    events, out = converse(s, stages)
    H.eq(body_of(events), "hello\0world\r\n")
    H.eq(codes(out), "220 250 250 250 354 250")
end)


test("shutdown mid-DATA: 421 4.4.2, MESSAGE_ABORTED and CLOSE (HOST_CLOSE); in_message", function()
    local s = assert(smtpcore.server_new())
    local events = converse(s, { "EHLO c.example.org\r\n",
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
        "Subject: slow\r\n" })
    H.eq(names(events), "CONNECT HELO MAIL RCPT DATA")
    H.eq(s:in_message(), true)
    assert(s:shutdown())
    H.eq(s:in_message(), false)
    H.eq(s:want_close(), true)
    H.eq(s:take_output(), "421 4.4.2 localhost Error: timeout exceeded\r\n")
    local seen = {}
    for _ = 1, 10 do
        local ev = assert(s:next_event())
        if tonumber(ev.type) == SEV.NONE then break end
        local e = smtpcore.server_event_table(ev)
        seen[#seen + 1] = e.name .. ":" .. tostring(e.violation)
    end
    H.eq(table.concat(seen, " "), "MESSAGE_ABORTED:" .. smtpcore.const.SMTPCORE_V_HOST_CLOSE
        .. " CLOSE:" .. smtpcore.const.SMTPCORE_V_HOST_CLOSE)
    local ok, _, rc = s:shutdown("service")
    H.eq(ok, nil)
    H.eq(rc, smtpcore.const.SMTPCORE_ERR_CLOSED)
    H.ok(not pcall(s.shutdown, s, "sometime"), "bad reason")
end)

test("max_auth_failures and auth_failures", function()
    local s = assert(smtpcore.server_new({ extensions = { "PIPELINING", "ENHANCEDSTATUSCODES",
        "AUTH" }, allow_plaintext_auth = true, max_auth_failures = 2 }))
    local events, out = converse(s, { "EHLO c.example.org\r\n",
        "AUTH PLAIN AGEAYg==\r\n", "AUTH PLAIN AGEAYw==\r\n" }, function(srv, e)
            if e.type == SEV.AUTH then assert(srv:reject(535)); return true end
        end)
    H.eq(s:auth_failures(), 2)
    H.contains(out, "535 5.7.8 Authentication credentials invalid\r\n"
        .. "421 4.7.0 localhost Error: too many failed authentications\r\n")
    H.eq(events[#events].name, "CLOSE")
    H.eq(events[#events].violation, smtpcore.const.SMTPCORE_V_TOO_MANY_AUTH_FAILURES)
end)

-- The same conversation with :accept_next() (one call per event; reject_me answers
-- before the next call, everything else gets the default from it).
local function converse_next(s, stages, answer, step)
    local events, out = {}, {}
    for _, input in ipairs(stages) do
        local pos, st = 1, step or #input
        for _ = 1, 100000 do
            local progressed = false
            if pos <= #input then
                local n = assert(s:receive(input:sub(pos, pos + st - 1)))
                pos = pos + n
                progressed = n > 0
            end
            local ev = assert(s:accept_next())
            if tonumber(ev.type) == SEV.NONE then
                local o = s:take_output()
                out[#out + 1] = o
                if not progressed and #o == 0 then break end
            else
                local e = smtpcore.server_event_table(ev)
                events[#events + 1] = e
                if e.answer_required and answer then answer(s, e) end
            end
        end
    end
    return events, table.concat(out)
end

test("accept_next: the same conversation in one call per event", function()
    for _, step in ipairs({ false, 1, 5 }) do
        local a = assert(smtpcore.server_new({ hostname = "mx.example.org" }))
        local b = assert(smtpcore.server_new({ hostname = "mx.example.org" }))
        local ea, oa = converse(a, TRANSACTION, reject_me, step or nil)
        local stages = { "" }
        for i, st in ipairs(TRANSACTION) do stages[i + 1] = st end
        local eb, ob = converse_next(b, stages, reject_me, step or nil)
        H.eq(names(eb), names(ea), "events, step " .. tostring(step))
        H.eq(body_of(eb), body_of(ea))
        H.eq(ob, oa, "replies, step " .. tostring(step))
        H.eq(codes(ob), "220 250 250 250 550 250 354 250 221")
    end
end)

test("accept_next: nothing pending is next_event; a closed session raises", function()
    local s = assert(smtpcore.server_new())
    local ev = assert(s:accept_next())
    H.eq(tonumber(ev.type), SEV.CONNECT)
    ev = assert(s:accept_next())
    H.eq(tonumber(ev.type), SEV.NONE)
    H.eq(s:take_output(), "220 localhost ESMTP smtpcore\r\n")
    ev = assert(s:accept_next())
    H.eq(tonumber(ev.type), SEV.NONE)
    H.eq(s:take_output(), "", "nothing answered twice")
    local ok, _, rc = s:accept()
    H.eq(ok, nil)
    H.eq(rc, smtpcore.const.SMTPCORE_ERR_NO_ANSWER_PENDING)
    -- A host answer is kept: the refused MAIL gets no 250 from the next call.
    assert(s:receive("HELO c\r\n"))
    H.eq(tonumber(assert(s:accept_next()).type), SEV.HELO)
    H.eq(tonumber(assert(s:accept_next()).type), SEV.NONE)
    assert(s:receive("MAIL FROM:<a@example.org>\r\n"))
    H.eq(tonumber(assert(s:accept_next()).type), SEV.MAIL)
    assert(s:reject(450, nil, "Later"))
    H.eq(tonumber(assert(s:accept_next()).type), SEV.NONE)
    H.contains(s:take_output(), "250 localhost\r\n450 4.2.0 Later\r\n")
    s:close()
    H.ok(not pcall(s.accept_next, s), "closed session")
end)

test("accept_next: an AUTH left unanswered is refused, not logged in", function()
    local s = assert(smtpcore.server_new({ extensions = { "PIPELINING", "ENHANCEDSTATUSCODES",
        "AUTH" }, allow_plaintext_auth = true }))
    H.eq(tonumber(assert(s:accept_next()).type), SEV.CONNECT)
    H.eq(tonumber(assert(s:accept_next()).type), SEV.NONE)
    s:take_output() -- the greeting, written before the client speaks
    assert(s:receive("EHLO c\r\n"))
    H.eq(tonumber(assert(s:accept_next()).type), SEV.HELO)
    H.eq(tonumber(assert(s:accept_next()).type), SEV.NONE)
    s:take_output()
    assert(s:receive("AUTH PLAIN AGEAYg==\r\n"))
    H.eq(tonumber(assert(s:accept_next()).type), SEV.AUTH)
    local ev, _, rc = s:accept_next()
    H.eq(ev, nil)
    H.eq(rc, smtpcore.const.SMTPCORE_ERR_INVALID_STATE)
    H.eq(s:take_output(), "", "no 235")
    assert(s:reject(535))
    H.eq(tonumber(assert(s:accept_next()).type), SEV.NONE)
    H.match(s:take_output(), "^535 ")
end)

return T
