-- SPDX-License-Identifier: MIT
-- Randomised round trips (fixed seeds, so failures reproduce): random bodies full of
-- dots, bare CR/LF and split CRLFs go from the client role to the server role in random
-- chunk sizes, over DATA and BDAT; the server must receive exactly the normalised body.
local H = require "harness"
local smtpcore = require "resty.smtpcore"
local Pair = require "pair"

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

-- What the client promises (docs/client-guide.md): bare CR and bare LF become CRLF; with
-- DATA a body that does not end in a line break gets one (the end marker needs it), with
-- BDAT the bytes end where the host's ended.
local function normalise(body, bdat)
    local s = body:gsub("\r\n", "\0"):gsub("[\r\n]", "\0"):gsub("%z", "\r\n")
    if not bdat and #s > 0 and s:sub(-2) ~= "\r\n" then s = s .. "\r\n" end
    return s
end

local PIECES = { ".", "..", "\r\n", "\n", "\r", "\r\n.", "\r\n.\r\n", "x", "hello", " ",
                 "From ", "\r\n..\r\n", "\t", "caf\195\169" }

local function random_body(rng, n)
    local parts = {}
    for i = 1, n do parts[i] = PIECES[rng(#PIECES)] end
    return table.concat(parts)
end

-- A Pair whose byte moves use random chunk sizes, to split CRLF, dots and replies anywhere.
-- Sessions are cdata (no fields of their own), so each is wrapped: receive() offers a
-- random prefix, every other method goes to the session.
local function chunked_pair(rng, copts)
    local p = Pair.new(copts, { hostname = "mx.example.org" })
    local function wrap(sess)
        return setmetatable({
            receive = function(_, data)
                local n = rng(#data > 0 and #data or 1)
                return sess:receive(data:sub(1, n))
            end,
        }, { __index = function(_, k)
            local method = sess[k]
            return function(_, ...) return method(sess, ...) end
        end })
    end
    p.c, p.s = wrap(p.c), wrap(p.s)
    return p
end

local function collect(p, stop)
    for _ = 1, 100 do
        local e = p:next()
        if not e then error("no event while waiting for " .. stop) end
        if e.name == stop then return e end
    end
    error("too many events")
end

for _, mode in ipairs({ "BDAT", "DATA" }) do
    test("random bodies and chunking arrive normalised (" .. mode .. ")", function()
        math.randomseed(mode == "BDAT" and 5321 or 2920)
        local rng = math.random
        for round = 1, 400 do
            local copts = { helo_name = "client.example.org" }
            if mode == "DATA" then copts.quirks = { "NO_CHUNKING" } end
            -- A small output buffer half the time, so body() often takes only part.
            if rng(2) == 1 then copts.output_buffer_size = 1024 end
            local p = chunked_pair(rng, copts)
            collect(p, "READY")
            local body = random_body(rng, rng(600))
            assert(p.c:mail("a@example.org"))
            assert(p.c:rcpt("b@example.org"))
            assert(p.c:data())
            collect(p, "SEND_BODY")
            -- Feed the body itself in random pieces too.
            local pos = 1
            while pos <= #body do
                local n = rng(40)
                local piece = body:sub(pos, pos + n - 1)
                local off = 1
                for _ = 1, 1000 do
                    if off > #piece then break end
                    off = off + assert(p.c:body(piece, off))
                    if off <= #piece then p:next() end
                end
                pos = pos + n
            end
            p:send_body("")
            local res = collect(p, "MESSAGE_RESULT")
            if res.failure ~= "success" then
                error(("round %d: %s %s"):format(round, res.failure, tostring(res.message)))
            end
            local want = normalise(body, mode == "BDAT")
            if p.messages[1] ~= want then
                error(("round %d: body %q arrived as %q, want %q"):format(round, body,
                      tostring(p.messages[1]), want))
            end
        end
    end)
end

test("normalise() itself", function()
    H.eq(normalise("a\nb\rc\r\n"), "a\r\nb\r\nc\r\n")
    H.eq(normalise("a"), "a\r\n")
    H.eq(normalise("a\r", true), "a\r\n")
    H.eq(normalise("a", true), "a")
    H.eq(normalise("\r\r\n"), "\r\n\r\n")
    H.eq(normalise(""), "")
end)

return T
