-- SPDX-License-Identifier: MIT
-- The LuaJIT side of bench/lua: the same work as bench_ffi_c.c, through resty.smtpcore.
-- Per event, both sides: one accept_next() call (the default answer to the event before,
-- when it needs one, and the next event), a read of its type, the count (and the BODY
-- length); on NONE, output() and consume() of what is queued, or back to input when
-- nothing is. Per chunk: one receive().
-- Usage: luajit bench_ffi.lua TRANSACTIONS SESSIONS CHUNK
local smtpcore = require "resty.smtpcore"
local socket = require "socket"

local tx_count = tonumber(arg[1]) or 1000
local sessions = tonumber(arg[2]) or 100
local chunk = tonumber(arg[3]) or 4096

local SEV_NONE, SEV_BODY = smtpcore.SEV.NONE, smtpcore.SEV.BODY

local TX = "MAIL FROM:<sender@example.org>\r\n"
    .. "RCPT TO:<rcpt1@example.org>\r\n"
    .. "RCPT TO:<rcpt2@example.org>\r\n"
    .. "DATA\r\n"
    .. "Subject: bench\r\n"
    .. "\r\n"
    .. ("x"):rep(60) .. "\r\n"
    .. ("x"):rep(60) .. "\r\n"
    .. ("x"):rep(60) .. "\r\n"
    .. ".\r\n"
local EHLO = "EHLO bench.example.org\r\n"
local stream = TX:rep(tx_count)

-- The counts in a struct, as in bench_ffi_c.c (upvalue numbers would add the JIT's checks
-- that an open upvalue does not alias a stack slot, per event).
local ffi = require "ffi"
local n = ffi.new("struct { uint64_t events, body_bytes; }")

-- Pulls events until the session needs input; answers and drains output. The events of
-- a read in an inner loop of their own: LuaJIT records an inner loop first, so the event
-- path is the root trace and NONE its side exit (in one flat loop the NONE path became
-- the root and each event ran a side trace that re-entered it at its head).
local function drain(s)
    while true do
        while true do
            local ev = s:accept_next()
            local t = ev.type
            if t == SEV_NONE then break end
            n.events = n.events + 1
            if t == SEV_BODY then n.body_bytes = n.body_bytes + ev.data.len end
        end
        local _, len = s:output_view()
        if len == 0 then return end
        s:consume(len)
    end
end

-- Offers the stream in chunks straight from the Lua string (no substring copies).
local function feed(s, data)
    local base = ffi.cast("const char *", data)
    local len, pos = #data, 0
    while pos < len do
        local want = len - pos
        if want > chunk then want = chunk end
        pos = pos + s:receive(base + pos, want)
        drain(s)
    end
end

local t0 = os.clock()
for _ = 1, sessions do
    -- The stream pipelines each message's content behind its DATA, which server_new()
    -- refuses by default (sync_policy "unauth"); the C side runs the engine's "off".
    local s = assert(smtpcore.server_new({ sync_policy = "off" }))
    drain(s)
    feed(s, EHLO)
    feed(s, stream)
    s:close()
end
local dt = os.clock() - t0
local events, body_bytes = tonumber(n.events), tonumber(n.body_bytes)
print(string.format("LuaJIT events=%d body_bytes=%d seconds=%.3f events/s=%.0f",
                    events, body_bytes, dt, events / dt))
