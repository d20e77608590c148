-- SPDX-License-Identifier: MIT
-- A cosocket-shaped wrapper around luasocket, so resty.smtpcore.client runs the same code
-- path in plain LuaJIT as inside nginx. Only the methods the client uses are provided:
-- settimeout(s), connect (with a keepalive pool), getreusedtimes, send, receiveany,
-- sslhandshake (through luasec, when installed), setkeepalive, close.
--
-- Timeouts are in milliseconds, as with ngx.socket.tcp.
local socket = require "socket"

local _M = {}
local mt = { __index = _M }

-- Idle connections by pool name. A plain-Lua process is one "worker", so a module-level
-- table is the equivalent of the cosocket pool.
local pools = {}

local function now() return socket.gettime() end

function _M.tcp()
    return setmetatable({ connect_timeout = 60000, send_timeout = 60000,
                          read_timeout = 60000, reused = 0 }, mt)
end

--- A socket factory with TLS trust settings: factory{ cafile = "...", capath = "..." }.
function _M.factory(opts)
    return function()
        local s = _M.tcp()
        s.cafile, s.capath = opts.cafile, opts.capath
        return s
    end
end

function _M:settimeout(ms)
    self.connect_timeout, self.send_timeout, self.read_timeout = ms, ms, ms
end

function _M:settimeouts(c, s, r)
    self.connect_timeout, self.send_timeout, self.read_timeout = c, s, r
end

-- An idle pooled socket is only usable when it has neither data nor EOF waiting: either
-- means the server spoke (a 421 timeout notice) or left, and the connection is unsafe.
local function still_idle(sock)
    sock:settimeout(0)
    local data, err, partial = sock:receive(1)
    if data or (partial and #partial > 0) then return false end
    return err == "timeout" or err == "wantread"
end

function _M:connect(host, port, opts)
    if type(port) == "table" then port, opts = nil, port end -- connect("unix:/path", opts)
    local name = (opts and opts.pool) or (host .. ":" .. tostring(port))
    self.pool = name
    local list = pools[name]
    while list and #list > 0 do
        local e = table.remove(list)
        if e.expires > now() and still_idle(e.sock) then
            self.sock, self.reused, self.tls = e.sock, e.reused + 1, e.tls
            return 1
        end
        e.sock:close()
    end
    -- "unix:/path" (the cosocket form, connect(path, opts)) is a Unix-domain socket.
    local sock, ok, err
    if host:sub(1, 5) == "unix:" then
        sock = require("socket.unix")()
        sock:settimeout(self.connect_timeout / 1000)
        ok, err = sock:connect(host:sub(6))
    else
        sock = socket.tcp()
        sock:settimeout(self.connect_timeout / 1000)
        ok, err = sock:connect(host, port)
    end
    if not ok then
        sock:close()
        return nil, err
    end
    self.sock, self.reused = sock, 0
    return 1
end

function _M:getreusedtimes()
    if not self.sock then return nil, "closed" end
    return self.reused
end

function _M:send(data)
    local sock = self.sock
    if not sock then return nil, "closed" end
    sock:settimeout(self.send_timeout / 1000)
    local i, n = 1, #data
    while i <= n do
        local last, err, partial = sock:send(data, i)
        if not last then
            if err == "timeout" and partial and partial >= i then
                return nil, "timeout"
            end
            return nil, err
        end
        i = last + 1
    end
    return n
end

-- One non-blocking read: data, or nil and "timeout" / "closed" / an error.
local function try_read(sock, max)
    sock:settimeout(0)
    local data, err, partial = sock:receive(max)
    if data then return data end
    if partial and #partial > 0 then return partial end
    if err == "timeout" or err == "wantread" or err == "wantwrite" then return nil, "timeout" end
    return nil, err
end

--- Returns whatever is available (at least one byte), waiting up to the read timeout.
function _M:receiveany(max)
    local sock = self.sock
    if not sock then return nil, "closed" end
    -- Try first: TLS may hold bytes (a whole record read with the handshake) that
    -- select() cannot see.
    local data, err = try_read(sock, max)
    if data or err ~= "timeout" then return data, err end
    local deadline = socket.gettime() + self.read_timeout / 1000
    repeat
        local left = deadline - socket.gettime()
        if left <= 0 then break end
        socket.select({ sock }, nil, left)
        data, err = try_read(sock, max)
        if data or err ~= "timeout" then return data, err end
    until false
    return nil, "timeout"
end

-- RFC 6125 host name check (luasec verifies the chain but not the name): DNS names of
-- subjectAltName, else the subject's CN; "*" only as the whole leftmost label.
local function name_matches(pattern, host)
    pattern, host = pattern:lower(), host:lower()
    if pattern == host then return true end
    local rest = pattern:match("^%*(%..+)$")
    if rest and rest:find("%.", 2) then
        local hrest = host:match("^[^.]+(%..+)$")
        return hrest == rest
    end
    return false
end

local function check_host(conn, host)
    local cert = conn:getpeercertificate()
    if not cert then return nil, "no peer certificate" end
    local names = {}
    local ext = cert:extensions() or {}
    local san = ext["2.5.29.17"]
    if san and san.dNSName then
        for _, n in ipairs(san.dNSName) do names[#names + 1] = n end
    end
    if san and san.iPAddress then
        for _, ip in ipairs(san.iPAddress) do
            if ip == host then return true end
        end
    end
    if #names == 0 then
        for _, e in ipairs(cert:subject()) do
            if e.name == "CN" or e.name == "commonName" then names[#names + 1] = e.value end
        end
    end
    for _, n in ipairs(names) do
        if name_matches(n, host) then return true end
    end
    return nil, "certificate does not match " .. host
end
_M._name_matches = name_matches

--- TLS on the open connection (STARTTLS or implicit TLS), through luasec. With verify,
--- the chain is checked against the factory's cafile/capath (default: the system bundle)
--- and the certificate must name server_name.
function _M:sslhandshake(_, server_name, verify)
    local ok, ssl = pcall(require, "ssl")
    if not ok then return nil, "TLS in plain LuaJIT needs luasec (Debian: lua-sec)" end
    local params = {
        mode = "client", protocol = "any", options = { "all", "no_sslv2", "no_sslv3" },
        verify = verify and { "peer", "fail_if_no_peer_cert" } or "none",
    }
    if verify then
        params.cafile = self.cafile
        params.capath = self.capath
        if not params.cafile and not params.capath then params.capath = "/etc/ssl/certs" end
    end
    local conn, err = ssl.wrap(self.sock, params)
    if not conn then return nil, err end
    if server_name then conn:sni(server_name) end
    conn:settimeout(self.connect_timeout / 1000)
    local hs, herr = conn:dohandshake()
    if not hs then return nil, herr end
    if verify then
        local good, verr = check_host(conn, server_name or "")
        if not good then
            conn:close()
            return nil, verr
        end
    end
    self.sock, self.tls = conn, true
    return true
end

function _M:setkeepalive(timeout, size)
    local sock = self.sock
    if not sock then return nil, "closed" end
    self.sock = nil
    local list = pools[self.pool]
    if not list then
        list = {}
        pools[self.pool] = list
    end
    if #list >= (size or 30) then
        sock:close()
        return 1
    end
    list[#list + 1] = { sock = sock, reused = self.reused, tls = self.tls,
                        expires = now() + (timeout or 60000) / 1000 }
    return 1
end

function _M:close()
    local sock = self.sock
    if not sock then return nil, "closed" end
    self.sock = nil
    sock:close()
    return 1
end

--- Closes every pooled idle connection (for tests and clean shutdown).
function _M.drain_pools()
    for name, list in pairs(pools) do
        for _, e in ipairs(list) do e.sock:close() end
        pools[name] = nil
    end
end

return _M
