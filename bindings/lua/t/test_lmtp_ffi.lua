-- SPDX-License-Identifier: MIT
-- LMTP (RFC 2033) through the FFI layer: the server answering each recipient
-- (Server:reply_rcpt, any order, also later), the client's DELIVERY_RESULT events, and
-- the two wired together in memory (pair.lua).
local H = require "harness"
local Pair = require "pair"
local smtpcore = require "resty.smtpcore"

local SEV = smtpcore.SEV

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

-- Runs server events until NONE, answering with answer(s, event_table) or accept.
local function drain(s, answer)
    local events = {}
    for _ = 1, 10000 do
        local ev = assert(s:next_event())
        if tonumber(ev.type) == SEV.NONE then break end
        local e = smtpcore.server_event_table(ev)
        events[#events + 1] = e
        if e.answer_required and not (answer and answer(s, e)) then assert(s:accept()) end
    end
    return events
end

test("server: LHLO, HELO refused, recipients answered out of order and later", function()
    -- The input below pipelines past LHLO and DATA, which server_new() refuses by default
    -- (sync_policy "unauth", test_server.lua); this test is about the LMTP replies.
    local s = assert(smtpcore.server_new({ lmtp = true, extensions = {}, sync_policy = "off" }))
    H.ok(s:lmtp(), "lmtp mode")
    drain(s)
    H.eq(s:take_output(), "220 localhost LMTP smtpcore\r\n")
    assert(s:receive("EHLO c.example\r\nLHLO c.example\r\n"))
    local events = drain(s)
    H.eq(events[#events].name, "HELO")
    H.eq(events[#events].esmtp, true)
    H.eq(s:take_output(), "500 5.5.1 Error: this is an LMTP server, use LHLO\r\n"
        .. "250-localhost Hello c.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n")
    assert(s:receive("MAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.net>\r\n"
        .. "RCPT TO:<two@example.net>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n"))
    local ended
    drain(s, function(_, e)
        if e.type == SEV.MESSAGE_END then ended = e return true end
    end)
    H.eq(ended and ended.rcpt_count, 2, "rcpt_count")
    s:take_output()
    H.eq(s:rcpt_unanswered(), 2)
    assert(s:reply_rcpt(1, 452, "4.2.2", "two: full"))
    H.eq(s:take_output(), "", "recipient 0 goes first")
    local ok, _, rc = s:reply_rcpt(1, 250)
    H.eq(ok, nil, "answered twice")
    H.eq(rc, smtpcore.ERR.INVALID_ARGUMENT)
    H.eq(#drain(s), 0, "QUIT waits for the replies")
    assert(s:reply_rcpt(0, 250, nil, "one: saved"))
    H.eq(s:rcpt_unanswered(), 0)
    local after = drain(s)
    H.eq(after[1].name, "QUIT")
    H.eq(s:take_output(), "250 2.0.0 one: saved\r\n452 4.2.2 two: full\r\n221 2.0.0 Bye\r\n")
end)

test("server: reply_rcpt outside LMTP is an invalid state", function()
    local s = assert(smtpcore.server_new())
    H.eq(s:lmtp(), false)
    local ok, _, rc = s:reply_rcpt(0, 250)
    H.eq(ok, nil)
    H.eq(rc, smtpcore.ERR.INVALID_STATE)
end)

test("client and server in memory: delivery results per recipient", function()
    local pair = Pair.new({ helo_name = "client.example.org", lmtp = true },
        { lmtp = true },
        function(s, e)
            if e.type == SEV.RCPT and e.address:match("^nobody") then
                assert(s:reject(550, "5.1.1", "unknown"))
                return true
            end
            if e.type == SEV.MESSAGE_END then
                -- last recipient first; the second accepted one is over quota
                for i = e.rcpt_count - 1, 0, -1 do
                    if i == 1 then assert(s:reply_rcpt(i, 452, "4.2.2", "full"))
                    else assert(s:reply_rcpt(i, 250, nil, "saved " .. i)) end
                end
                return true
            end
        end)
    pair:expect("READY")
    assert(pair.c:mail("a@example.org"))
    for _, r in ipairs({ "one@example.net", "nobody@example.net", "two@example.net",
                         "three@example.net" }) do
        assert(pair.c:rcpt(r))
    end
    assert(pair.c:data())
    pair:expect("SEND_BODY")
    pair:send_body("Subject: x\r\n\r\nhello\r\n")
    local d = {}
    for _ = 1, 3 do
        local e = pair:expect("DELIVERY_RESULT")
        d[#d + 1] = e.rcpt_index .. ":" .. e.reply.code .. ":" .. e.failure
    end
    H.eq(table.concat(d, " "), "0:250:success 2:452:transient 3:250:success")
    local res = pair:expect("MESSAGE_RESULT")
    H.eq(res.failure, "success")
    H.eq(res.rcpt_accepted, 2, "delivered")
    H.eq(res.rcpt_total, 4)
    H.eq(pair.messages[1], "Subject: x\r\n\r\nhello\r\n")
end)

return T
