-- SPDX-License-Identifier: MIT
-- lua-resty-mail's interface on top of resty.smtpcore.client, so that porting is one
-- changed require:
--
--   local mail = require "resty.smtpcore.mail"       -- was: require "resty.mail"
--   local mailer, err = mail.new{ host = "smtp.example.org", port = 587, starttls = true,
--                                 username = "u", password = "p" }
--   local ok, err = mailer:send{ from = "Shop <shop@example.org>", to = { "a@example.org" },
--                                subject = "Hi", text = "...", html = "...",
--                                attachments = { { filename = ..., content_type = ...,
--                                                  content = ... } } }
--
-- new() takes lua-resty-mail's options (host, port, starttls, ssl, username, password,
-- auth_type, domain, ssl_verify, ssl_host, timeout_connect, timeout_send, timeout_read);
-- send() returns true or nil, err like lua-resty-mail's, err quoting the reply that
-- decided a refusal. The differences (documented in docs/lua.md): connections are pooled
-- (keepalive), and when some recipients are refused but others accepted the message went
-- out, so send() returns true with the full result as a third value.
local client = require "resty.smtpcore.client"

local type, tostring, setmetatable, pairs = type, tostring, setmetatable, pairs
local str_upper, concat = string.upper, table.concat

local _M = { _VERSION = "0.1.0" }
local Mail = {}
Mail.__index = Mail

--- Creates a mailer from lua-resty-mail options (plus any resty.smtpcore.client option,
--- e.g. socket or keepalive, passed through). Returns the mailer or nil, err.
function _M.new(options)
    options = options or {}
    if type(options) ~= "table" then return nil, "options must be a table" end
    local auth_type = options.auth_type
    if options.username or options.password or auth_type then
        if not options.username then return nil, "authentication requested, but missing username" end
        if not options.password then return nil, "authentication requested, but missing password" end
        auth_type = auth_type or "plain"
        if auth_type ~= "plain" and auth_type ~= "login" then
            return nil, "invalid auth_type: " .. tostring(auth_type)
        end
    end
    local opts = {}
    for k, v in pairs(options) do opts[k] = v end
    -- lua-resty-mail names -> resty.smtpcore.client names
    opts.host = options.host or "localhost"
    opts.port = options.port or 25
    opts.helo_name = options.domain or options.helo_name or "localhost.localdomain"
    opts.domain = nil
    -- starttls = true means STARTTLS must happen (lua-resty-mail fails without it);
    -- false or nil means plain, as there.
    if type(options.starttls) ~= "string" then
        opts.starttls = options.starttls and "required" or "never"
    end
    opts.server_name = options.ssl_host or options.server_name
    opts.ssl_host = nil
    opts.auth_mechanism = auth_type and str_upper(auth_type) or options.auth_mechanism
    opts.auth_type = nil
    opts.connect_timeout = options.timeout_connect or options.connect_timeout
    opts.send_timeout = options.timeout_send or options.send_timeout
    opts.read_timeout = options.timeout_read or options.read_timeout
    opts.timeout_connect, opts.timeout_send, opts.timeout_read = nil, nil, nil
    local mailer, err = client.new(opts)
    if not mailer then return nil, err end
    return setmetatable({ mailer = mailer }, Mail)
end

--- A one-line reason for a refused message: where, and the reply that decided it.
local function reason(res)
    local parts = { "message refused" }
    if res.stage then parts[1] = parts[1] .. " at " .. res.stage end
    if res.code then
        local text = res.text and res.text:gsub("\n", " / ") or ""
        parts[#parts + 1] = tostring(res.code) .. " " .. text
    end
    if res.message then parts[#parts + 1] = res.message end
    return concat(parts, ": ")
end
_M.reason = reason

--- Sends a message given as lua-resty-mail's fields (from, reply_to, to, cc, bcc,
--- subject, text, html, headers, attachments). Returns true, nil, res when the server
--- accepted it (for at least one recipient; res lists every recipient's reply), or
--- nil, err (and res when the conversation got that far).
function Mail:send(data)
    if type(data) ~= "table" then return nil, "data must be a table" end
    local res, err = self.mailer:send(data)
    if not res then return nil, err end
    if not res.ok then return nil, reason(res), res end
    return true, nil, res
end

return _M
