-- SPDX-License-Identifier: MIT
-- An in-memory connection between a client session and a server session, both through
-- the FFI binding: what one writes the other reads, with leftovers kept when a bounded
-- input buffer is full. The server side answers by a policy and stores messages.
local smtpcore = require "resty.smtpcore"

local SEV, CEV = smtpcore.SEV, smtpcore.CEV

local Pair = {}
Pair.__index = Pair

--- policy(server, event_table) may answer and return true; otherwise events are accepted.
function Pair.new(client_opts, server_opts, policy)
    local c = assert(smtpcore.client_new(client_opts))
    local s = assert(smtpcore.server_new(server_opts))
    return setmetatable({ c = c, s = s, c2s = "", s2c = "", policy = policy,
                          body = {}, messages = {}, server_events = {} }, Pair)
end

local function feed(sess, buf)
    if #buf == 0 then return buf, false end
    local n = assert(sess:receive(buf))
    return buf:sub(n + 1), n > 0
end

-- Runs server events until it needs input; returns whether anything happened.
function Pair:_server()
    local moved = false
    for _ = 1, 100000 do
        local ev = assert(self.s:next_event())
        local t = tonumber(ev.type)
        if t == SEV.NONE then break end
        moved = true
        local e = smtpcore.server_event_table(ev)
        self.server_events[#self.server_events + 1] = e
        if t == SEV.BODY then
            self.body[#self.body + 1] = e.data
        elseif t == SEV.MESSAGE_END then
            self.messages[#self.messages + 1] = table.concat(self.body)
            self.body = {}
        elseif t == SEV.MESSAGE_ABORTED then
            self.body = {}
        end
        if e.answer_required and not (self.policy and self.policy(self.s, e)) then
            assert(self.s:accept())
        end
    end
    return moved
end

--- Moves bytes both ways until the client has an event; returns it as a table, or nil
--- when nothing moves any more.
function Pair:next()
    for _ = 1, 100000 do
        local ev = assert(self.c:next_event())
        if tonumber(ev.type) ~= CEV.NONE then return smtpcore.client_event_table(ev) end
        local moved, m = false, false
        local out = self.c:take_output()
        if #out > 0 then self.c2s, moved = self.c2s .. out, true end
        self.c2s, m = feed(self.s, self.c2s)
        moved = moved or m
        if self:_server() then moved = true end
        out = self.s:take_output()
        if #out > 0 then self.s2c, moved = self.s2c .. out, true end
        self.s2c, m = feed(self.c, self.s2c)
        moved = moved or m
        if not moved then return nil end
    end
    error("pair did not settle")
end

--- Skips events until one of type `want` (a CEV name); returns it (errors otherwise).
function Pair:expect(want, max)
    for _ = 1, max or 20 do
        local e = self:next()
        if not e then error("no event while waiting for " .. want, 2) end
        if e.name == want then return e end
    end
    error("too many events while waiting for " .. want, 2)
end

--- Feeds a whole body, moving bytes whenever the client's output buffer is full.
function Pair:send_body(data)
    local off = 1
    for _ = 1, 1000000 do
        if off > #data then break end
        local n = assert(self.c:body(data, off))
        off = off + n
        if off <= #data then
            -- Output full: let the server read some, then offer the rest again.
            local out = self.c:take_output()
            self.c2s = self.c2s .. out
            self.c2s = feed(self.s, self.c2s)
            self:_server()
            self.s2c = self.s2c .. self.s:take_output()
            self.c2s = feed(self.s, self.c2s)
            self:_server()
        end
    end
    for _ = 1, 1000 do
        local ok, _, rc = self.c:body_end()
        if ok then return end
        assert(rc == smtpcore.ERR.BUFFER_FULL, "body_end: " .. tostring(rc))
        self.c2s = self.c2s .. self.c:take_output()
        self.c2s = feed(self.s, self.c2s)
        self:_server()
    end
    error("body_end never succeeded")
end

return Pair
