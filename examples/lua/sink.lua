#!/usr/bin/env luajit
-- SPDX-License-Identifier: MIT
-- A small SMTP sink in LuaJIT: luasocket for I/O, the smtpcore server engine for SMTP.
-- Serves several connections at once from one select() loop and stores every accepted
-- message as <dir>/<n>.eml (the content exactly as received, unstuffed) plus
-- <dir>/<n>.env (the envelope: "MAIL FROM:<...>" and one "RCPT TO:<...>" per line).
--
-- Usage: luajit examples/lua/sink.lua --dir DIR [--port N] [--port-file F]
--          [--max-messages N] [--idle-exit SECONDS] [--auth USER:PASS] [--hostname NAME]
--          [--tls-cert CERT.pem --tls-key KEY.pem] [--max-conn N] [--timeout SECONDS]
--          [--command-timeout SECONDS] [--content-timeout SECONDS]
--          [--min-content-rate BYTES] [--max-auth-failures N] [--auth-failure-delay SECONDS]
--          [--max-auth-failures-per-address N] [--auth-failure-window SECONDS]
-- With a certificate, STARTTLS is offered (through luasec) and AUTH only after it.
-- Port 0 (the default) binds a free port; --port-file receives it once listening.
-- Recipients whose local part starts with "reject" get 550 5.1.1 (handy for tests).
--
-- Limits against hostile clients (as smtpcore.aio.serve; 0 switches one off):
--   --max-conn (1000): one more connection gets "421 4.7.0 Too many connections" and is
--     closed. --timeout (300): a client silent this long gets "421 4.4.2 <host> Error:
--     timeout exceeded" (the engine's shutdown) and is closed; so do the deadlines below.
--   --command-timeout (= --timeout): a command line must be complete within this long of
--     the previous reply. --content-timeout (= --timeout) plus one second per
--     --min-content-rate bytes (1024): the time a message's content may take. So a
--     client sending one byte a second is closed after about --timeout, mid-DATA too.
--   --max-auth-failures (3, the engine's): refused AUTHs per session before "421 4.7.0"
--     and close. --auth-failure-delay (1): each refused AUTH is answered only after this pause (the
--     loop serves the other connections meanwhile). --max-auth-failures-per-address
--     (0, off) refusals from one IP address within --auth-failure-window (600) seconds
--     make its next AUTH get "421 4.7.0 ... from ADDR, try later" and the close, unchecked.
-- Nothing blocks the loop: output a client does not read is queued (bounded) and the
-- client dropped at its deadline; the TLS handshake runs step by step like the rest.
--
-- Needs LUA_PATH to reach bindings/lua/lib and the library via package.cpath or
-- SMTPCORE_LIB (see docs/lua.md).
local socket = require "socket"
local smtpcore = require "resty.smtpcore"

local SEV = smtpcore.SEV
local slice = smtpcore.slice

local opts = { port = 0, max_messages = math.huge, idle_exit = 300, hostname = "sink.localdomain",
               max_conn = 1000, timeout = 300, min_content_rate = 1024, auth_failure_delay = 1,
               max_auth_failures_per_address = 0, auth_failure_window = 600 }
do
    local numeric = { ["--port"] = "port", ["--max-messages"] = "max_messages",
                      ["--idle-exit"] = "idle_exit", ["--max-conn"] = "max_conn",
                      ["--timeout"] = "timeout", ["--command-timeout"] = "command_timeout",
                      ["--content-timeout"] = "content_timeout",
                      ["--min-content-rate"] = "min_content_rate",
                      ["--auth-failure-delay"] = "auth_failure_delay",
                      ["--max-auth-failures"] = "max_auth_failures",
                      ["--max-auth-failures-per-address"] = "max_auth_failures_per_address",
                      ["--auth-failure-window"] = "auth_failure_window" }
    local i = 1
    while i <= #arg do
        local k, v = arg[i], arg[i + 1]
        if numeric[k] then
            local n = tonumber(v)
            if not n or n < 0 then
                io.stderr:write("bad value for " .. k .. ": " .. tostring(v) .. "\n")
                os.exit(2)
            end
            opts[numeric[k]] = n
        elseif k == "--dir" then opts.dir = v
        elseif k == "--port-file" then opts.port_file = v
        elseif k == "--auth" then opts.auth = v
        elseif k == "--hostname" then opts.hostname = v
        elseif k == "--tls-cert" then opts.tls_cert = v
        elseif k == "--tls-key" then opts.tls_key = v
        else
            io.stderr:write("unknown option " .. tostring(k) .. "\n")
            os.exit(2)
        end
        i = i + 2
    end
    if not opts.dir then
        io.stderr:write("usage: sink.lua --dir DIR [--port N] [--port-file F] ...\n")
        os.exit(2)
    end
    opts.command_timeout = opts.command_timeout or opts.timeout
    opts.content_timeout = opts.content_timeout or opts.timeout
end

local auth_user, auth_pass
if opts.auth then auth_user, auth_pass = opts.auth:match("^([^:]*):(.*)$") end

local listener = assert(socket.bind("127.0.0.1", opts.port))
listener:settimeout(0)
local _, port = listener:getsockname()
if opts.port_file then
    -- Write then rename, so a reader never sees a half-written port number.
    local tmp = opts.port_file .. ".tmp"
    local f = assert(io.open(tmp, "w"))
    f:write(port, "\n")
    f:close()
    assert(os.rename(tmp, opts.port_file))
end
io.stderr:write("sink: listening on 127.0.0.1:" .. port .. "\n")

local stored = 0
local conns = {} -- sock -> connection state

local ssl, tls_params
if opts.tls_cert then
    ssl = require "ssl" -- luasec (Debian: lua-sec)
    tls_params = { mode = "server", protocol = "any", key = opts.tls_key,
                   certificate = opts.tls_cert, options = { "all", "no_sslv2", "no_sslv3" } }
end

local function server_config()
    local cfg = { hostname = opts.hostname, max_auth_failures = opts.max_auth_failures }
    local ext = { "PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "DSN",
                  "ENHANCEDSTATUSCODES", "CHUNKING" }
    if ssl then ext[#ext + 1] = "STARTTLS" end
    if auth_user then
        ext[#ext + 1] = "AUTH"
        cfg.auth_mechs = { "PLAIN", "LOGIN" }
        -- Without TLS only over loopback (tests); with TLS the engine offers AUTH after it.
        cfg.allow_plaintext_auth = not ssl
    end
    cfg.extensions = ext
    return cfg
end

local function store(c)
    stored = stored + 1
    local base = string.format("%s/%d", opts.dir, stored)
    local f = assert(io.open(base .. ".tmp", "wb"))
    f:write(table.concat(c.body))
    f:close()
    local env = { "MAIL FROM:<" .. c.from .. ">" }
    for _, r in ipairs(c.rcpts) do env[#env + 1] = "RCPT TO:<" .. r .. ">" end
    if c.tls or c.user then
        env[#env + 1] = "tls=" .. (c.tls and "yes" or "no")
        env[#env + 1] = "auth=" .. (c.user or "-")
    end
    f = assert(io.open(base .. ".env", "wb"))
    f:write(table.concat(env, "\n"), "\n")
    f:close()
    -- The .eml appears last and whole: readers poll for it.
    assert(os.rename(base .. ".tmp", base .. ".eml"))
end

local nconns = 0
local now = socket.gettime()

local function close_conn(c)
    if conns[c.sock] then
        conns[c.sock] = nil
        nconns = nconns - 1
    end
    c.sock:close()
    c.session:close()
end

-- Deadlines (the engine has no clock): the time of the last byte read, of the last
-- reply (a command's time starts there) and, inside a message, of its content start and
-- the bytes it brought. While an answer is held back (the AUTH pause) they are paused.
-- Message content or command lines next? The engine knows (after the 354, or inside a
-- BDAT chunk); it decides which deadline applies.
local function sync_content(c)
    local inside = c.session:in_message()
    if inside and not c.content_start then
        c.content_start, c.content_bytes = now, 0
    elseif not inside and c.content_start then
        c.content_start, c.command_start = nil, now
    end
end

local function next_deadline(c)
    if c.paused_at then return nil end
    local best, which
    if opts.timeout > 0 then best, which = c.last_read + opts.timeout, "idle" end
    local t
    if not c.content_start then
        if opts.command_timeout > 0 then t = c.command_start + opts.command_timeout end
        if t and (not best or t < best) then best, which = t, "command" end
    elseif opts.content_timeout > 0 then
        t = c.content_start + opts.content_timeout
        if opts.min_content_rate > 0 then t = t + c.content_bytes / opts.min_content_rate end
        if not best or t < best then best, which = t, "content" end
    end
    return best, which
end

local function resume_clock(c)
    local shift = now - c.paused_at
    c.paused_at = nil
    c.last_read = c.last_read + shift
    c.command_start = c.command_start + shift
    if c.content_start then c.content_start = c.content_start + shift end
end

-- Output is queued in c.out and written without blocking; the select() loop writes the
-- rest when the socket can take it. "timeout", "wantread", "wantwrite": try later.
-- Above this much unsent output a connection is neither read from nor driven further:
-- its client does not read its replies (it is dropped at its deadline).
local OUT_MAX = 65536

local function would_block(err) return err == "timeout" or err == "wantwrite" or err == "wantread" end

local function send_out(c)
    local out = c.out
    if not out then return true end
    local last, err, partial = c.sock:send(out)
    local sent = last or partial or 0
    if not last and not would_block(err) then return nil, err end
    c.out = sent < #out and out:sub(sent + 1) or nil
    return true
end

local function flush(c)
    local out = c.session:take_output()
    if #out > 0 then
        c.command_start = now -- a reply: the next command's time starts
        c.out = c.out and c.out .. out or out
    end
    return send_out(c)
end

-- A deadline passed: the engine ends the session ("421 4.4.2 <host> Error: timeout
-- exceeded"; a message in progress ends with MESSAGE_ABORTED, then CLOSE). One write
-- attempt (a client that does not read gets nothing more), then close.
local function expire(c, which)
    io.stderr:write("sink: closing a connection: " .. which .. " timeout\n")
    local s = c.session
    if s:shutdown("timeout") then
        for _ = 1, 16 do -- MESSAGE_ABORTED, CLOSE
            local ev = assert(s:next_event())
            if tonumber(ev.type) == SEV.NONE then break end
        end
    end
    c.out = (c.out or "") .. s:take_output()
    send_out(c)
    close_conn(c)
end

-- STARTTLS: once the 220 is out, the handshake runs step by step from the select() loop
-- (a client that stalls in it holds no one else up and meets its deadline); then the
-- engine is told. Bytes we still hold arrived in plaintext after the STARTTLS command:
-- drop them, like the engine drops what it had (CVE-2011-0411 class). Returns nil, err
-- when the handshake failed.
local function tls_step(c)
    if c.out then return true end -- the 220 first
    if c.tls_want == "start" then
        local conn, err = ssl.wrap(c.sock, tls_params)
        if not conn then return nil, err end
        conn:settimeout(0)
        conns[c.sock] = nil
        c.sock = conn
        conns[conn] = c
        c.pending = nil
        c.tls_want = "handshake"
    end
    local ok, err = c.sock:dohandshake()
    if ok then
        c.tls_want, c.tls_io = nil, nil
        c.tls = true
        c.tls_fresh = true
        return c.session:tls_started()
    end
    if would_block(err) then
        c.tls_io = err
        return true
    end
    return nil, err
end

local function tls_progress(c)
    local ok, err = tls_step(c)
    if not ok then
        io.stderr:write("sink: TLS handshake failed: " .. tostring(err) .. "\n")
        close_conn(c)
    end
    return ok
end

-- AUTH failures per client address (--max-auth-failures-per-address): recent refusal
-- times, the oldest forgotten once they leave the window.
local auth_failures = {}

local function recent_failures(ip)
    local list = auth_failures[ip]
    if not list then return 0 end
    local keep = {}
    for _, t in ipairs(list) do
        if t > now - opts.auth_failure_window then keep[#keep + 1] = t end
    end
    auth_failures[ip] = #keep > 0 and keep or nil
    return #keep
end

-- At most this many addresses are remembered (as smtpcore-sink): beyond it the expired
-- ones are dropped, then any, so an address-scanning client cannot grow the table.
local MAX_ADDRESSES = 4096
local tracked = 0

local function auth_failed(ip, n)
    recent_failures(ip)
    local list = auth_failures[ip]
    if not list then
        if tracked >= MAX_ADDRESSES then
            tracked = 0
            for a in pairs(auth_failures) do
                if tracked >= MAX_ADDRESSES / 2 or recent_failures(a) == 0 then
                    auth_failures[a] = nil
                else
                    tracked = tracked + 1
                end
            end
        end
        list = {}
        tracked = tracked + 1
    end
    for _ = 1, n do list[#list + 1] = now end
    while #list > opts.max_auth_failures_per_address do table.remove(list, 1) end
    auth_failures[ip] = list
end

-- After a round of events: the session's new failed AUTHs (the engine's count: refusals
-- here and AUTHs it refused itself, AUTH FOO, "*") are counted for its address.
local function sync_auth_failures(c)
    if opts.max_auth_failures_per_address <= 0 then return end
    local f = c.session:auth_failures()
    if f > c.auth_seen then
        auth_failed(c.ip, f - c.auth_seen)
        c.auth_seen = f
    end
end

-- A refusal, or (address locked out) the end of the session with that reply.
local function give_auth_answer(c, a)
    if a.close then c.session:close_with(a[1], a[2], a[3])
    else c.session:reject(a[1], a[2], a[3]) end
end

local function answer_auth(c, ev)
    local s = c.session
    local answer
    if opts.max_auth_failures_per_address > 0
        and recent_failures(c.ip) >= opts.max_auth_failures_per_address then
        answer = { 421, "4.7.0", opts.hostname .. " Error: too many failed authentications from "
                   .. tostring(c.ip) .. ", try later", close = true }
    elseif slice(ev.username) == auth_user and slice(ev.password) == auth_pass then
        c.user = auth_user
        s:accept()
        return true
    else
        answer = { 535, "5.7.8", "Authentication credentials invalid" }
    end
    if opts.auth_failure_delay > 0 then
        -- Held back: the main loop answers at c.wait_until, serving others meanwhile.
        c.held, c.wait_until, c.paused_at = answer, now + opts.auth_failure_delay, now
        return "wait"
    end
    give_auth_answer(c, answer)
    return true
end

-- Handles one event; returns false when the connection must close now, "wait" when its
-- answer is held back, "tls" when the TLS handshake is next. Events it does not answer
-- here get the engine's default from the next accept_next() in drive() (CONNECT, HELO,
-- MAIL, an accepted RCPT, DATA, MESSAGE_END, VRFY, EXPN, HELP); AUTH never does (the
-- engine refuses to default it), so answer_auth() answers or holds it.
local function handle(c, ev)
    local t = tonumber(ev.type)
    if t == SEV.STARTTLS then
        c.tls_want = "start"
        return "tls"
    elseif t == SEV.MAIL then
        c.from, c.rcpts, c.body = slice(ev.address), {}, {}
    elseif t == SEV.RCPT then
        local addr = slice(ev.address)
        if addr:match("^reject") then
            c.session:reject(550, "5.1.1", "No such user here")
        else
            c.rcpts[#c.rcpts + 1] = addr
        end
    elseif t == SEV.BODY then
        local data = slice(ev.data)
        c.content_bytes = c.content_bytes + #data
        c.body[#c.body + 1] = data
    elseif t == SEV.MESSAGE_END then
        store(c) -- before the 250, which the next accept_next() gives
        c.body = {}
    elseif t == SEV.MESSAGE_ABORTED or t == SEV.RSET or t == SEV.HELO then
        c.body = {}
    elseif t == SEV.AUTH then
        return answer_auth(c, ev)
    end
    return true
end

-- Offers buffered input to the engine (it takes what fits in its bounded buffer).
local function feed(c)
    local data = c.pending
    if not data then return 0 end
    local n = assert(c.session:receive(data))
    if n == #data then c.pending = nil else c.pending = data:sub(n + 1) end
    return n
end

-- Runs events until the engine needs more bytes than we hold (or waits for an answer we
-- hold back); false means close now (once the output is written).
local function drive(c)
    if c.held or c.tls_want then return true end
    local s = c.session
    local progress = true
    for _ = 1, 1000000 do
        if feed(c) > 0 then progress = true end
        -- The default answer to the last event, when handle() left it unanswered, and
        -- the next event: one call into C per event.
        local ev = assert(s:accept_next())
        local t = tonumber(ev.type)
        if t == SEV.NONE then
            sync_auth_failures(c)
            if not flush(c) or s:want_close() then return false end
            sync_content(c)
            if c.out and #c.out >= OUT_MAX then break end -- resumed once it drains
            -- Input still held back: go round while something moves, else wait for
            -- the peer (the engine is waiting for our output to be read).
            if not c.pending then
                -- All read and answered: a quiet connection need not hold the engine's
                -- buffers (nil when a partial command line keeps them; nothing to do).
                s:release_idle()
                break
            end
            if not progress then break end
            progress = false
        elseif t == SEV.CLOSE then
            sync_auth_failures(c)
            flush(c)
            return false
        else
            local r = handle(c, ev)
            if r == false then return false end
            if r == "wait" then return flush(c) end
            if r == "tls" then
                if not flush(c) then return false end
                tls_progress(c) -- closes the connection itself on failure
                return true
            end
            progress = true
        end
    end
    return true
end

-- Ends a session: what is queued is still written, for at most --timeout (or 5 s).
local function finish(c)
    if not c.out then
        close_conn(c)
        return
    end
    c.closing = true
    c.close_by = now + (opts.timeout > 0 and opts.timeout or 5)
end

-- Reads what is there and drives the session. TLS may hold bytes that select() cannot
-- see: go round while the socket says it is dirty.
local function read_conn(c)
    for _ = 1, 64 do
        local data, err, partial = c.sock:receive(8192)
        data = data or partial
        if data and #data > 0 then
            c.last_read = now
            c.pending = (c.pending or "") .. data
            if not drive(c) then return finish(c) end
            if c.out and #c.out >= OUT_MAX then return end
        end
        if err == "closed" then
            c.session:receive_eof()
            drive(c)
            return finish(c)
        end
        -- Just after a handshake the peer's next command may already sit unprocessed in
        -- the TLS layer (neither select() nor dirty() report it): try one more read.
        local fresh = c.tls_fresh
        c.tls_fresh = false
        if c.held or not (fresh or (c.sock.dirty and c.sock:dirty())) then return end
    end
end

local BUSY = "421 4.7.0 Too many connections, try later\r\n"

local function accept_conn()
    local client = listener:accept()
    if not client then return end
    client:settimeout(0)
    if opts.max_conn > 0 and nconns >= opts.max_conn then
        client:send(BUSY) -- one attempt: a fresh socket's buffer takes it
        client:close()
        io.stderr:write("sink: refused a connection: --max-conn " .. opts.max_conn .. " reached\n")
        return
    end
    local session = assert(smtpcore.server_new(server_config()))
    local c = { sock = client, session = session, body = {}, rcpts = {}, ip = client:getpeername(),
                last_read = now, command_start = now, content_bytes = 0, auth_seen = 0 }
    conns[client] = c
    nconns = nconns + 1
    if not drive(c) then finish(c) end
end

-- Answers held back, deadlines and lingering closes; returns the select() timeout.
local function run_timers()
    local wait = 1
    local list = {} -- a copy: answering may replace a socket in conns (STARTTLS)
    for _, c in pairs(conns) do list[#list + 1] = c end
    for _, c in ipairs(list) do
        if not conns[c.sock] then
            -- closed by an earlier entry's doing
        elseif c.closing then
            if now >= c.close_by then close_conn(c) else wait = math.min(wait, c.close_by - now) end
        elseif c.held then
            if now >= c.wait_until then
                local a = c.held
                c.held = nil
                resume_clock(c)
                give_auth_answer(c, a)
                if not drive(c) then finish(c) end
            else
                wait = math.min(wait, c.wait_until - now)
            end
        else
            local due, which = next_deadline(c)
            if due and now >= due then expire(c, which)
            elseif due then wait = math.min(wait, due - now) end
        end
    end
    return math.max(wait, 0.01)
end

local last_activity = socket.gettime()
while stored < opts.max_messages do
    now = socket.gettime()
    local wait = run_timers()
    local rd, wr = { listener }, {}
    for sock, c in pairs(conns) do
        if c.tls_want then
            if c.tls_io == "wantwrite" then wr[#wr + 1] = sock
            elseif not c.out then rd[#rd + 1] = sock end
        elseif not c.closing and not c.held and (not c.out or #c.out < OUT_MAX) then
            rd[#rd + 1] = sock
        end
        if c.out then wr[#wr + 1] = sock end
    end
    local readable, writable = socket.select(rd, wr, wait)
    now = socket.gettime()
    if #readable == 0 and #writable == 0 and now - last_activity > opts.idle_exit then break end
    for _, sock in ipairs(writable) do
        local c = conns[sock]
        if c then
            if not send_out(c) then close_conn(c)
            elseif c.tls_want then
                if not c.out then tls_progress(c) end
            elseif c.closing then
                if not c.out then close_conn(c) end
            elseif c.pending and not c.held and (not c.out or #c.out < OUT_MAX) then
                if not drive(c) then finish(c) end -- input held back while it was full
            end
        end
    end
    for _, sock in ipairs(readable) do
        last_activity = now
        if sock == listener then
            accept_conn()
        else
            local c = conns[sock]
            if c and c.tls_want then
                if tls_progress(c) and not c.tls_want then read_conn(c) end
            elseif c and not c.closing then
                read_conn(c)
            end
        end
    end
end

for _, c in pairs(conns) do close_conn(c) end
listener:close()
io.stderr:write("sink: stored " .. stored .. " message(s)\n")
