-- SPDX-License-Identifier: MIT
-- A scripted SMTP peer for tests: answers each command with the reply its script names,
-- so tests can play servers smtpcore's own sink never plays (Exim's multi-line final
-- replies, a refused MAIL, deferred recipients). Listens on 127.0.0.1 only.
--
-- Usage: luajit script_server.lua PORT-FILE SCRIPT-FILE [LOG-FILE]
-- SCRIPT-FILE returns a table; keys are lower-case verbs (greeting, ehlo, helo, mail,
-- rcpt, data, dot, rset, noop, quit, other) and values a reply ("250 OK"; lines joined
-- by "\r\n" for multi-line replies) or a list of replies used in turn (the last repeats).
-- "dot" answers the end of a DATA body. Missing verbs get "250 OK" ("221 Bye" for QUIT,
-- "354 Go ahead" for DATA). Serves connections one after another, at most
-- `connections` (default 5), and exits after `idle` seconds (default 20) without one.
-- Every line received goes to LOG-FILE ("C: ..." commands, "D: ..." body lines).
local socket = require "socket"

local port_file, script_file, log_file = arg[1], arg[2], arg[3]
local script = assert(dofile(script_file))
local log = log_file and assert(io.open(log_file, "ab"))

local function note(s)
    if log then
        log:write(s, "\n")
        log:flush()
    end
end

local DEFAULTS = { quit = "221 Bye", data = "354 Go ahead", dot = "250 OK queued",
                   greeting = "220 script.example.net ESMTP" }

local function reply_for(state, verb)
    local r = script[verb]
    if r == nil then r = DEFAULTS[verb] or "250 OK" end
    if type(r) == "table" then
        local i = (state[verb] or 0) + 1
        state[verb] = i
        r = r[i] or r[#r]
    end
    return r
end

local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
local tmp = port_file .. ".tmp"
local f = assert(io.open(tmp, "wb"))
f:write(port, "\n")
f:close()
os.rename(tmp, port_file)

srv:settimeout(script.idle or 20)
for _ = 1, script.connections or 5 do
    local c = srv:accept()
    if not c then break end
    c:settimeout(10)
    local state = {}
    local function say(verb)
        local r = reply_for(state, verb)
        c:send(r .. "\r\n")
        return r
    end
    say("greeting")
    local in_data = false
    -- Every loop is bounded: at most this many lines per connection.
    for _ = 1, 100000 do
        local line = c:receive("*l")
        if not line then break end
        if in_data then
            note("D: " .. line)
            if line == "." then
                in_data = false
                say("dot")
            end
        else
            note("C: " .. line)
            local verb = (line:match("^(%a+)") or ""):lower()
            if not script[verb] and not DEFAULTS[verb] and verb ~= "ehlo" and verb ~= "helo"
                and verb ~= "mail" and verb ~= "rcpt" and verb ~= "rset" and verb ~= "noop" then
                verb = "other"
            end
            local r = say(verb)
            if verb == "data" and r:match("^3") then in_data = true end
            if verb == "quit" then break end
        end
    end
    c:close()
end
srv:close()
if log then log:close() end
