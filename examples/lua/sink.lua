#!/usr/bin/env luajit
-- A small SMTP sink in LuaJIT: luasocket for I/O, the smtpcore server engine for SMTP.
-- Serves several connections at once from one select() loop and stores every accepted
-- message as <dir>/<n>.eml (the content exactly as received, unstuffed) plus
-- <dir>/<n>.env (the envelope: "MAIL FROM:<...>" and one "RCPT TO:<...>" per line).
--
-- Usage: luajit examples/lua/sink.lua --dir DIR [--port N] [--port-file F]
--          [--max-messages N] [--idle-exit SECONDS] [--auth USER:PASS] [--hostname NAME]
--          [--tls-cert CERT.pem --tls-key KEY.pem]
-- With a certificate, STARTTLS is offered (through luasec) and AUTH only after it.
-- Port 0 (the default) binds a free port; --port-file receives it once listening.
-- Recipients whose local part starts with "reject" get 550 5.1.1 (handy for tests).
--
-- Needs LUA_PATH to reach bindings/lua/lib and the library via package.cpath or
-- SMTPCORE_LIB (see docs/lua.md).
local socket = require "socket"
local smtpcore = require "resty.smtpcore"

local SEV = smtpcore.SEV
local slice = smtpcore.slice

local opts = { port = 0, max_messages = math.huge, idle_exit = 300, hostname = "sink.localdomain" }
do
    local i = 1
    while i <= #arg do
        local k, v = arg[i], arg[i + 1]
        if k == "--dir" then opts.dir = v
        elseif k == "--port" then opts.port = tonumber(v)
        elseif k == "--port-file" then opts.port_file = v
        elseif k == "--max-messages" then opts.max_messages = tonumber(v)
        elseif k == "--idle-exit" then opts.idle_exit = tonumber(v)
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
    local cfg = { hostname = opts.hostname }
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

local function close_conn(c)
    conns[c.sock] = nil
    c.sock:close()
    c.session:close()
end

local function flush(c)
    local out = c.session:take_output()
    if #out > 0 then
        local i = 1
        while i <= #out do
            local last, err, partial = c.sock:send(out, i)
            if not last then
                if err ~= "timeout" then return nil, err end
                i = (partial or i - 1) + 1
            else
                i = last + 1
            end
        end
    end
    return true
end

-- STARTTLS: the 220 is already flushed; handshake (blocking, bounded by the socket
-- timeout), then tell the engine. Bytes we still hold arrived in plaintext after the
-- STARTTLS command: drop them, like the engine drops what it had (CVE-2011-0411 class).
local function start_tls(c)
    local conn, err = ssl.wrap(c.sock, tls_params)
    if not conn then return nil, err end
    conn:settimeout(5)
    local ok, herr = conn:dohandshake()
    if not ok then return nil, herr end
    conns[c.sock] = nil
    c.sock = conn
    conns[conn] = c
    c.pending = nil
    c.tls = true
    c.tls_fresh = true
    return c.session:tls_started()
end

-- Handles one event; returns false when the connection must close now.
local function handle(c, ev)
    local s = c.session
    local t = tonumber(ev.type)
    if t == SEV.STARTTLS then
        if not flush(c) then return false end
        local ok, err = start_tls(c)
        if not ok then
            io.stderr:write("sink: TLS handshake failed: " .. tostring(err) .. "\n")
            return false
        end
    elseif t == SEV.MAIL then
        c.from, c.rcpts, c.body = slice(ev.address), {}, {}
        s:accept()
    elseif t == SEV.RCPT then
        local addr = slice(ev.address)
        if addr:match("^reject") then
            s:reject(550, "5.1.1", "No such user here")
        else
            c.rcpts[#c.rcpts + 1] = addr
            s:accept()
        end
    elseif t == SEV.BODY then
        c.body[#c.body + 1] = slice(ev.data)
    elseif t == SEV.MESSAGE_END then
        store(c)
        s:accept()
        c.body = {}
    elseif t == SEV.MESSAGE_ABORTED or t == SEV.RSET then
        c.body = {}
    elseif t == SEV.AUTH then
        if slice(ev.username) == auth_user and slice(ev.password) == auth_pass then
            c.user = auth_user
            s:accept()
        else
            s:reject(535, "5.7.8", "Authentication credentials invalid")
        end
    elseif ev.answer_required ~= 0 then
        -- CONNECT, HELO, DATA, VRFY, EXPN, HELP: the engine's defaults.
        s:accept()
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

-- Runs events until the engine needs more bytes than we hold; false means close now.
local function drive(c)
    local s = c.session
    local progress = true
    for _ = 1, 1000000 do
        if feed(c) > 0 then progress = true end
        local ev = assert(s:next_event())
        local t = tonumber(ev.type)
        if t == SEV.NONE then
            if not flush(c) or s:want_close() then return false end
            -- Input still held back: go round while something moves, else wait for
            -- the peer (the engine is waiting for our output to be read).
            if not c.pending or not progress then break end
            progress = false
        elseif t == SEV.CLOSE then
            flush(c)
            return false
        else
            if handle(c, ev) == false then return false end
            progress = true
        end
    end
    return true
end

-- Reads what is there and drives the session. TLS may hold bytes that select() cannot
-- see: go round while the socket says it is dirty.
local function read_conn(c)
    for _ = 1, 64 do
        local sock = c.sock
        sock:settimeout(0)
        local data, err, partial = sock:receive(8192)
        sock:settimeout(5)
        data = data or partial
        if data and #data > 0 then
            c.pending = (c.pending or "") .. data
            if not drive(c) then
                close_conn(c)
                return
            end
        end
        if err == "closed" then
            c.session:receive_eof()
            drive(c)
            close_conn(c)
            return
        end
        -- Just after a handshake the peer's next command may already sit unprocessed in
        -- the TLS layer (neither select() nor dirty() report it): try one more read.
        local fresh = c.tls_fresh
        c.tls_fresh = false
        if not (fresh or (c.sock.dirty and c.sock:dirty())) then return end
    end
end

local last_activity = socket.gettime()
while stored < opts.max_messages do
    local watch = { listener }
    for sock in pairs(conns) do watch[#watch + 1] = sock end
    local readable = socket.select(watch, nil, 1)
    local now = socket.gettime()
    if #readable == 0 and now - last_activity > opts.idle_exit then break end
    for _, sock in ipairs(readable) do
        last_activity = now
        if sock == listener then
            local client = listener:accept()
            if client then
                client:settimeout(5)
                local session = assert(smtpcore.server_new(server_config()))
                local c = { sock = client, session = session, body = {}, rcpts = {} }
                conns[client] = c
                if not drive(c) then close_conn(c) end
            end
        else
            local c = conns[sock]
            if c then read_conn(c) end
        end
    end
end

for _, c in pairs(conns) do close_conn(c) end
listener:close()
io.stderr:write("sink: stored " .. stored .. " message(s)\n")
