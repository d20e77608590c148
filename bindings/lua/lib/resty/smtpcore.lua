-- SPDX-License-Identifier: MIT
-- LuaJIT FFI binding of libsmtpcore, the sans-I/O SMTP engine.
--
-- Thin by design: the engine owns the protocol, this module only moves bytes and events
-- across the FFI boundary. Events are pulled (no C callbacks into Lua: they abort JIT
-- traces), and sessions are freed by ffi.gc or an explicit :close().
--
-- The event returned by :next_event() is a const pointer to the event the C session owns
-- (read through an out-pointer each session keeps for itself, no module-wide cdata):
-- its fields stay until the next next_event() on that session; its slices (which point
-- into the session's input) until then or the next :receive() or :tls_started(),
-- whatever other sessions do in the meantime (other coroutines included). Answering it
-- does not change it. Copy it with server_event_table() / client_event_table() to keep
-- it longer. Scratch buffers private to this module (as in lua-resty-core) serve single
-- calls only and are never handed out.
local ffi = require "ffi"

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_gc = ffi.gc
local ffi_cast = ffi.cast
local tonumber = tonumber
local type = type
local error = error
local pairs = pairs
local str_format = string.format
local tbl_concat = table.concat

local _M = {}
-- On a line of its own: `opm build` reads the version from the first "_VERSION = ..." line.
_M._VERSION = "0.1.0"

-- ---------------------------------------------------------------------------------------
-- Declarations: lib/resty/smtpcore/cdef.lua is generated from bindings/cdef/smtpcore_cdef.h
-- (itself generated from the public headers); a test fails when either drifts.
-- ---------------------------------------------------------------------------------------
local CDEF = require "resty.smtpcore.cdef"
if not pcall(ffi.typeof, "smtpcore_server_event") then
    ffi.cdef(CDEF)
end

-- ---------------------------------------------------------------------------------------
-- Finding the shared library
-- ---------------------------------------------------------------------------------------
local function file_exists(path)
    local f = io.open(path, "rb")
    if f then f:close() return true end
    return false
end

--- Candidate paths in search order: $SMTPCORE_LIB (a file or a directory), then every
--- package.cpath template with "?" as "libsmtpcore" and as "smtpcore", then the
--- dynamic linker's own search for "smtpcore".
local function candidates()
    local list = {}
    local env = os.getenv("SMTPCORE_LIB")
    if env and env ~= "" then
        if env:match("%.so[%.%d]*$") or env:match("%.dylib$") then
            list[#list + 1] = env
        else
            list[#list + 1] = env:gsub("/+$", "") .. "/libsmtpcore.so"
        end
    end
    for tmpl in package.cpath:gmatch("[^;]+") do
        for _, name in ipairs({ "libsmtpcore", "smtpcore" }) do
            list[#list + 1] = (tmpl:gsub("%?", name))
        end
    end
    return list
end

local function load_library()
    local tried = {}
    for _, path in ipairs(candidates()) do
        if file_exists(path) then
            local ok, lib = pcall(ffi.load, path)
            if ok then return lib, path end
            tried[#tried + 1] = path .. " (" .. tostring(lib) .. ")"
        else
            tried[#tried + 1] = path .. " (not found)"
        end
    end
    local ok, lib = pcall(ffi.load, "smtpcore")
    if ok then return lib, "smtpcore (dynamic linker search)" end
    tried[#tried + 1] = "smtpcore via the dynamic linker (" .. tostring(lib) .. ")"
    return nil, "libsmtpcore not found; set SMTPCORE_LIB or package.cpath. Tried:\n  "
        .. tbl_concat(tried, "\n  ")
end

local C, lib_path = load_library()
if not C then error(lib_path, 2) end
_M.lib_path = lib_path
_M.C = C

-- Resolve every symbol now so a stale library fails at require time with a clear message
-- rather than in the middle of a conversation. Calls go through the library namespace `C`
-- (LuaJIT's FFI guide prefers it), except the few made per event or per read: see below.
local function sym(name)
    local ok = pcall(function() return C[name] end)
    if not ok then
        error("libsmtpcore at " .. lib_path .. " lacks " .. name .. " (version mismatch?)", 3)
    end
end

-- Every function the declarations name (so a new API function is checked as well).
for name in CDEF:gmatch("(smtpcore_[%w_]+)%s*%(") do
    sym(name)
end

-- The calls made per event or per read, cached as upvalues. A method that says `C.name`
-- loads the namespace upvalue and checks it on every call (a userdata, which the JIT does
-- not constify); a function cdata in an upvalue that is never assigned again is constified,
-- so the call compiles to a direct call with no check. bench/lua: 772 -> 761 instructions
-- per event. Anywhere the closure is not specialised (a prototype with several closures)
-- this would be a call through a pointer, so only the methods' own upvalues hold them.
local srv_receive = C.smtpcore_server_receive
local srv_next_event = C.smtpcore_server_next_event
local srv_accept = C.smtpcore_server_accept
local srv_accept_next = C.smtpcore_server_accept_next
local srv_reply = C.smtpcore_server_reply
local srv_reject = C.smtpcore_server_reject
local srv_output = C.smtpcore_server_output
local srv_consume = C.smtpcore_server_consume
local cli_receive = C.smtpcore_client_receive
local cli_next_event = C.smtpcore_client_next_event
local cli_body = C.smtpcore_client_body
local cli_output = C.smtpcore_client_output
local cli_consume = C.smtpcore_client_consume

-- ---------------------------------------------------------------------------------------
-- Private scratch buffers: each serves one call and is read (or copied) before that
-- call returns, so nothing here is ever seen across a yield or by a caller.
-- ---------------------------------------------------------------------------------------
local size_out = ffi_new("size_t[1]")
local ptr_out = ffi_new("const char *[1]")
local server_out = ffi_new("smtpcore_server *[1]")
local client_out = ffi_new("smtpcore_client *[1]")
local str_buf = ffi_new("smtpcore_str")
local mail_params = ffi_new("smtpcore_mail_params")
C.smtpcore_mail_params_init(mail_params) -- struct_size; Client:mail sets every other field
local rcpt_params = ffi_new("smtpcore_rcpt_params")
local literal_buf = ffi_new("char[64]")

-- A growable scratch byte buffer (like lua-resty-core's get_string_buf), for outputs whose
-- size depends on the input; it never shrinks, and is only used between two yields.
local scratch_size = 256
local scratch = ffi_new("char[?]", scratch_size)
local function get_buf(size)
    if size > scratch_size then
        scratch_size = size
        scratch = ffi_new("char[?]", size)
    end
    return scratch
end

-- ---------------------------------------------------------------------------------------
-- Constants (numbers, so comparisons compile to integer compares). All come from
-- resty.smtpcore.enums, generated from the public headers with the cdef (gen_cdef.lua);
-- the test suite checks that file against the headers and each value against the C
-- compiler. A constant added to a header appears here after regeneration, nothing else.
-- ---------------------------------------------------------------------------------------
local ENUMS = require "resty.smtpcore.enums"
_M.enums = ENUMS

--- Every C enum constant by its C name (smtpcore.const.SMTPCORE_SEV_HELO).
_M.const = {}
for _, members in pairs(ENUMS) do
    for name, v in pairs(members) do _M.const[name] = v end
end

--- Builds name -> value and value -> name tables from the C enum `ctype`: each member's
--- name loses `prefix` and goes through `rename` (if given). Members listed in `skip`
--- are left out; any other member without the prefix is an error at require time, so a
--- header change cannot go unnoticed.
local function enum(ctype, prefix, rename, skip)
    local members = ENUMS[ctype]
    if not members then error("resty.smtpcore.enums lacks " .. ctype .. " (regenerate)") end
    local t, rev = {}, {}
    for cname, v in pairs(members) do
        if not (skip and skip[cname]) then
            if cname:sub(1, #prefix) ~= prefix then
                error(cname .. " in " .. ctype .. " lacks the prefix " .. prefix)
            end
            local short = cname:sub(#prefix + 1)
            if rename then short = rename(short) end
            t[short] = v
            rev[v] = short
        end
    end
    return t, rev
end

local lower = string.lower
local function lower_no_fail(n) return (lower(n):gsub("^fail_", "")) end
local function sasl_name(n) return (n:gsub("_", "-")) end -- CRAM_MD5 -> CRAM-MD5

_M.OK = ENUMS.smtpcore_error.SMTPCORE_OK
_M.ERR = enum("smtpcore_error", "SMTPCORE_ERR_", nil, { SMTPCORE_OK = true })
_M.V, _M.V_NAMES = enum("smtpcore_violation", "SMTPCORE_V_")
_M.REPLY_FLAG = enum("smtpcore_reply_flag", "SMTPCORE_REPLY_")
_M.SEV, _M.SEV_NAMES = enum("smtpcore_server_event_type", "SMTPCORE_SEV_")
_M.CEV, _M.CEV_NAMES = enum("smtpcore_client_event_type", "SMTPCORE_CEV_")
_M.EXT = enum("smtpcore_ext", "SMTPCORE_EXT_")
_M.AUTH = enum("smtpcore_auth_mech", "SMTPCORE_AUTH_", sasl_name)
_M.QUIRK = enum("smtpcore_quirk", "SMTPCORE_QUIRK_")
_M.NOTIFY = enum("smtpcore_dsn_notify", "SMTPCORE_NOTIFY_")
_M.FAILURE, _M.FAILURE_NAMES = enum("smtpcore_failure", "SMTPCORE_", lower_no_fail)
_M.HELO_CLASS, _M.HELO_CLASS_NAMES = enum("smtpcore_helo_class", "SMTPCORE_HELO_", lower)

local BODY_TYPES = enum("smtpcore_body_type", "SMTPCORE_BODY_")
local RET_TYPES = enum("smtpcore_dsn_ret", "SMTPCORE_RET_")
local TLS_POLICIES = enum("smtpcore_tls_policy", "SMTPCORE_TLS_", lower)
local POLICY_VALUES = {
    helo_policy = enum("smtpcore_helo_policy", "SMTPCORE_HELO_", lower),
    bare_lf_policy = enum("smtpcore_bare_lf_policy", "SMTPCORE_BARE_LF_", lower),
    talker_policy = enum("smtpcore_talker_policy", "SMTPCORE_TALKER_", lower),
    injection_policy = enum("smtpcore_injection_policy", "SMTPCORE_INJECTION_", lower),
    sync_policy = enum("smtpcore_sync_policy", "SMTPCORE_SYNC_", lower),
    proxy_protocol = { off = 0, v1 = 1, v2 = 2, any = 3 }, -- smtpcore_proxy_mode
    nul_policy = enum("smtpcore_nul_policy", "SMTPCORE_NUL_", lower),
}
local SHUTDOWN_REASONS = enum("smtpcore_shutdown_reason", "SMTPCORE_SHUTDOWN_", lower)

-- ---------------------------------------------------------------------------------------
-- Small helpers
-- ---------------------------------------------------------------------------------------

--- Returns the engine's description of an error code.
function _M.strerror(rc)
    return ffi_str(C.smtpcore_strerror(rc))
end

--- Returns the engine's description of a violation code.
function _M.violation_str(v)
    return ffi_str(C.smtpcore_violation_str(v))
end

--- Returns the run-time library version ("MAJOR.MINOR.PATCH").
function _M.version()
    return ffi_str(C.smtpcore_version())
end

--- Copies a smtpcore_str slice into a Lua string ("" when empty).
local function slice(s)
    local n = s.len
    if n == 0 then return "" end
    return ffi_str(s.ptr, n)
end
_M.slice = slice

local function fail(rc)
    return nil, ffi_str(C.smtpcore_strerror(rc)), rc
end

--- Turns a list of names or a number into a bit mask.
local function mask(v, names, what)
    if v == nil then return nil end
    if type(v) == "number" then return v end
    local m = 0
    for _, n in ipairs(v) do
        local bit = names[n] or names[n:upper()]
        if not bit then error("unknown " .. what .. " " .. tostring(n), 3) end
        m = m + bit
    end
    return m
end
_M.mask = mask

--- Lists the names of the bits set in a mask.
local function mask_names(m, names)
    local out = {}
    for n, bit in pairs(names) do
        if bit ~= 0 and m % (bit * 2) >= bit then out[#out + 1] = n end
    end
    table.sort(out)
    return out
end
_M.mask_names = mask_names

--- Syntactic class of a HELO/EHLO name, as a name ("fqdn", "ipv4_literal", ...).
function _M.helo_classify(name)
    return _M.HELO_CLASS_NAMES[tonumber(C.smtpcore_helo_classify(name, #name))]
end

--- Builds "[192.0.2.1]" or "[IPv6:...]" from a textual address, or nil, err.
function _M.address_literal(ip)
    local n = C.smtpcore_address_literal(ip, literal_buf, 64)
    if n < 0 then return fail(n) end
    return ffi_str(literal_buf, n)
end

--- Decodes RFC 3461 xtext, or nil, err.
function _M.xtext_decode(s)
    local out = get_buf(#s + 1)
    local rc = C.smtpcore_xtext_decode(s, #s, out, #s + 1, size_out)
    if rc ~= 0 then return fail(rc) end
    return ffi_str(out, size_out[0])
end

--- Converts a reply struct into a Lua table {code, enhanced, text, lines, raw, flags}.
-- The whole text of a reply, every line: the engine's smtpcore_reply_text() when the
-- library has it (one definition of how lines are joined), else the same join here.
local HAS_REPLY_TEXT = CDEF:find("smtpcore_reply_text%s*%(") ~= nil
local function reply_text(r, lines)
    if not HAS_REPLY_TEXT then return tbl_concat(lines, "\n") end
    local buf = get_buf(256)
    local n = tonumber(C.smtpcore_reply_text(r, buf, scratch_size))
    if n >= scratch_size then
        buf = get_buf(n + 1)
        n = tonumber(C.smtpcore_reply_text(r, buf, n + 1))
    end
    return ffi_str(buf, n)
end

local function reply_table(r)
    local code = r.code
    if code == 0 then return nil end
    local lines = {}
    local n = tonumber(r.nlines)
    for i = 0, n - 1 do
        if C.smtpcore_reply_line(r, i, str_buf) == 0 then lines[#lines + 1] = slice(str_buf) end
    end
    local e = r.enhanced
    local enh
    if e.cls ~= 0 then enh = str_format("%d.%d.%d", e.cls, e.subject, e.detail) end
    return {
        code = code,
        enhanced = enh,
        lines = lines,
        text = reply_text(r, lines),
        raw = slice(r.raw),
        flags = tonumber(r.flags),
    }
end
_M.reply_table = reply_table

local function caps_table(c)
    return {
        extensions = mask_names(tonumber(c.extensions), _M.EXT),
        extension_mask = tonumber(c.extensions),
        size_limit = tonumber(c.size_limit),
        auth_mechs = mask_names(tonumber(c.auth_mechs), _M.AUTH),
        esmtp = c.esmtp ~= 0,
    }
end
_M.caps_table = caps_table

-- Sessions are cdata structs with a metatype, not Lua tables: the JIT folds a method
-- lookup on a metatype to a constant and the C session pointer is one load, where a table
-- cost a hash probe of the instance, its metatable and __index, and a type check of each
-- cdata field, on every call (bench/lua: about 120 instructions per event, half of the gap
-- to C). LuaJIT requires a metatype's tables to stay as they are once set, so Server and
-- Client are complete before ffi.metatype() below, and must not be changed afterwards.
-- A closed session keeps its struct with a NULL pointer; every method checks it, so a call
-- raises instead of passing NULL to C.
local function closed() error("smtpcore: session is closed", 3) end

-- ---------------------------------------------------------------------------------------
-- Server sessions
-- ---------------------------------------------------------------------------------------
local Server = {}
Server.__index = Server
_M.Server = Server
local ServerT -- the metatype, set once every method is defined

-- ffi.gc finalizer: frees the C session unless close() already did.
local function server_gc(o)
    local s = o.s
    if s ~= nil then
        o.s = nil
        C.smtpcore_server_del(s)
    end
end

local SERVER_NUMBER_FIELDS = {
    max_message_size = true, max_recipients = true, max_errors = true,
    max_command_line = true, max_text_line = true, input_buffer_size = true,
    output_buffer_size = true, proxy_max_header = true, max_auth_failures = true,
}

--- Creates a server session. opts: hostname, greeting_text, extensions (list of names or
--- mask), auth_mechs, max_*, *_buffer_size, helo_policy ("required"/"optional"),
--- bare_lf_policy ("reject"/"accept"), talker_policy ("note"/"reject"), injection_policy
--- ("reject"/"discard"), allow_plaintext_auth, tls_active, own_names (list of strings),
--- lmtp (RFC 2033: LHLO, one reply per recipient after the data, see Server:reply_rcpt),
--- sync_policy ("unauth" by default here, unlike the engine's "off"; "all", "off": see
--- docs/lua.md), proxy_protocol ("off"/"v1"/"v2"/"any": read a PROXY header before the
--- greeting, see Server:proxy_header), proxy_max_header, xclient_allowed (see
--- Server:set_xclient_allowed), nul_policy ("reject", the default, or "accept").
--- Returns the session or nil, err, rc.
function _M.server_new(opts)
    opts = opts or {}
    local cfg = ffi_new("smtpcore_server_config")
    C.smtpcore_server_config_init(cfg)
    -- A server made from Lua faces clients directly: refuse RFC 2920 violations from
    -- unauthenticated clients, as Postfix >= 3.9 does (smtpd_forbid_unauth_pipelining).
    cfg.sync_policy = POLICY_VALUES.sync_policy.unauth
    local keep = {} -- anchors C strings until smtpcore_server_new has copied them
    for k, v in pairs(opts) do
        if k == "hostname" or k == "greeting_text" then
            cfg[k] = v
        elseif k == "extensions" then
            cfg.extensions = mask(v, _M.EXT, "extension")
        elseif k == "auth_mechs" then
            cfg.auth_mechs = mask(v, _M.AUTH, "mechanism")
        elseif SERVER_NUMBER_FIELDS[k] then
            cfg[k] = v
        elseif POLICY_VALUES[k] then
            local n = type(v) == "number" and v or POLICY_VALUES[k][v]
            if not n then error("bad " .. k .. " " .. tostring(v), 2) end
            cfg[k] = n
        elseif k == "allow_plaintext_auth" or k == "tls_active" or k == "lmtp"
            or k == "xclient_allowed" then
            cfg[k] = v and 1 or 0
        elseif k == "own_names" then
            local arr = ffi_new("const char *[?]", #v + 1)
            for i, name in ipairs(v) do arr[i - 1] = name end
            keep[#keep + 1] = arr
            cfg.own_names = arr
            cfg.own_names_count = #v
        else
            error("unknown server option " .. tostring(k), 2)
        end
    end
    local rc = C.smtpcore_server_new(server_out, cfg)
    if rc ~= 0 then return fail(rc) end
    keep = nil
    -- evp is the session's own out-pointer: next_event() points it at the event C owns.
    -- Set after the struct is made: a pointer passed to the constructor is a conversion
    -- the JIT does not compile (NYI), which sent a loop that creates sessions back to the
    -- interpreter.
    local o = ffi_gc(ServerT(), server_gc)
    o.s = server_out[0]
    return o
end

--- Offers peer bytes (a string, or a pointer and a length); returns the number taken
--- (the rest must be offered again later).
function Server:receive(data, len)
    local s = self.s
    if s == nil then closed() end
    if type(data) == "string" and (not len or len > #data) then len = #data end
    local rc = srv_receive(s, data, len, size_out)
    if rc ~= 0 then return fail(rc) end
    return tonumber(size_out[0])
end

--- Tells the session the peer closed its side.
function Server:receive_eof()
    local s = self.s
    if s == nil then closed() end
    local rc = C.smtpcore_server_receive_eof(s)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- Returns the next event: a const pointer to the event this session owns (read .type
--- first; numbers in _M.SEV), refilled by the next call; valid until the next
--- next_event() on this session (its slices also until :receive()/:tls_started()).
function Server:next_event()
    local s, evp = self.s, self.evp
    if s == nil then closed() end
    local rc = srv_next_event(s, evp)
    if rc ~= 0 then return fail(rc) end
    return evp[0]
end

--- Finishes with the current event and returns the next, as :next_event() does: an
--- event handed out before that still awaits an answer gets its default one first (as
--- :accept()). Answer with :reply()/:reject() before this call whatever must not get the
--- default (a refused RCPT); every event is still handed out. One call into C per event
--- instead of two for the events that need an answer. An AUTH never gets the default
--- (it would be a login): left unanswered, returns nil, err, ERR.INVALID_STATE. When the
--- default answer fails (ERR.NOMEM after :release_idle()), returns nil, err, rc. Either
--- way nothing else happens and the event still awaits its answer.
function Server:accept_next()
    local s, evp = self.s, self.evp
    if s == nil then closed() end
    local rc = srv_accept_next(s, evp)
    if rc ~= 0 then return fail(rc) end
    return evp[0]
end

--- Answers the pending event with the default positive reply.
function Server:accept()
    local s = self.s
    if s == nil then closed() end
    local rc = srv_accept(s)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- Answers the pending event with a custom reply (text lines separated by "\n").
function Server:reply(code, enhanced, text)
    local s = self.s
    if s == nil then closed() end
    local rc = srv_reply(s, code, enhanced, text)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- Refuses the pending event (4xx/5xx).
function Server:reject(code, enhanced, text)
    local s = self.s
    if s == nil then closed() end
    local rc = srv_reject(s, code, enhanced, text)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- LMTP: answers recipient `index` (0-based, among the accepted RCPTs; rcpt_count of the
--- MESSAGE_END) with a 2xx/4xx/5xx reply, in any order and at any time; the replies go
--- out in RCPT order once contiguous. accept/reply/reject on the MESSAGE_END answer all
--- recipients not yet answered. Returns true, or nil, err, rc (ERR.BUFFER_FULL: write the
--- output or answer the lowest unanswered recipient first).
function Server:reply_rcpt(index, code, enhanced, text)
    local s = self.s
    if s == nil then closed() end
    local rc = C.smtpcore_server_reply_rcpt(s, index, code, enhanced, text)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- LMTP: recipients of the ended message still without an answer.
function Server:rcpt_unanswered()
    local s = self.s
    if s == nil then closed() end
    return tonumber(C.smtpcore_server_rcpt_unanswered(s))
end

--- True when the session runs in LMTP mode (its HELO events are LHLO).
function Server:lmtp()
    local s = self.s
    if s == nil then closed() end
    return C.smtpcore_server_lmtp(s) ~= 0
end

--- Returns all pending output as a Lua string and marks it sent ("" when none). Use
--- :output_view() + :consume() to avoid consuming before a partial write.
function Server:take_output()
    local s = self.s
    if s == nil then closed() end
    local n = srv_output(s, ptr_out)
    if n == 0 then return "" end
    local out = ffi_str(ptr_out[0], n)
    srv_consume(s, n)
    return out
end

--- Returns pointer, length of the pending output (valid until the next call).
function Server:output_view()
    local s = self.s
    if s == nil then closed() end
    local n = srv_output(s, ptr_out)
    return ptr_out[0], tonumber(n)
end

--- Marks n output bytes as sent.
function Server:consume(n)
    local s = self.s
    if s == nil then closed() end
    local rc = srv_consume(s, n)
    if rc ~= 0 then return fail(rc) end
    return true
end

function Server:want_flush()
    local s = self.s
    if s == nil then closed() end
    return C.smtpcore_server_want_flush(s) ~= 0
end
function Server:want_close()
    local s = self.s
    if s == nil then closed() end
    return C.smtpcore_server_want_close(s) ~= 0
end
function Server:memory()
    local s = self.s
    if s == nil then closed() end
    return tonumber(C.smtpcore_server_memory(s))
end

--- Gives the session's buffers back to the allocator while it is idle (every event read up
--- to NONE, no answer awaited, no partial command line, no output left), for a host that
--- keeps many quiet connections; the next call that needs them takes them again (see
--- smtpcore_server_release_idle()). Returns the bytes freed (0 when already released), or
--- nil, err, rc when the session is not idle (nothing freed).
function Server:release_idle()
    local s = self.s
    if s == nil then closed() end
    local rc = C.smtpcore_server_release_idle(s, size_out)
    if rc ~= 0 then return fail(rc) end
    return tonumber(size_out[0])
end

local PROXY_FAMILY = { [0] = "unspec", "inet", "inet6", "unix" }

--- The PROXY header read before the greeting, as a table (version, command "local" or
--- "proxy", family "unspec"/"inet"/"inet6"/"unix", src_addr, src_port, dst_addr,
--- dst_port, tlvs = list of {type = n, value = string}), or nil when there is none.
function Server:proxy_header()
    local s = self.s
    if s == nil then closed() end
    local h = C.smtpcore_server_proxy_header(s)
    if h == nil then return nil end
    local tlvs = {}
    local area = ffi_new("smtpcore_str[1]")
    area[0] = h.tlvs
    local tlv = ffi_new("smtpcore_proxy_tlv")
    while C.smtpcore_proxy_tlv_next(area, tlv) == 1 do
        tlvs[#tlvs + 1] = { type = tonumber(tlv.type), value = slice(tlv.value) }
    end
    return { version = tonumber(h.version), command = h.command == 0 and "local" or "proxy",
             family = PROXY_FAMILY[tonumber(h.family)], src_addr = slice(h.src_addr),
             src_port = tonumber(h.src_port), dst_addr = slice(h.dst_addr),
             dst_port = tonumber(h.dst_port), tlvs = tlvs }
end

--- Allows (true) or forbids XCLIENT on this connection (decide from the peer address).
function Server:set_xclient_allowed(allowed)
    local s = self.s
    if s == nil then closed() end
    local rc = C.smtpcore_server_set_xclient_allowed(s, allowed and 1 or 0)
    if rc ~= 0 then return fail(rc) end
    return true
end

local XCLIENT_NAMES = { "name", "addr", "port", "proto", "helo", "login", "destaddr",
                        "destport" }
local XCLIENT_MARKERS = { [2] = "[UNAVAILABLE]", [3] = "[TEMPUNAVAIL]" }

--- During an XCLIENT event: the attributes given, as { ADDR = "192.0.2.1", NAME =
--- "[UNAVAILABLE]", ... } (values decoded; the markers as written). nil otherwise.
function Server:xclient_attrs()
    local s = self.s
    if s == nil then closed() end
    local a = ffi_new("smtpcore_xclient_attrs")
    if C.smtpcore_server_xclient_attrs(s, a, ffi.sizeof(a)) ~= 0 then return nil end
    local out = {}
    for _, n in ipairs(XCLIENT_NAMES) do
        local at = a[n]
        local st = tonumber(at.state)
        if st == 1 then
            out[n:upper()] = slice(at.value)
        elseif st > 1 then
            out[n:upper()] = XCLIENT_MARKERS[st]
        end
    end
    return out
end

--- Ends the session with the host's reply (its timeout or a deadline fired, or it is
--- shutting down): queued after pending output, a message in progress ends with
--- MESSAGE_ABORTED (HOST_CLOSE), then CLOSE; write the output and close. code 4xx/5xx
--- (421 usual), enhanced and text optional. Returns true, or nil, err, rc.
function Server:close_with(code, enhanced, text)
    local s = self.s
    if s == nil then closed() end
    local rc = C.smtpcore_server_close_with(s, code or 421, enhanced, text)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- Server:close_with() with the engine's reply for `why`: "timeout" (the default:
--- "421 4.4.2 <host> Error: timeout exceeded") or "service" (shutting down).
function Server:shutdown(why)
    local s = self.s
    if s == nil then closed() end
    local r = SHUTDOWN_REASONS[why or "timeout"]
    if not r then error("bad shutdown reason " .. tostring(why), 2) end
    local rc = C.smtpcore_server_shutdown(s, r)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- True while message content is read (DATA after 354, BDAT chunk octets): apply a
--- per-message deadline or minimum rate then, a per-command-line deadline otherwise.
function Server:in_message()
    local s = self.s
    if s == nil then closed() end
    return C.smtpcore_server_in_message(s) ~= 0
end

--- Failed AUTH attempts in this session so far (for a per-address delay or limit).
function Server:auth_failures()
    local s = self.s
    if s == nil then closed() end
    return tonumber(C.smtpcore_server_auth_failures(s))
end

--- Reports that TLS is up after a STARTTLS event.
function Server:tls_started()
    local s = self.s
    if s == nil then closed() end
    local rc = C.smtpcore_server_tls_started(s)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- Frees the session now (later calls raise an error).
function Server:close()
    server_gc(self)
end

-- Every Server method is defined by now (see the note at closed()).
ServerT = ffi.metatype(ffi.typeof(
    "struct { smtpcore_server *s; const smtpcore_server_event *evp[1]; }"), Server)

--- Copies the current server event into a plain table (slices become strings; only the
--- fields meaningful for its type are set).
local SEV = _M.SEV
local ADDRESS_EVENTS = { [SEV.MAIL] = true, [SEV.RCPT] = true, [SEV.VRFY] = true,
                         [SEV.EXPN] = true, [SEV.HELP] = true }
function _M.server_event_table(ev)
    local t = tonumber(ev.type)
    local r = {
        type = t,
        name = _M.SEV_NAMES[t],
        answer_required = ev.answer_required ~= 0,
        line = slice(ev.line),
        violation = tonumber(ev.violation),
        reply_code = ev.reply_code,
        message = slice(ev.message),
    }
    if t == SEV.HELO then
        r.esmtp = ev.esmtp ~= 0
        r.helo_class = _M.HELO_CLASS_NAMES[tonumber(ev.helo_class)]
        r.helo_is_own_name = ev.helo_is_own_name ~= 0
        r.address = slice(ev.address)
    elseif ADDRESS_EVENTS[t] then
        r.address = slice(ev.address)
        r.address_utf8 = ev.address_utf8 ~= 0
        r.rcpt_count = tonumber(ev.rcpt_count)
        if t == SEV.MAIL then
            local m = ev.mail
            r.mail = {
                size = m.has_size ~= 0 and tonumber(m.size) or nil,
                body = tonumber(m.body), smtputf8 = m.smtputf8 ~= 0, ret = tonumber(m.ret),
                envid = slice(m.envid), auth = slice(m.auth),
            }
        elseif t == SEV.RCPT then
            r.rcpt = { notify = tonumber(ev.rcpt.notify), orcpt = slice(ev.rcpt.orcpt) }
        end
    elseif t == SEV.BODY then
        r.data = slice(ev.data)
    elseif t == SEV.MESSAGE_END or t == SEV.MESSAGE_ABORTED then
        r.message_size = tonumber(ev.message_size)
        r.bdat = ev.bdat ~= 0
        r.long_lines = ev.long_lines ~= 0
        r.rcpt_count = tonumber(ev.rcpt_count)
    elseif t == SEV.AUTH then
        r.auth_mech = tonumber(ev.auth_mech)
        r.authzid = slice(ev.authzid)
        r.username = slice(ev.username)
        r.password = slice(ev.password)
    elseif t == SEV.STARTTLS then
        r.discarded = tonumber(ev.discarded)
    end
    return r
end

-- ---------------------------------------------------------------------------------------
-- Client sessions
-- ---------------------------------------------------------------------------------------
local Client = {}
Client.__index = Client
_M.Client = Client
local ClientT -- the metatype, set once every method is defined

-- ffi.gc finalizer: frees the C session unless close() already did.
local function client_gc(o)
    local c = o.c
    if c ~= nil then
        o.c = nil
        C.smtpcore_client_del(c)
    end
end

local CLIENT_NUMBER_FIELDS = {
    max_reply_line = true, input_buffer_size = true, output_buffer_size = true,
    max_recipients = true, envelope_buffer_size = true,
}

--- Creates a client session. opts: helo_name (required), quirks (list or mask),
--- tls_policy ("never"/"opportunistic"/"required"), tls_active, auth_user, auth_password,
--- auth_mechanism, max_reply_line, *_buffer_size, max_recipients, lmtp (RFC 2033: LHLO,
--- then one DELIVERY_RESULT event per accepted recipient before MESSAGE_RESULT),
--- proxy_protocol ("v1"/"v2": a PROXY header is the first output) with proxy_src_addr,
--- proxy_src_port, proxy_dst_addr, proxy_dst_port (no addresses: UNKNOWN / LOCAL).
--- Returns the session or nil, err, rc.
function _M.client_new(opts)
    local cfg = ffi_new("smtpcore_client_config")
    C.smtpcore_client_config_init(cfg)
    for k, v in pairs(opts or {}) do
        if k == "helo_name" or k == "auth_user" or k == "auth_password"
            or k == "auth_mechanism" then
            cfg[k] = v
        elseif k == "quirks" then
            cfg.quirks = mask(v, _M.QUIRK, "quirk")
        elseif k == "tls_policy" then
            local n = type(v) == "number" and v or TLS_POLICIES[v]
            if not n then error("bad tls_policy " .. tostring(v), 2) end
            cfg.tls_policy = n
        elseif k == "tls_active" or k == "lmtp" then
            cfg[k] = v and 1 or 0
        elseif k == "proxy_protocol" then
            local n = type(v) == "number" and v or POLICY_VALUES.proxy_protocol[v]
            if not n then error("bad proxy_protocol " .. tostring(v), 2) end
            cfg.proxy_protocol = n
        elseif k == "proxy_src_addr" or k == "proxy_dst_addr" then
            cfg[k] = v
        elseif k == "proxy_src_port" or k == "proxy_dst_port" then
            cfg[k] = v
        elseif CLIENT_NUMBER_FIELDS[k] then
            cfg[k] = v
        else
            error("unknown client option " .. tostring(k), 2)
        end
    end
    local rc = C.smtpcore_client_new(client_out, cfg)
    if rc ~= 0 then return fail(rc) end
    local o = ffi_gc(ClientT(), client_gc) -- see server_new
    o.c = client_out[0]
    return o
end

--- Offers server bytes; returns the number taken.
function Client:receive(data, len)
    local c = self.c
    if c == nil then closed() end
    if type(data) == "string" and (not len or len > #data) then len = #data end
    local rc = cli_receive(c, data, len, size_out)
    if rc ~= 0 then return fail(rc) end
    return tonumber(size_out[0])
end

function Client:receive_eof()
    local c = self.c
    if c == nil then closed() end
    local rc = C.smtpcore_client_receive_eof(c)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- Returns the next event: a const pointer to the event this session owns (numbers in
--- _M.CEV), valid until the next next_event() on this session (its slices also until
--- :receive()/:tls_started()).
function Client:next_event()
    local c, evp = self.c, self.evp
    if c == nil then closed() end
    local rc = cli_next_event(c, evp)
    if rc ~= 0 then return fail(rc) end
    return evp[0]
end

local function set_str(dst, s)
    if s then
        dst.ptr = s
        dst.len = #s
    else
        dst.ptr = nil
        dst.len = 0
    end
end

--- MAIL FROM:<from>. params: size, body ("7BIT"/"8BITMIME"/"BINARYMIME"), smtputf8,
--- ret ("FULL"/"HDRS"), envid, auth (decoded; the engine xtext-encodes).
function Client:mail(from, params)
    local c = self.c
    if c == nil then closed() end
    local p = nil
    if params then
        p = mail_params
        p.size = params.size or 0
        p.has_size = params.size and 1 or 0
        p.body = params.body and (BODY_TYPES[params.body] or error("bad body " .. params.body, 2)) or 0
        p.smtputf8 = params.smtputf8 and 1 or 0
        p.ret = params.ret and (RET_TYPES[params.ret] or error("bad ret " .. params.ret, 2)) or 0
        set_str(p.envid, params.envid)
        set_str(p.auth, params.auth)
    end
    local rc = C.smtpcore_client_mail(c, from, p)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- RCPT TO:<to>. params: notify (list of "SUCCESS"/"FAILURE"/"DELAY"/"NEVER" or mask),
--- orcpt ("rfc822;addr", decoded).
function Client:rcpt(to, params)
    local c = self.c
    if c == nil then closed() end
    local p = nil
    if params then
        p = rcpt_params
        p.notify = mask(params.notify, _M.NOTIFY, "notify") or 0
        set_str(p.orcpt, params.orcpt)
    end
    local rc = C.smtpcore_client_rcpt(c, to, p)
    if rc ~= 0 then return fail(rc) end
    return true
end

-- By name through the namespace: these closures share one prototype, so the JIT does not
-- specialise them and a cached function would be a call through a pointer.
local function simple(name)
    return function(self)
        local c = self.c
        if c == nil then closed() end
        local rc = C[name](c)
        if rc ~= 0 then return fail(rc) end
        return true
    end
end

Client.data = simple("smtpcore_client_data")
Client.body_end = simple("smtpcore_client_body_end")
Client.rset = simple("smtpcore_client_rset")
Client.noop = simple("smtpcore_client_noop")
Client.quit = simple("smtpcore_client_quit")
Client.tls_started = simple("smtpcore_client_tls_started")

--- XCLIENT (Postfix XCLIENT_README) with attrs: a table name -> value (sent in name
--- order) or a list of { name, value } pairs. Values go as given, xtext-encoded by the
--- engine ("[UNAVAILABLE]"/"[TEMPUNAVAIL]" pass as they are). The server must offer it
--- (caps XCLIENT); CEV.XCLIENT_RESULT follows, then READY after the new greeting.
function Client:xclient(attrs)
    local c = self.c
    if c == nil then closed() end
    local names, values = {}, {}
    if attrs[1] ~= nil then
        for i, pair in ipairs(attrs) do names[i], values[i] = pair[1], pair[2] end
    else
        for k in pairs(attrs) do names[#names + 1] = k end
        table.sort(names)
        for i, k in ipairs(names) do values[i] = attrs[k] end
    end
    local n = #names
    local cn = ffi_new("const char *[?]", n)
    local cv = ffi_new("const char *[?]", n)
    for i = 1, n do
        names[i], values[i] = tostring(names[i]), tostring(values[i])
        cn[i - 1], cv[i - 1] = names[i], values[i] -- kept alive by names/values
    end
    local rc = C.smtpcore_client_xclient(c, cn, cv, n)
    if rc ~= 0 then return fail(rc) end
    return true
end

--- Feeds body bytes starting at offset `from` (1-based, default 1); returns bytes taken.
function Client:body(data, from)
    local c = self.c
    if c == nil then closed() end
    from = from or 1
    local len = #data - from + 1
    if len <= 0 or from < 1 then return 0 end
    local p = data
    if from > 1 then p = ffi_cast("const char *", data) + (from - 1) end
    local rc = cli_body(c, p, len, size_out)
    if rc ~= 0 then return fail(rc) end
    return tonumber(size_out[0])
end

--- Answers an AUTH challenge; nil cancels with "*".
function Client:auth_respond(data)
    local c = self.c
    if c == nil then closed() end
    local rc = C.smtpcore_client_auth_respond(c, data, data and #data or 0)
    if rc ~= 0 then return fail(rc) end
    return true
end

function Client:take_output()
    local c = self.c
    if c == nil then closed() end
    local n = cli_output(c, ptr_out)
    if n == 0 then return "" end
    local out = ffi_str(ptr_out[0], n)
    cli_consume(c, n)
    return out
end

function Client:output_view()
    local c = self.c
    if c == nil then closed() end
    local n = cli_output(c, ptr_out)
    return ptr_out[0], tonumber(n)
end

function Client:consume(n)
    local c = self.c
    if c == nil then closed() end
    local rc = cli_consume(c, n)
    if rc ~= 0 then return fail(rc) end
    return true
end

function Client:caps()
    local c = self.c
    if c == nil then closed() end
    return caps_table(C.smtpcore_client_caps(c))
end
function Client:want_close()
    local c = self.c
    if c == nil then closed() end
    return C.smtpcore_client_want_close(c) ~= 0
end
function Client:memory()
    local c = self.c
    if c == nil then closed() end
    return tonumber(C.smtpcore_client_memory(c))
end

--- Gives the session's buffers back to the allocator while it is idle (every event read up
--- to NONE, no reply awaited, no transaction open, no partial reply, no output left), for a
--- host that keeps connections open and quiet; the next call that needs them takes them
--- again (see smtpcore_client_release_idle()). Returns the bytes freed (0 when already
--- released), or nil, err, rc when the session is not idle (nothing freed).
function Client:release_idle()
    local c = self.c
    if c == nil then closed() end
    local rc = C.smtpcore_client_release_idle(c, size_out)
    if rc ~= 0 then return fail(rc) end
    return tonumber(size_out[0])
end

function Client:close()
    client_gc(self)
end

-- Every Client method is defined by now (see the note at closed()).
ClientT = ffi.metatype(ffi.typeof(
    "struct { smtpcore_client *c; const smtpcore_client_event *evp[1]; }"), Client)

--- Copies the current client event into a plain table.
local CEV = _M.CEV
function _M.client_event_table(ev)
    local t = tonumber(ev.type)
    local r = {
        type = t,
        name = _M.CEV_NAMES[t],
        failure = _M.FAILURE_NAMES[tonumber(ev.failure)] or tonumber(ev.failure),
        reply = reply_table(ev.reply),
        violation = tonumber(ev.violation),
        message = slice(ev.message),
    }
    if t == CEV.READY then r.caps = caps_table(ev.caps) end
    if t == CEV.RCPT_RESULT or t == CEV.DELIVERY_RESULT then
        r.rcpt_index = tonumber(ev.rcpt_index)
    end
    if t == CEV.MESSAGE_RESULT then
        r.rcpt_accepted = tonumber(ev.rcpt_accepted)
        r.rcpt_total = tonumber(ev.rcpt_total)
    end
    if t == CEV.AUTH_CHALLENGE then r.data = slice(ev.data) end
    if t == CEV.STARTTLS then r.discarded = tonumber(ev.discarded) end
    return r
end

return _M
