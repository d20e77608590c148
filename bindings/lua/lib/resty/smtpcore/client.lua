-- SPDX-License-Identifier: MIT
-- Sends mail over a cosocket (ngx.socket.tcp) or any object with the same methods
-- (resty.smtpcore.socket wraps luasocket for plain LuaJIT). The smtpcore client engine
-- does all of SMTP: greeting, EHLO/HELO fallback, STARTTLS, AUTH, pipelined groups,
-- dot-stuffing; this module only moves bytes and turns events into results.
--
--   local client = require "resty.smtpcore.client"
--   local mailer = client.new{ host = "127.0.0.1", port = 25, helo_name = "web.example.org" }
--   local res, err = mailer:send{ from = "a@example.org", to = { "b@example.org" },
--                                 body = "Subject: hi\r\n\r\nhello\r\n" }
--
-- Connection reuse: after a transaction that ended cleanly the socket goes back to the
-- keepalive pool and its engine session to a per-worker idle list; every pooled socket
-- has its own pool name so the session always matches its socket. A reused connection
-- is checked with NOOP (or RSET) before it carries mail.
local smtpcore = require "resty.smtpcore"

local ffi_str = require("ffi").string
local tonumber = tonumber
local type = type
local ipairs = ipairs
local setmetatable = setmetatable
local str_sub = string.sub
local tbl_remove = table.remove

local CEV = smtpcore.CEV
local EV_NONE, EV_GREETING, EV_STARTTLS = CEV.NONE, CEV.GREETING, CEV.STARTTLS
local EV_AUTH_CHALLENGE, EV_AUTH_RESULT, EV_READY = CEV.AUTH_CHALLENGE, CEV.AUTH_RESULT, CEV.READY
local EV_MAIL_RESULT, EV_RCPT_RESULT, EV_SEND_BODY = CEV.MAIL_RESULT, CEV.RCPT_RESULT, CEV.SEND_BODY
local EV_MESSAGE_RESULT, EV_REPLY = CEV.MESSAGE_RESULT, CEV.REPLY
local EV_DELIVERY_RESULT = CEV.DELIVERY_RESULT
local EV_PROTOCOL_ERROR, EV_CLOSED = CEV.PROTOCOL_ERROR, CEV.CLOSED
local EV_XCLIENT_RESULT = CEV.XCLIENT_RESULT
local ERR_BUFFER_FULL = smtpcore.ERR.BUFFER_FULL
local ERR_INVALID_STATE = smtpcore.ERR.INVALID_STATE
-- The engine refuses an undeclared 8-bit body for a server without 8BITMIME with this
-- code (RFC 6152).
local ERR_8BIT = smtpcore.ERR["8BIT_NOT_OFFERED"]
local event_table = smtpcore.client_event_table

local ngx = ngx -- nil in plain LuaJIT

local function now()
    if ngx then return ngx.now() end
    return require("socket").gettime()
end

local function default_socket_factory()
    if ngx and ngx.socket and ngx.socket.tcp then return ngx.socket.tcp() end
    return require("resty.smtpcore.socket").tcp()
end

local _M = { _VERSION = "0.1.0" }
local Mailer = {}
Mailer.__index = Mailer
local Conn = {}
Conn.__index = Conn
_M.Conn = Conn

-- Engine sessions of pooled connections, per pool base name: { {id, session, expires}, ... }
-- (module level = per nginx worker; bounded by each mailer's pool_size).
local idle = {}
local next_id = 0

-- ---------------------------------------------------------------------------------------
-- Configuration
-- ---------------------------------------------------------------------------------------

--- Creates a mailer. opts:
---   host (required; "unix:/path" for a Unix-domain socket), port (25; unused for unix:),
---   helo_name ("localhost.localdomain")
---   lmtp (false: true speaks LMTP, RFC 2033: LHLO, and each recipient's delivery reply
---         after the data in recipients[i].delivery)
---   ssl (false: implicit TLS from the first byte, port 465)
---   starttls ("opportunistic" | "required" | "never"; default "opportunistic")
---   ssl_verify (false), server_name (host)
---   username, password, auth_mechanism ("PLAIN", "LOGIN", "XOAUTH2", other or nil=best)
---   auth_challenge (function(challenge) -> response or nil) for other mechanisms
---   auth_optional (false: with a username, a failed or unavailable AUTH fails connect)
---   allow_8bit (false: an 8-bit body to a server without 8BITMIME is refused locally;
---               with 8BITMIME offered, BODY=8BITMIME is declared automatically)
---   timeout (ms, all three) or connect_timeout, send_timeout, read_timeout (60000)
---   keepalive (true), keepalive_timeout (ms, 60000), pool_size (10), pool (name prefix)
---   check_reused ("noop" | "rset"; default "noop")
---   socket (a factory returning a cosocket-like object; default ngx.socket.tcp or the
---           luasocket wrapper)
---   quirks (list of names from smtpcore.QUIRK), read_size (4096)
---   engine (a table of extra smtpcore client config fields, e.g. input_buffer_size)
---   xclient (a table of XCLIENT attributes, e.g. { ADDR = ngx.var.remote_addr,
---            PORT = ngx.var.remote_port }: sent on each new connection before any mail,
---            so the server logs and judges the real client; the server must offer
---            XCLIENT to us, or connect fails. Pooled connections are kept per attribute set)
function _M.new(opts)
    if type(opts) ~= "table" or not opts.host then
        return nil, "opts.host is required"
    end
    local self = {
        host = opts.host,
        port = opts.port or 25,
        helo_name = opts.helo_name or "localhost.localdomain",
        ssl = opts.ssl and true or false,
        starttls = opts.starttls or "opportunistic",
        ssl_verify = opts.ssl_verify and true or false,
        server_name = opts.server_name or opts.host,
        username = opts.username,
        password = opts.password,
        auth_mechanism = opts.auth_mechanism,
        auth_challenge = opts.auth_challenge,
        auth_optional = opts.auth_optional and true or false,
        allow_8bit = opts.allow_8bit and true or false,
        connect_timeout = opts.connect_timeout or opts.timeout or 60000,
        send_timeout = opts.send_timeout or opts.timeout or 60000,
        read_timeout = opts.read_timeout or opts.timeout or 60000,
        keepalive = opts.keepalive ~= false,
        keepalive_timeout = opts.keepalive_timeout or 60000,
        pool_size = opts.pool_size or 10,
        check_reused = opts.check_reused or "noop",
        socket = opts.socket or default_socket_factory,
        quirks = opts.quirks,
        read_size = opts.read_size or 4096,
        engine = opts.engine,
        lmtp = opts.lmtp and true or false,
        xclient = opts.xclient,
    }
    if self.starttls ~= "opportunistic" and self.starttls ~= "required"
        and self.starttls ~= "never" then
        return nil, "bad starttls " .. tostring(self.starttls)
    end
    if self.check_reused ~= "noop" and self.check_reused ~= "rset" then
        return nil, "bad check_reused " .. tostring(self.check_reused)
    end
    -- Everything that shapes a session goes into the pool name, so a pooled connection
    -- is never handed to a mailer with other credentials or TLS settings.
    local xkey = ""
    if self.xclient then
        -- A pooled connection speaks for the client XCLIENT named: never reuse it for
        -- another one.
        local parts = {}
        for k, v in pairs(self.xclient) do
            parts[#parts + 1] = type(k) == "number" and (v[1] .. "=" .. v[2]) or (k .. "=" .. v)
        end
        table.sort(parts)
        xkey = table.concat(parts, ",")
    end
    self.pool = opts.pool or table.concat({ "smtpcore", self.host, tostring(self.port), xkey,
        self.helo_name, self.username or "", self.ssl and "ssl" or "plain", self.starttls,
        self.ssl_verify and "verify" or "noverify", self.server_name,
        self.lmtp and "lmtp" or "smtp" }, ":")
    return setmetatable(self, Mailer)
end

function Mailer:_session()
    local cfg = {
        helo_name = self.helo_name,
        tls_policy = self.ssl and "never" or self.starttls,
        tls_active = self.ssl,
        auth_user = self.username,
        auth_password = self.password,
        auth_mechanism = self.auth_mechanism,
        quirks = self.quirks,
        lmtp = self.lmtp or nil,
    }
    -- The engine checks 8-bit bodies itself: allow_8bit means sending them as they are
    -- (the quirk is looked up, so an older library without it still loads).
    local send_8bit = smtpcore.QUIRK.SEND_8BIT
    if self.allow_8bit and send_8bit then
        local q = cfg.quirks
        if type(q) == "number" then
            if q % (send_8bit * 2) < send_8bit then q = q + send_8bit end
        else
            local list = { "SEND_8BIT" }
            for _, n in ipairs(q or {}) do list[#list + 1] = n end
            q = list
        end
        cfg.quirks = q
    end
    if self.engine then
        for k, v in pairs(self.engine) do cfg[k] = v end
    end
    return smtpcore.client_new(cfg)
end

-- ---------------------------------------------------------------------------------------
-- Connections
-- ---------------------------------------------------------------------------------------

local function new_conn(mailer, sock, session, id)
    return setmetatable({
        mailer = mailer, sock = sock, session = session, id = id,
        pending = nil,      -- server bytes the engine could not take yet
        greeting = nil,     -- reply table of the 220
        caps = nil,         -- caps table from READY
        auth = nil,         -- AUTH_RESULT event table
        error_event = nil,  -- PROTOCOL_ERROR event table
        closed = false,
        reused = false,
        tls = mailer.ssl,
    }, Conn)
end

local function open_socket(mailer, id)
    local sock, err = mailer.socket()
    if not sock then return nil, err end
    sock:settimeouts(mailer.connect_timeout, mailer.send_timeout, mailer.read_timeout)
    local ok
    local popts = { pool = mailer.pool .. "#" .. id, pool_size = 1 }
    if mailer.host:sub(1, 5) == "unix:" then
        ok, err = sock:connect(mailer.host, popts) -- cosocket form for Unix-domain sockets
    else
        ok, err = sock:connect(mailer.host, mailer.port, popts)
    end
    if not ok then return nil, "connect: " .. tostring(err) end
    return sock
end

--- Opens (or reuses) a connection that is ready for a transaction. Returns a Conn or
--- nil, err.
function Mailer:connect()
    local list = idle[self.pool]
    local t = now()
    local sock, id, err
    while list and #list > 0 do
        local e = tbl_remove(list)
        if e.expires > t then
            sock, err = open_socket(self, e.id)
            if not sock then
                e.session:close()
                return nil, err
            end
            local reused = sock:getreusedtimes()
            if reused and reused > 0 then
                local conn = new_conn(self, sock, e.session, e.id)
                conn.reused, conn.caps, conn.tls = true, e.caps, e.tls
                if conn:_check_alive() then return conn end
                conn:close()
                sock = nil
            else
                -- The pool had dropped it, so this is a fresh connection: the old session
                -- belongs to a dead socket; start a new one on this socket.
                e.session:close()
                id = e.id
                break
            end
        else
            e.session:close()
        end
    end

    if not sock then
        next_id = next_id + 1
        id = next_id
        sock, err = open_socket(self, id)
        if not sock then return nil, err end
    end
    if self.ssl then
        local ok, herr = sock:sslhandshake(false, self.server_name, self.ssl_verify)
        if not ok then
            sock:close()
            return nil, "ssl handshake: " .. tostring(herr)
        end
    end
    local session, serr = self:_session()
    if not session then
        sock:close()
        return nil, "engine: " .. tostring(serr)
    end
    local conn = new_conn(self, sock, session, id)
    local ev, werr = conn:_wait(EV_READY)
    if not ev then
        conn:close()
        return nil, werr
    end
    if ev.type ~= EV_READY then
        local msg = conn:_describe(ev)
        conn:close()
        return nil, msg
    end
    if self.xclient then
        ev, werr = conn:_xclient(self.xclient)
        if not ev then
            conn:close()
            return nil, werr
        end
    end
    conn.caps = ev.caps
    -- The engine leaves the meaning of a failed AUTH to the host; with credentials
    -- given, sending unauthenticated is almost never what the caller wants.
    if self.username and not self.auth_optional
        and not (conn.auth and conn.auth.failure == "success") then
        local msg = conn:_describe(conn.auth or ev)
        conn:quit()
        return nil, msg
    end
    return conn
end

-- Runs conn[method](conn, arg) on a connection from the pool (or a new one), then returns
-- the connection to the pool (clean end) or closes it with QUIT.
local function on_connection(mailer, method, arg)
    local conn, err = mailer:connect()
    if not conn then return nil, err end
    local res, serr, partial = conn[method](conn, arg)
    if not res then
        conn:close()
        return nil, serr, partial
    end
    if mailer.keepalive then
        conn:set_keepalive()
    else
        conn:quit()
    end
    return res
end

--- Sends one message on a connection from the pool (or a new one), then returns the
--- connection to the pool (clean end) or closes it with QUIT.
--- Returns the result table, or nil, err, partial result.
function Mailer:send(msg)
    return on_connection(self, "send", msg)
end

-- ---------------------------------------------------------------------------------------
-- The event pump
-- ---------------------------------------------------------------------------------------

function Conn:_flush()
    local session = self.session
    local p, n = session:output_view()
    if n == 0 then return true end
    local data = ffi_str(p, n)
    session:consume(n)
    local ok, err = self.sock:send(data)
    if not ok then return nil, "send: " .. tostring(err) end
    return true
end

-- Feeds server bytes: the leftover first, else a fresh read. A fresh read only happens
-- when the engine has nothing to say, so waiting on the socket is always correct here.
function Conn:_feed()
    local session = self.session
    local data = self.pending
    if data then
        self.pending = nil
    else
        local err
        data, err = self.sock:receiveany(self.mailer.read_size)
        if not data then
            if err == "closed" then
                -- Tell the engine once; if it still has nothing to say, stop here rather
                -- than read a closed socket again.
                if self.eof then return nil, "connection closed by the server" end
                self.eof = true
                session:receive_eof()
                return true
            end
            return nil, "receive: " .. tostring(err)
        end
    end
    local n, err = session:receive(data)
    if not n then return nil, "engine receive: " .. tostring(err) end
    if n < #data then
        if n == 0 and self.stalled then
            return nil, "engine input stalled"
        end
        self.stalled = (n == 0)
        self.pending = str_sub(data, n + 1)
    else
        self.stalled = false
    end
    return true
end

function Conn:_starttls()
    local ok, err = self:_flush()
    if not ok then return nil, err end
    local m = self.mailer
    local hs, herr = self.sock:sslhandshake(false, m.server_name, m.ssl_verify)
    if not hs then return nil, "ssl handshake: " .. tostring(herr) end
    -- Bytes read before the handshake were plaintext; the engine already discarded and
    -- reported them (response injection), never let them reach the TLS conversation.
    self.pending = nil
    self.tls = true
    local started, serr = self.session:tls_started()
    if not started then return nil, "engine tls_started: " .. tostring(serr) end
    return true
end

--- Runs the conversation until an event whose type is `want` (or `want2`), CLOSED or a
--- failure; returns that event as a table. STARTTLS, AUTH challenges and informative
--- events are handled here.
function Conn:_wait(want, want2)
    local session = self.session
    if not session then return nil, "closed" end
    while true do
        local ev, err = session:next_event()
        if not ev then return nil, "engine: " .. tostring(err) end
        local t = tonumber(ev.type)
        if t == EV_NONE then
            local ok, ferr = self:_flush()
            if not ok then return nil, ferr end
            ok, ferr = self:_feed()
            if not ok then return nil, ferr end
        elseif t == want or t == want2 or t == EV_CLOSED then
            local e = event_table(ev)
            if t == EV_CLOSED then self.closed = true end
            return e
        elseif t == EV_STARTTLS then
            local ok, terr = self:_starttls()
            if not ok then return nil, terr end
        elseif t == EV_AUTH_CHALLENGE then
            local f = self.mailer.auth_challenge
            local challenge = smtpcore.slice(ev.data)
            local resp = f and f(challenge) or nil
            local ok, aerr = session:auth_respond(resp)
            if not ok then return nil, "engine auth_respond: " .. tostring(aerr) end
        elseif t == EV_GREETING then
            self.greeting = event_table(ev).reply
        elseif t == EV_AUTH_RESULT then
            self.auth = event_table(ev)
        elseif t == EV_PROTOCOL_ERROR then
            self.error_event = event_table(ev)
        end
        -- Anything else (an unexpected result type) is informative only.
    end
end

--- XCLIENT on a READY session: waits for its result and the READY after the new
--- greeting. Returns that READY event table, or nil, err (the session is then unusable).
function Conn:_xclient(attrs)
    local ok, err, rc = self.session:xclient(attrs)
    if not ok then
        if rc == smtpcore.ERR.UNSUPPORTED then
            return nil, "smtp: the server does not offer XCLIENT"
        end
        return nil, "engine xclient: " .. tostring(err)
    end
    local ev, werr = self:_wait(EV_XCLIENT_RESULT)
    if not ev then return nil, werr end
    if ev.type ~= EV_XCLIENT_RESULT then return nil, self:_describe(ev) end
    if ev.failure ~= "success" then
        local r = ev.reply
        return nil, "smtp: XCLIENT refused" .. (r and (": " .. r.code .. " " .. r.text) or "")
    end
    ev, werr = self:_wait(EV_READY)
    if not ev then return nil, werr end
    if ev.type ~= EV_READY then return nil, self:_describe(ev) end
    return ev
end

--- A readable reason for an unexpected or CLOSED event.
function Conn:_describe(ev)
    local e = self.error_event or ev
    local parts = { "smtp: " .. (e.name or "?") }
    if self.auth and self.auth.failure ~= "success" then
        parts[#parts + 1] = "AUTH failed"
        e = self.auth
    end
    if e.violation and e.violation ~= 0 then
        parts[#parts + 1] = smtpcore.violation_str(e.violation)
    end
    if e.message and e.message ~= "" then parts[#parts + 1] = e.message end
    if e.reply then parts[#parts + 1] = tostring(e.reply.code) .. " " .. e.reply.text end
    return table.concat(parts, ": ")
end

function Conn:_check_alive()
    local session = self.session
    local ok
    if self.mailer.check_reused == "rset" then
        ok = session:rset()
    else
        ok = session:noop()
    end
    if not ok then return false end
    local ev = self:_wait(EV_REPLY)
    return ev ~= nil and ev.type == EV_REPLY and ev.reply ~= nil
        and ev.reply.code >= 200 and ev.reply.code < 300
end

-- ---------------------------------------------------------------------------------------
-- Transactions
-- ---------------------------------------------------------------------------------------

local EXT_8BITMIME = smtpcore.EXT["8BITMIME"]

local function has_8bit(body)
    if type(body) == "string" then return body:find("[\128-\255]") ~= nil end
    if type(body) == "table" then
        for _, chunk in ipairs(body) do
            if chunk:find("[\128-\255]") then return true end
        end
    end
    return false
end

local function listify(v)
    if v == nil then return {} end
    if type(v) == "string" then return { v } end
    return v
end

-- Returns an iterator over body chunks: a string, a list of strings, or a function
-- returning strings then nil.
local function chunks(body)
    if type(body) == "string" then
        local done = false
        return function()
            if done then return nil end
            done = true
            return body
        end
    elseif type(body) == "table" then
        local i = 0
        return function()
            i = i + 1
            return body[i]
        end
    elseif type(body) == "function" then
        return body
    end
    return function() return nil end
end

-- Returns true when the body is out, "refused" when the engine refused it (an 8-bit body
-- the server may not get: the engine ends the session and reports the transaction as a
-- local failure in MESSAGE_RESULT, which the caller goes on to read), or nil, err.
function Conn:_send_body(body)
    local session = self.session
    for chunk in chunks(body) do
        local off, len = 1, #chunk
        while off <= len do
            local n, err, rc = session:body(chunk, off)
            if not n and rc == ERR_8BIT then return "refused" end
            if not n then return nil, "engine body: " .. tostring(err) end
            off = off + n
            if off <= len then
                -- Output buffer full: write it out, then offer the rest again.
                local ok, ferr = self:_flush()
                if not ok then return nil, ferr end
            end
        end
    end
    -- Write everything out before ending the body, so body_end() rarely meets a full
    -- output buffer (its retry path once lost the final CRLF of a DATA body; fixed in
    -- the engine, and one write fewer either way).
    local fok, ferr = self:_flush()
    if not fok then return nil, ferr end
    for _ = 1, 1000 do
        local ok, err, rc = session:body_end()
        if ok then return true end
        if rc ~= ERR_BUFFER_FULL then return nil, "engine body_end: " .. tostring(err) end
        fok, ferr = self:_flush()
        if not fok then return nil, ferr end
    end
    return nil, "engine body_end: output never drained"
end

local function reply_fields(dst, ev)
    dst.failure = ev.failure
    dst.ok = ev.failure == "success"
    local r = ev.reply
    if r then
        dst.code, dst.enhanced, dst.text, dst.lines = r.code, r.enhanced, r.text, r.lines
    end
    if ev.violation and ev.violation ~= 0 then
        dst.violation = smtpcore.violation_str(ev.violation)
    end
    if ev.message and ev.message ~= "" then dst.message = ev.message end
end

-- Fields that ask for the message to be built (resty.smtpcore.message) instead of sent
-- from `body` as it is.
local BUILD_FIELDS = { "subject", "text", "html", "attachments", "headers", "cc", "bcc",
                       "reply_to" }

-- A message given as fields (no body) becomes { from, to, body } with the envelope taken
-- from the mailboxes: the sender's address, to + cc + bcc once each. Returns the table
-- to send; a message that cannot be built comes back with build_error set.
local function expand(msg)
    if type(msg) ~= "table" or msg.body ~= nil then return msg end
    local wanted = false
    for _, f in ipairs(BUILD_FIELDS) do
        if msg[f] ~= nil then wanted = true break end
    end
    if not wanted then return msg end
    local message = require "resty.smtpcore.message"
    -- One string, as a raw body would be (offered as a list, each small piece could
    -- become a BDAT chunk of its own).
    local data, info = message.build(msg, msg.build_options)
    if not data then return { build_error = info } end
    local params = msg.mail_params
    local utf8 = info.from:find("[\128-\255]")
    for _, r in ipairs(info.recipients) do utf8 = utf8 or r:find("[\128-\255]") end
    if utf8 and not (params and params.smtputf8) then
        -- Non-ASCII mailbox names in the envelope need SMTPUTF8 (RFC 6531); a server
        -- without it refuses the message locally (failure = "local", stage = "mail").
        local p = { smtputf8 = true }
        for k, v in pairs(params or {}) do p[k] = v end
        params = p
    end
    return { from = info.from, to = info.recipients, body = data, mail_params = params,
             rcpt_params = msg.rcpt_params, message_id = info.message_id }
end

-- Checks a message before anything is sent and builds its result table. Returns res,
-- params, to; or res alone when the message is refused locally (res.failure = "local").
function Conn:_prepare(msg)
    if msg.build_error then
        return { ok = false, reused = self.reused, recipients = {}, mail = {}, accepted = 0,
                 total = 0, failure = "local", stage = "message", message = msg.build_error }
    end
    local to = listify(msg.to)
    local res = { ok = false, reused = self.reused, recipients = {}, mail = {},
                  accepted = 0, total = #to, message_id = msg.message_id,
                  lmtp = self.mailer.lmtp }
    for i, addr in ipairs(to) do
        res.recipients[i] = { address = addr, ok = false, failure = "not_sent" }
    end
    if #to == 0 then
        res.failure, res.message = "local", "no recipients"
        return res
    end
    -- A line break in a recipient can only be an injection attempt; refusing it here
    -- keeps the connection usable (the engine would refuse it too, with MAIL queued).
    for i, addr in ipairs(to) do
        if type(addr) ~= "string" or addr:find("[\r\n%z]") then
            local why = "recipient " .. i .. " contains CR, LF or NUL"
            res.failure, res.stage, res.message = "local", "rcpt", why
            res.recipients[i].failure, res.recipients[i].message = "local", why
            return res
        end
    end
    -- RFC 6152: 8-bit content needs BODY=8BITMIME, and a server without 8BITMIME must not
    -- get it at all. Declared for the caller when the body is known up front (a string or
    -- a list); an iterator body is the caller's to declare.
    -- A BODY=7BIT that the data contradicts counts as undeclared here: to a server
    -- without 8BITMIME the engine would end the session in the middle of the body.
    local params = msg.mail_params
    local declared = params and params.body
    if (not declared or declared == "7BIT") and has_8bit(msg.body) then
        local ext = self.caps and self.caps.extension_mask or 0
        if ext % (EXT_8BITMIME * 2) >= EXT_8BITMIME then
            if not declared then
                local p = { body = "8BITMIME" }
                for k, v in pairs(params or {}) do p[k] = v end
                params = p
            end
        elseif not self.mailer.allow_8bit then
            local why = "8-bit body but the server does not offer 8BITMIME"
            res.failure, res.stage, res.message = "local", "mail", why
            res.mail.failure, res.mail.message = "local", why
            return res
        end
    end
    return res, params, to
end

-- Queues RCPTs and DATA behind an accepted MAIL. Returns true, or nil, err (the envelope
-- is then half queued and the connection is closed: nothing sane can follow on it).
function Conn:_envelope(msg, to)
    local session = self.session
    local rp = msg.rcpt_params
    local per_rcpt = rp and rp[1] ~= nil
    for i, addr in ipairs(to) do
        local p = rp
        if per_rcpt then p = rp[i] end
        local ok, err = session:rcpt(addr, p)
        if not ok then
            self:close()
            return nil, "recipient " .. tostring(addr) .. ": " .. tostring(err)
        end
    end
    local ok, err = session:data()
    if not ok then
        self:close()
        return nil, "engine data: " .. tostring(err)
    end
    return true
end

-- LMTP: a recipient counts as accepted when it was delivered to (its reply after the data).
local function count_accepted(res)
    local n = 0
    for _, r in ipairs(res.recipients) do
        if r.ok and (not res.lmtp or (r.delivery and r.delivery.ok)) then n = n + 1 end
    end
    res.accepted = n
end

-- LMTP: files a DELIVERY_RESULT into its recipient.
local function delivery(res, e)
    local r = res and res.recipients[e.rcpt_index + 1]
    if r then
        r.delivery = {}
        reply_fields(r.delivery, e)
    end
end

local function take_reply(res, src, stage)
    res.code, res.enhanced, res.text, res.lines = src.code, src.enhanced, src.text, src.lines
    res.failure, res.stage = src.failure, stage
end

-- Records a transaction's MESSAGE_RESULT and names the reply that decided a failure,
-- as the Python client does: the server's last word (a "554 no valid recipients" or
-- "503 need MAIL command" to DATA) rarely says why.
--   MAIL refused              -> the MAIL reply, stage "mail"
--   no recipient accepted     -> the first deferred (4xx) recipient's reply, since a
--                                retry can succeed, else the first refused one; "rcpt"
--   otherwise                 -> the reply to DATA or to the final dot, stage "data"
-- The engine's MESSAGE_RESULT may already carry that reply; the rule here does not
-- depend on it, and it gives the stage.
local function finish(res, e)
    reply_fields(res, e)
    res.rcpt_accepted, res.rcpt_total = e.rcpt_accepted, e.rcpt_total
    count_accepted(res)
    if res.ok then return end
    local m = res.mail
    if m.failure and m.failure ~= "success" then return take_reply(res, m, "mail") end
    if res.accepted == 0 then
        local first, first_stage
        for _, r in ipairs(res.recipients) do
            -- LMTP: a recipient accepted at RCPT is decided by its reply after the data.
            local d, stage = r, "rcpt"
            if res.lmtp and r.ok and r.delivery then d, stage = r.delivery, "data" end
            if d.code then
                if d.failure == "transient" then return take_reply(res, d, stage) end
                if not first then first, first_stage = d, stage end
            end
        end
        if first then return take_reply(res, first, first_stage) end
    end
    res.stage = "data"
end

--- Sends one message on this connection. msg, either raw:
---   from (reverse path without <>; "" for the null sender)
---   to (an address or a list), body (a string, a list of strings or an iterator)
--- or built (no body; resty.smtpcore.message.build does it, see there):
---   from, to, cc, bcc, reply_to ("Name <a@b>" mailboxes), subject, text, html, headers,
---   attachments, date, message_id, build_options; the envelope is the sender's address
---   and to + cc + bcc, res.message_id the Message-ID
--- and in both cases mail_params (see smtpcore Client:mail), rcpt_params (one table for
--- all recipients, or a list parallel to the recipients).
--- Returns { ok, code, enhanced, text, lines, failure, stage, mail = {...},
--- recipients = { {address, ok, code, enhanced, text, failure}, ... }, accepted, total,
--- reused } or nil, err, res. On a refusal, code/enhanced/text/failure are the deciding
--- reply's and stage ("mail", "rcpt", "data") says where it came from (see finish()).
function Conn:send(msg)
    local session = self.session
    if not session or self.closed then return nil, "connection closed" end
    msg = expand(msg)
    local res, params, to = self:_prepare(msg)
    if not to then
        if res.message == "no recipients" then return nil, "no recipients" end
        return res
    end
    self.in_transaction = true
    local ok, err, rc = session:mail(msg.from or "", params)
    if not ok then
        -- Refused before anything was sent (e.g. SIZE over the limit, SMTPUTF8 missing):
        -- the session is still idle and usable.
        res.failure, res.stage, res.message = "local", "mail", err
        res.mail.failure, res.mail.message, res.mail.rc = "local", err, rc
        self.in_transaction = false
        return res
    end
    local eok, eerr = self:_envelope(msg, to)
    if not eok then return nil, eerr, res end

    self._body = msg.body
    local done, terr = self:_transaction(res)
    self._body = nil
    if not done then return nil, terr, res end
    self.in_transaction = false
    return res
end

--- Sends several messages (tables as for send) on this connection. With PIPELINING each
--- message's MAIL, RCPTs and DATA go out behind the previous message's final dot
--- (RFC 2920 3.1): one round trip per message. Returns a list of result tables, one per
--- message in order (a refused message is a result with ok = false, not an error), or
--- nil, err, results when the conversation failed; results of messages it never reached
--- then have failure = "not_sent".
function Conn:send_many(msgs)
    local session = self.session
    if not session or self.closed then return nil, "connection closed" end
    local built = {}
    for i, m in ipairs(msgs) do built[i] = expand(m) end
    msgs = built
    local results, nmsg = {}, #msgs
    local nextm, active, body_given, pending = 1, {}, true, nmsg
    self.in_transaction = true

    -- Starts messages while the engine takes a MAIL: after READY, or right behind the
    -- previous message's dot. Returns true, or nil, err when the connection had to go.
    local function start()
        while nextm <= nmsg and (body_given or #active == 0) do
            local i, msg = nextm, msgs[nextm]
            local res, params, to = self:_prepare(msg)
            results[i] = res
            if not to then
                nextm, pending = nextm + 1, pending - 1
            else
                local ok, err, rc = session:mail(msg.from or "", params)
                if not ok and rc == ERR_INVALID_STATE then return true end -- not now
                nextm = nextm + 1
                if not ok then
                    res.failure, res.stage, res.message = "local", "mail", err
                    res.mail.failure, res.mail.message, res.mail.rc = "local", err, rc
                    pending = pending - 1
                else
                    local eok, eerr = self:_envelope(msg, to)
                    if not eok then return nil, eerr end
                    active[#active + 1] = i
                    body_given = false
                end
            end
        end
        return true
    end

    local function unfinished(why)
        for i = 1, nmsg do
            local res = results[i]
            if not res then
                res = self:_prepare(msgs[i])
                results[i] = res
            end
            if res.failure == nil then
                res.failure = (i < nextm) and "transient" or "not_sent"
                res.message = why
            end
        end
    end

    local ok, err = start()
    while ok and pending > 0 do
        local ev, eerr = session:next_event()
        if not ev then ok, err = nil, "engine: " .. tostring(eerr); break end
        local t = tonumber(ev.type)
        local newest = results[active[#active]]
        if t == EV_NONE then
            ok, err = self:_flush()
            if ok then ok, err = self:_feed() end
        elseif t == EV_MAIL_RESULT then
            if newest then reply_fields(newest.mail, event_table(ev)) end
        elseif t == EV_RCPT_RESULT then
            local e = event_table(ev)
            local r = newest and newest.recipients[e.rcpt_index + 1]
            if r then reply_fields(r, e) end
        elseif t == EV_SEND_BODY then
            -- BDAT without pipelining asks again after each chunk: the body goes once.
            if #active > 0 and not body_given then
                body_given = true
                ok, err = self:_send_body(msgs[active[#active]].body)
                if ok == true then ok, err = start() end
            end
        elseif t == EV_DELIVERY_RESULT then
            -- LMTP: like the verdict, it belongs to the oldest message without one.
            delivery(results[active[1]], event_table(ev))
        elseif t == EV_MESSAGE_RESULT then
            -- The verdict belongs to the oldest message without one.
            local i = table.remove(active, 1)
            if i then
                finish(results[i], event_table(ev))
                pending = pending - 1
            end
        elseif t == EV_READY then
            ok, err = start()
        elseif t == EV_CLOSED then
            self.closed = true
            ok, err = nil, self:_describe(event_table(ev))
        elseif t == EV_STARTTLS then
            ok, err = self:_starttls()
        elseif t == EV_PROTOCOL_ERROR then
            self.error_event = event_table(ev)
        end
    end
    if not ok then
        unfinished(err)
        return nil, err, results
    end
    self.in_transaction = false
    return results
end

-- Runs one submitted transaction to its end: records MAIL/RCPT results, feeds the body on
-- SEND_BODY, and returns "done" on MESSAGE_RESULT (or nil, err).
function Conn:_transaction(res)
    local session = self.session
    while true do
        local ev, err = session:next_event()
        if not ev then return nil, "engine: " .. tostring(err) end
        local t = tonumber(ev.type)
        if t == EV_NONE then
            local ok, ferr = self:_flush()
            if not ok then return nil, ferr end
            ok, ferr = self:_feed()
            if not ok then return nil, ferr end
        elseif t == EV_MAIL_RESULT then
            reply_fields(res.mail, event_table(ev))
        elseif t == EV_RCPT_RESULT then
            local e = event_table(ev)
            local r = res.recipients[e.rcpt_index + 1]
            if r then reply_fields(r, e) end
        elseif t == EV_SEND_BODY then
            local ok, berr = self:_send_body(self._body)
            if not ok then return nil, berr end
        elseif t == EV_DELIVERY_RESULT then
            delivery(res, event_table(ev))
        elseif t == EV_MESSAGE_RESULT then
            finish(res, event_table(ev))
            return "done"
        elseif t == EV_CLOSED then
            self.closed = true
            return nil, self:_describe(event_table(ev))
        elseif t == EV_STARTTLS then
            local ok, terr = self:_starttls()
            if not ok then return nil, terr end
        elseif t == EV_PROTOCOL_ERROR then
            self.error_event = event_table(ev)
        end
    end
end

--- Returns the connection to the keepalive pool when the last transaction ended cleanly;
--- otherwise ends it with QUIT. Returns true or nil, err.
function Conn:set_keepalive()
    local session, sock, m = self.session, self.sock, self.mailer
    if not session then return nil, "closed" end
    local _, pending_out = session:output_view()
    local clean = not self.closed and not self.pending and pending_out == 0
        and not session:want_close() and not self.error_event and not self.in_transaction
    local list = idle[m.pool]
    if not list then
        list = {}
        idle[m.pool] = list
    end
    if not clean or #list >= m.pool_size then
        return self:quit()
    end
    local ok, err = sock:setkeepalive(m.keepalive_timeout, 1)
    self.sock = nil
    if not ok then
        self:close()
        return nil, "setkeepalive: " .. tostring(err)
    end
    list[#list + 1] = { id = self.id, session = session, caps = self.caps, tls = self.tls,
                        expires = now() + m.keepalive_timeout / 1000 }
    self.session = nil
    return true
end

--- Ends the conversation politely (QUIT, wait for 221 briefly) and closes the socket.
function Conn:quit()
    local session = self.session
    if session and not self.closed then
        if session:quit() then
            self:_wait(EV_CLOSED)
        end
    end
    return self:close()
end

--- Closes the socket and frees the session without any more SMTP.
function Conn:close()
    if self.sock then
        self.sock:close()
        self.sock = nil
    end
    if self.session then
        self.session:close()
        self.session = nil
    end
    self.closed = true
    return true
end

--- Sends several messages on one pooled (or new) connection (see Conn:send_many), then
--- returns the connection to the pool or closes it. Returns the list of results, or nil,
--- err, partial results.
function Mailer:send_many(msgs)
    return on_connection(self, "send_many", msgs)
end

--- Convenience: one message through a temporary mailer. Returns res or nil, err.
function _M.send(opts, msg)
    local mailer, err = _M.new(opts)
    if not mailer then return nil, err end
    return mailer:send(msg)
end

--- Number of idle pooled sessions for a mailer (for tests and monitoring).
function Mailer:idle_count()
    local list = idle[self.pool]
    return list and #list or 0
end

return _M
