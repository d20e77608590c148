-- SPDX-License-Identifier: MIT
-- Builds an Internet message (RFC 5322 + MIME) from fields, for senders that have a
-- subject and a text rather than a finished message, as lua-resty-mail users do:
--
--   local message = require "resty.smtpcore.message"
--   local data, info = message.build{
--       from = "Web <web@example.org>", to = { "Zoë <zoe@example.org>" }, cc = "ops@example.org",
--       subject = "Grüße", text = "plain text", html = "<p>html</p>",
--       headers = { ["X-Mailer"] = "shop" },
--       attachments = { { filename = "report.pdf", content_type = "application/pdf",
--                         content = pdf_bytes } },
--   }
--   -- data: the message with CRLF line ends; info.message_id, info.from, info.recipients
--
-- resty.smtpcore.client calls it when send() gets such fields instead of `body`. Output is
-- 7-bit clean whatever the input: header values with non-ASCII text become RFC 2047
-- encoded-words, text parts are quoted-printable when they are not plain 7-bit lines,
-- attachments base64. Lua and the LuaJIT FFI (base64); no I/O.
local ffi = require "ffi"
local bit = require "bit"

local byte, char, sub, find, gsub = string.byte, string.char, string.sub, string.find, string.gsub
local str_format, str_lower, str_rep = string.format, string.lower, string.rep
local concat, sort = table.concat, table.sort
local floor = math.floor
local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
local type, tostring, ipairs, pairs, error, pcall = type, tostring, ipairs, pairs, error, pcall

local ngx = ngx -- nil in plain LuaJIT

local _M = { _VERSION = "0.1.0" }

-- Every line of output stays within RFC 5322's recommended 78 characters where it can be
-- broken, and always within the hard limit of 998.
local LINE = 78
local HARD_LINE = 998
local ENCODED_WORD = 75 -- RFC 2047 2: an encoded-word is at most 75 characters

-- ---------------------------------------------------------------------------------------
-- Errors: build() reports bad input as nil, message (raised internally, caught once).
-- ---------------------------------------------------------------------------------------
local Fail = {}
local function fail(fmt, ...)
    error(setmetatable({ msg = str_format(fmt, ...) }, Fail), 0)
end

-- ---------------------------------------------------------------------------------------
-- base64 (RFC 2045 6.8): an FFI loop that writes the body's 76-character lines directly
-- ---------------------------------------------------------------------------------------
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64_tab = ffi.new("uint8_t[64]")
for i = 1, 64 do b64_tab[i - 1] = byte(B64, i) end
local GROUPS_PER_LINE = 19 -- 19 * 4 = 76 characters

--- base64 of s; with `lines`, CRLF after every 76 characters and at the end (a body
--- part's content).
local function b64_ffi(s, lines)
    local n = #s
    if n == 0 then return "" end
    local groups = floor((n + 2) / 3)
    local out_len = groups * 4
    if lines then out_len = out_len + 2 * floor((groups + GROUPS_PER_LINE - 1) / GROUPS_PER_LINE) end
    local out = ffi.new("uint8_t[?]", out_len)
    local src = ffi.cast("const uint8_t *", s)
    local o, i, g = 0, 0, 0
    while i + 2 < n do
        local a, b, c = src[i], src[i + 1], src[i + 2]
        out[o] = b64_tab[rshift(a, 2)]
        out[o + 1] = b64_tab[bor(lshift(band(a, 3), 4), rshift(b, 4))]
        out[o + 2] = b64_tab[bor(lshift(band(b, 15), 2), rshift(c, 6))]
        out[o + 3] = b64_tab[band(c, 63)]
        i, o, g = i + 3, o + 4, g + 1
        if lines and g == GROUPS_PER_LINE then
            out[o], out[o + 1] = 13, 10
            o, g = o + 2, 0
        end
    end
    local rest = n - i
    if rest > 0 then
        local a = src[i]
        local b = rest == 2 and src[i + 1] or 0
        out[o] = b64_tab[rshift(a, 2)]
        out[o + 1] = b64_tab[bor(lshift(band(a, 3), 4), rshift(b, 4))]
        out[o + 2] = rest == 2 and b64_tab[lshift(band(b, 15), 2)] or 61 -- '='
        out[o + 3] = 61
        o, g = o + 4, g + 1
    end
    if lines and g > 0 then out[o], out[o + 1] = 13, 10 end
    return ffi.string(out, out_len)
end

--- base64 of s, one line (encoded-words; exported for tests and callers).
local function base64(s) return b64_ffi(s, false) end
_M.base64 = base64

local function base64_body(s) return b64_ffi(s, true) end

-- ---------------------------------------------------------------------------------------
-- Text bodies: 7bit when they can be, else quoted-printable (RFC 2045 6.7)
-- ---------------------------------------------------------------------------------------

--- Splits text into lines on CRLF, LF or CR (the line end is not kept; a final line
--- end adds no empty line).
local function lines_of(text)
    text = gsub(gsub(text, "\r\n", "\n"), "\r", "\n")
    local out, pos, n = {}, 1, #text
    while pos <= n do
        local e = find(text, "\n", pos, true)
        if e then
            out[#out + 1] = sub(text, pos, e - 1)
            pos = e + 1
        else
            out[#out + 1] = sub(text, pos)
            pos = n + 1
        end
    end
    return out
end

local function is_7bit_lines(lines)
    for _, l in ipairs(lines) do
        if #l > HARD_LINE or find(l, "[%z\128-\255]") then return false end
    end
    return true
end

--- One line, quoted-printable, with soft line breaks ("=" at the end) so no output line
--- exceeds 76 characters; trailing white space is encoded so it survives transport.
local function qp_line(line, out)
    local cur, len = {}, 0
    local n = #line
    for i = 1, n do
        local b = byte(line, i)
        local tok
        if b == 61 or b > 126 or (b < 32 and b ~= 9) or ((b == 32 or b == 9) and i == n) then
            tok = str_format("=%02X", b)
        else
            tok = char(b)
        end
        if len + #tok > 75 then -- leave room for the soft break "="
            cur[#cur + 1] = "="
            out[#out + 1] = concat(cur)
            cur, len = {}, 0
        end
        cur[#cur + 1] = tok
        len = len + #tok
    end
    out[#out + 1] = concat(cur)
end

--- Returns encoded text (CRLF lines, ending with CRLF) and its Content-Transfer-Encoding.
local function encode_text(text, force)
    local lines = lines_of(text)
    if #lines == 0 then lines[1] = "" end
    if force ~= "quoted-printable" and is_7bit_lines(lines) then
        return concat(lines, "\r\n") .. "\r\n", "7bit"
    end
    local out = {}
    for _, l in ipairs(lines) do qp_line(l, out) end
    return concat(out, "\r\n") .. "\r\n", "quoted-printable"
end

-- ---------------------------------------------------------------------------------------
-- Header values: RFC 2047 encoded-words for non-ASCII text, folding for long lines
-- ---------------------------------------------------------------------------------------

local function check_value(v, what)
    if type(v) == "number" then v = tostring(v) end
    if type(v) ~= "string" then fail("%s must be a string", what) end
    if find(v, "[\r\n%z]") then fail("%s contains CR, LF or NUL", what) end
    return v
end

--- True when text cannot go into a header as it is: 8-bit bytes, controls other than
--- tab, or something that would read as an encoded-word.
local function needs_encoding(s)
    return find(s, "[%z\1-\8\11-\31\127-\255]") ~= nil or find(s, "=?", 1, true) ~= nil
end

--- Characters of s, keeping each UTF-8 sequence whole (an encoded-word must hold whole
--- characters, RFC 2047 5); bytes that are not valid UTF-8 go one by one.
local function chars(s)
    local out, i, n = {}, 1, #s
    while i <= n do
        local b = byte(s, i)
        local len = 1
        if b >= 0xC2 and b <= 0xF4 then
            len = b >= 0xF0 and 4 or (b >= 0xE0 and 3 or 2)
            for k = 1, len - 1 do
                local c = byte(s, i + k)
                if not c or c < 0x80 or c > 0xBF then len = 1 break end
            end
        end
        out[#out + 1] = sub(s, i, i + len - 1)
        i = i + len
    end
    return out
end

--- True when s is well-formed UTF-8 (no overlong forms, surrogates or values past 10FFFF).
local function valid_utf8(s)
    local i, n = 1, #s
    while i <= n do
        local b = byte(s, i)
        if b < 0x80 then
            i = i + 1
        else
            local len, lo, hi = 0, 0x80, 0xBF
            if b >= 0xC2 and b <= 0xDF then len = 2
            elseif b == 0xE0 then len, lo = 3, 0xA0
            elseif b >= 0xE1 and b <= 0xEC or b == 0xEE or b == 0xEF then len = 3
            elseif b == 0xED then len, hi = 3, 0x9F
            elseif b == 0xF0 then len, lo = 4, 0x90
            elseif b >= 0xF1 and b <= 0xF3 then len = 4
            elseif b == 0xF4 then len, hi = 4, 0x8F
            else return false end
            local c = byte(s, i + 1)
            if not c or c < lo or c > hi then return false end
            for k = 2, len - 1 do
                c = byte(s, i + k)
                if not c or c < 0x80 or c > 0xBF then return false end
            end
            i = i + len
        end
    end
    return true
end

-- Q encoding in the restricted set that is valid everywhere, phrases included (RFC 2047
-- 5 (3)): letters, digits and ! * + - /; space as "_".
local function q_char(c)
    return (gsub(c, "[^%w!*+%-/ ]", function(x) return str_format("=%02X", byte(x)) end)
        :gsub(" ", "_"))
end

local Q_PREFIX, SUFFIX = "=?UTF-8?Q?", "?="
local B_PREFIX = "=?UTF-8?B?"

--- Encoded-words for s, each at most ENCODED_WORD characters and the first at most
--- `first` (room left on the header's first line). Q or B, whichever is shorter.
local function encoded_words(s, first)
    local cs = chars(s)
    local qlen, qparts = 0, {}
    for i, c in ipairs(cs) do
        qparts[i] = q_char(c)
        qlen = qlen + #qparts[i]
    end
    local use_q = qlen <= floor((#s + 2) / 3) * 4
    local words, cur, cur_bytes = {}, {}, 0
    local limit = first or ENCODED_WORD
    local overhead = #Q_PREFIX + #SUFFIX
    local function flush()
        local body = concat(cur)
        if use_q then
            words[#words + 1] = Q_PREFIX .. body .. SUFFIX
        else
            words[#words + 1] = B_PREFIX .. base64(body) .. SUFFIX
        end
        cur, cur_bytes = {}, 0
        limit = ENCODED_WORD
    end
    for i, c in ipairs(cs) do
        local add = use_q and #qparts[i] or #c
        local size
        if use_q then
            size = overhead + cur_bytes + add
        else
            size = overhead + floor((cur_bytes + add + 2) / 3) * 4
        end
        if size > limit and #cur > 0 then flush() end
        cur[#cur + 1] = use_q and qparts[i] or c
        cur_bytes = cur_bytes + add
    end
    if #cur > 0 or #words == 0 then flush() end
    return words
end

--- Joins pieces (words or encoded-words) into a folded header "Name: v1 v2..." where
--- each line stays within LINE when the pieces allow; continuation lines start with a
--- space (RFC 5322 2.2.3).
local function fold(name, pieces)
    local lines, cur = {}, name .. ":"
    for i, p in ipairs(pieces) do
        if #cur + 1 + #p > LINE and i > 1 then
            lines[#lines + 1] = cur
            cur = " " .. p
        else
            cur = cur .. " " .. p
        end
    end
    lines[#lines + 1] = cur
    for _, l in ipairs(lines) do
        if #l > HARD_LINE then return nil end
    end
    return concat(lines, "\r\n") .. "\r\n"
end

--- An unstructured header (Subject, custom headers): as is when short and ASCII,
--- folded at spaces when long, RFC 2047 encoded when not ASCII or not foldable.
local function unstructured(name, value)
    value = check_value(value, name)
    if not needs_encoding(value) then
        if #name + 2 + #value <= LINE then return name .. ": " .. value .. "\r\n" end
        local words = {}
        for w in value:gmatch("[^ ]+") do words[#words + 1] = w end
        -- Folding may only replace single spaces between words; anything else (runs of
        -- spaces, leading ones) keeps its exact form through encoding.
        if concat(words, " ") == value then
            local h = fold(name, words)
            if h then return h end
        end
    end
    return fold(name, encoded_words(value, LINE - #name - 2))
end

-- ---------------------------------------------------------------------------------------
-- Addresses: "Name <addr>", "<addr>", "addr", { name =, address = }, lists of those
-- ---------------------------------------------------------------------------------------

--- Splits "a, B <b>, \"C, D\" <c>" on the commas outside quotes and angle brackets.
local function split_list(s)
    local out, cur, quoted, angle, esc = {}, {}, false, false, false
    for i = 1, #s do
        local c = sub(s, i, i)
        if esc then
            esc = false
        elseif quoted then
            if c == "\\" then esc = true elseif c == '"' then quoted = false end
        elseif c == '"' then
            quoted = true
        elseif c == "<" then
            angle = true
        elseif c == ">" then
            angle = false
        elseif c == "," and not angle then
            out[#out + 1] = concat(cur)
            cur = {}
            c = nil
        end
        if c then cur[#cur + 1] = c end
    end
    out[#out + 1] = concat(cur)
    local kept = {}
    for _, item in ipairs(out) do
        if item:find("%S") then kept[#kept + 1] = item end
    end
    return kept
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Parses one mailbox into name (or nil) and address.
local function mailbox(v, what)
    local name, addr
    if type(v) == "table" then
        name, addr = v.name, v.address
        if name ~= nil then name = check_value(name, what .. " name") end
        addr = check_value(addr, what .. " address")
    else
        v = check_value(v, what)
        local n, a = v:match("^(.-)<([^<>]*)>%s*$")
        if a then
            name, addr = trim(n), a
            local q = name:match('^"(.*)"$')
            if q then name = (q:gsub("\\(.)", "%1")) end
            if name == "" then name = nil end
        else
            addr = v
        end
    end
    addr = trim(addr)
    if addr == "" or find(addr, "[%s<>,\"]") then
        fail("%s: bad address %q", what, addr)
    end
    return name, addr
end

--- List of { name, address } from a mailbox, a comma list, or a table of either.
local function mailboxes(v, what)
    if v == nil then return {} end
    local items = {}
    if type(v) == "table" and v.address == nil then
        for _, x in ipairs(v) do
            if type(x) == "string" then
                for _, s in ipairs(split_list(x)) do items[#items + 1] = s end
            else
                items[#items + 1] = x
            end
        end
    elseif type(v) == "string" then
        items = split_list(v)
    else
        items = { v }
    end
    local out = {}
    for _, x in ipairs(items) do
        local name, addr = mailbox(x, what)
        out[#out + 1] = { name = name, address = addr }
    end
    return out
end

-- atext of RFC 5322 3.2.3, plus the space between words of a phrase
local ATOM_PHRASE = "^[%w!#$%%&'*+%-/=?^_`{|}~ ]+$"

--- A display name as an atom phrase, a quoted-string, or encoded-words.
local function phrase(name, room)
    if needs_encoding(name) then return encoded_words(name, room) end
    if name:match(ATOM_PHRASE) and not name:find("^ ") and not name:find(" $")
        and not name:find("  ", 1, true) then
        return { name }
    end
    return { '"' .. name:gsub('(["\\])', "\\%1") .. '"' }
end

local function address_header(name, list)
    local pieces = {}
    for i, mb in ipairs(list) do
        local angle = "<" .. mb.address .. ">"
        if mb.name then
            local words = phrase(mb.name, i == 1 and (LINE - #name - 2) or ENCODED_WORD)
            words[#words + 1] = angle
            -- A mailbox is one piece per word so long names fold between words.
            for k, w in ipairs(words) do
                pieces[#pieces + 1] = { w, first = k == 1 }
            end
        else
            pieces[#pieces + 1] = { mb.address, first = true }
        end
    end
    -- Commas go after each mailbox's last word; folding happens between any two pieces.
    local flat = {}
    for i, p in ipairs(pieces) do
        local w = p[1]
        local next_piece = pieces[i + 1]
        if next_piece and next_piece.first then w = w .. "," end
        flat[#flat + 1] = w
    end
    local h = fold(name, flat)
    if not h then fail("%s: an address is too long for a header line", name) end
    return h
end

--- The envelope address of a mailbox string ("Name <a@b>" -> "a@b").
function _M.address(v)
    local ok, name, addr = pcall(mailbox, v, "address")
    if not ok then return nil, type(name) == "table" and name.msg or tostring(name) end
    return addr
end

--- Envelope recipients of a message table: to, cc and bcc, each address once (domains
--- compared without case).
function _M.recipients(msg)
    local ok, list = pcall(function()
        local out, seen = {}, {}
        for _, field in ipairs({ "to", "cc", "bcc" }) do
            for _, mb in ipairs(mailboxes(msg[field], field)) do
                -- The domain is case-insensitive, the local part may not be (RFC 5321
                -- 2.4): "Anna@X" and "anna@x" may be two mailboxes, so both get it.
                local lp, dom = mb.address:match("^(.*)@([^@]*)$")
                local key = lp and (lp .. "@" .. str_lower(dom)) or mb.address
                if not seen[key] then
                    seen[key] = true
                    out[#out + 1] = mb.address
                end
            end
        end
        return out
    end)
    if not ok then return nil, type(list) == "table" and list.msg or tostring(list) end
    return list
end

-- ---------------------------------------------------------------------------------------
-- Date and Message-ID
-- ---------------------------------------------------------------------------------------
local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                 "Nov", "Dec" }

--- RFC 5322 3.3 date-time in UTC, with English names whatever the C locale.
local function rfc5322_date(t)
    local d = os.date("!*t", t)
    return str_format("%s, %02d %s %04d %02d:%02d:%02d +0000", DAYS[d.wday], d.day,
                      MONTHS[d.month], d.year, d.hour, d.min, d.sec)
end
_M.date = rfc5322_date

local function now()
    if ngx then return ngx.time() end
    return os.time()
end

-- Unique per process: random bytes read once (nginx workers forked after an init-phase
-- require share them, so the worker's pid goes into every id too), then a counter.
local id_seed
do
    local f = io.open("/dev/urandom", "rb")
    local r = f and f:read(9)
    if f then f:close() end
    if not r or #r < 9 then
        r = tostring(os.time()) .. tostring(os.clock()) .. tostring({})
    end
    id_seed = (b64_ffi(r):gsub("[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" }))
end
local id_count = 0

local function message_id(domain)
    id_count = id_count + 1
    local pid = ngx and ngx.worker and ngx.worker.pid and ngx.worker.pid() or 0
    return str_format("<%d.%d.%d.%s@%s>", now(), pid, id_count, id_seed, domain)
end

-- ---------------------------------------------------------------------------------------
-- MIME structure
-- ---------------------------------------------------------------------------------------
local boundary_count = 0
local function new_boundary()
    boundary_count = boundary_count + 1
    -- "=_" cannot occur in quoted-printable or base64 text, so no encoded part can
    -- contain the delimiter; 7bit parts are checked by the caller.
    return str_format("=_smtpcore_%s_%d", id_seed, boundary_count)
end

local TOKEN = "^[%w!#$&^_.+%-]+$"

--- A MIME parameter: name="value" when that is plain ASCII, else RFC 2231 name*=UTF-8''
--- percent-encoding, split into name*0*, name*1*, ... continuations so that each one
--- fits a header line of its own.
local function mime_param(name, value)
    if not needs_encoding(value) and not find(value, '["\\]') and #value <= 60 then
        return { name .. '="' .. value .. '"' }
    end
    local enc = {}
    for i = 1, #value do
        local c = sub(value, i, i)
        if c:match("[%w!#$&+%-.^_`|~]") then
            enc[#enc + 1] = c
        else
            enc[#enc + 1] = str_format("%%%02X", byte(c))
        end
    end
    local whole = name .. "*=UTF-8''" .. concat(enc)
    if #whole <= LINE - 2 then return { whole } end
    local out, cur, len = {}, {}, 0
    local function prefix() return str_format("%s*%d*=%s", name, #out, #out == 0 and "UTF-8''" or "") end
    local room = LINE - 2 - #prefix() -- a leading space and the ";" that follows
    for _, e in ipairs(enc) do
        if len + #e > room and len > 0 then
            out[#out + 1] = prefix() .. concat(cur)
            cur, len = {}, 0
            room = LINE - 2 - #prefix()
        end
        cur[#cur + 1] = e
        len = len + #e
    end
    out[#out + 1] = prefix() .. concat(cur)
    return out
end

--- "Name: value; p1; p2" with each parameter on its own line when they do not fit.
local function param_header(name, value, params)
    local line = name .. ": " .. value
    local all = { line }
    local fits = true
    for _, p in ipairs(params) do
        for _, piece in ipairs(p) do
            all[#all + 1] = piece
            if #line + 2 + #piece > LINE then fits = false end
            line = line .. "; " .. piece
        end
    end
    if fits then return line .. "\r\n" end
    return concat(all, ";\r\n ") .. "\r\n"
end

local function text_part(kind, text, opts)
    if type(text) ~= "string" then fail("%s must be a string", kind == "plain" and "text" or kind) end
    local body, cte = encode_text(text, opts.text_encoding)
    return {
        headers = param_header("Content-Type", "text/" .. kind, { { 'charset="utf-8"' } })
            .. "Content-Transfer-Encoding: " .. cte .. "\r\n",
        body = body,
        seven_bit = cte == "7bit",
    }
end

local function attachment_part(a, i)
    local what = "attachment " .. i
    if type(a) ~= "table" then fail("%s must be a table", what) end
    local ctype = a.content_type or "application/octet-stream"
    check_value(ctype, what .. " content_type")
    local main, subt = ctype:match("^([^/;%s]+)/([^/;%s]+)$")
    if not (main and main:match(TOKEN) and subt:match(TOKEN)) then
        fail("%s: bad content_type %q (type/subtype, no parameters)", what, ctype)
    end
    local content = a.content
    if type(content) ~= "string" then fail("%s: content must be a string", what) end
    local disposition = a.disposition or "attachment"
    if disposition ~= "attachment" and disposition ~= "inline" then
        fail("%s: disposition must be \"attachment\" or \"inline\"", what)
    end
    local ct_params, cd_params = {}, {}
    local charset = a.charset
    if charset == nil and str_lower(main) == "text" and find(content, "[\128-\255]")
        and valid_utf8(content) then
        charset = "utf-8" -- what a Lua string with such text almost always holds
    end
    if charset ~= nil then
        charset = check_value(charset, what .. " charset")
        if not charset:match(TOKEN) then fail("%s: bad charset %q", what, charset) end
        ct_params[#ct_params + 1] = { 'charset="' .. charset .. '"' }
    end
    if a.filename ~= nil then
        local fname = check_value(a.filename, what .. " filename")
        -- filename (RFC 2183) is the standard place; name (Content-Type) is what older
        -- clients read, so it goes too. Non-ASCII names use RFC 2231 in both (never
        -- encoded-words inside a quoted string, which RFC 2047 5 forbids).
        cd_params[1] = mime_param("filename", fname)
        ct_params[#ct_params + 1] = mime_param("name", fname)
    end
    local h = param_header("Content-Type", str_lower(ctype), ct_params)
        .. param_header("Content-Disposition", disposition, cd_params)
        .. "Content-Transfer-Encoding: base64\r\n"
    if a.content_id ~= nil then
        local cid = check_value(a.content_id, what .. " content_id"):gsub("^<", ""):gsub(">$", "")
        if find(cid, "[%s<>]") then fail("%s: bad content_id", what) end
        h = h .. "Content-ID: <" .. cid .. ">\r\n"
    end
    return { headers = h, body = base64_body(content), seven_bit = false }
end

-- A part's body is a string or (for a multipart) a list of pieces, nested.
local function size(body)
    if type(body) == "string" then return #body end
    local n = 0
    for _, piece in ipairs(body) do n = n + size(piece) end
    return n
end

local function contains(body, needle)
    if type(body) == "string" then return find(body, needle, 1, true) ~= nil end
    for _, piece in ipairs(body) do
        if contains(piece, needle) then return true end
    end
    return false
end

local function flatten(body, out)
    if type(body) == "string" then
        out[#out + 1] = body
    else
        for _, piece in ipairs(body) do flatten(piece, out) end
    end
    return out
end

--- Wraps parts into a multipart entity of the given subtype.
local function multipart(subtype, parts)
    -- Each clash needs its own copy of a ~30-byte delimiter in the text, so this many
    -- tries always find a free boundary.
    local tries = 2
    for _, p in ipairs(parts) do
        if p.seven_bit then tries = tries + floor(size(p.body) / 16) end
    end
    local b
    for _ = 1, tries do
        b = new_boundary()
        local clash = false
        for _, p in ipairs(parts) do
            if p.seven_bit and contains(p.body, "--" .. b) then clash = true break end
        end
        if not clash then break end
    end
    -- The body is a list of pieces, joined once at the very end: attachments can be
    -- megabytes, and each intermediate concatenation would copy them again.
    local out = {}
    for _, p in ipairs(parts) do
        out[#out + 1] = "--" .. b .. "\r\n" .. p.headers .. "\r\n"
        out[#out + 1] = p.body
        out[#out + 1] = "\r\n"
    end
    out[#out + 1] = "--" .. b .. "--\r\n"
    return {
        headers = param_header("Content-Type", "multipart/" .. subtype,
                               { { 'boundary="' .. b .. '"' } }),
        body = out,
        -- The delimiter of an enclosing multipart must not occur here either: the
        -- children's bodies are as checked as ours.
        seven_bit = true,
    }
end

-- Headers the builder writes itself; a custom header may replace only Date and
-- Message-ID (and adds Reply-To etc. freely).
local RESERVED = {
    ["from"] = "from", ["to"] = "to", ["cc"] = "cc", ["bcc"] = "bcc (never a header)",
    ["subject"] = "subject", ["reply-to"] = "reply_to", ["mime-version"] = true, ["content-type"] = true,
    ["content-transfer-encoding"] = true,
}

local function custom_headers(h)
    if h == nil then return {} end
    if type(h) ~= "table" then fail("headers must be a table") end
    local list = {}
    if h[1] ~= nil then
        for i, pair in ipairs(h) do
            if type(pair) ~= "table" then fail("headers[%d] must be { name, value }", i) end
            list[#list + 1] = { pair[1], pair[2] }
        end
    else
        local names = {}
        for k in pairs(h) do names[#names + 1] = k end
        sort(names, function(x, y) return tostring(x) < tostring(y) end)
        for _, k in ipairs(names) do list[#list + 1] = { k, h[k] } end
    end
    for _, pair in ipairs(list) do
        local name = pair[1]
        if type(name) ~= "string" or not name:match("^[!-9;-~]+$") then
            fail("bad header name %q", tostring(name))
        end
        local r = RESERVED[str_lower(name)]
        if r then
            if type(r) == "string" then
                fail("header %s: use the message's %s field", name, r)
            end
            fail("header %s is written by the builder", name)
        end
    end
    return list
end

--- Builds the message. msg: from (required), to, cc, bcc, reply_to (mailboxes: "a@b",
--- "Name <a@b>", { name =, address = }, or lists / comma lists of them), subject, text,
--- html, headers (map or list of { name, value }), attachments (list of { filename,
--- content_type, content, disposition = "attachment" | "inline", content_id }), date
--- (seconds since the epoch, or a ready RFC 5322 string; default now), message_id
--- (default generated). opts: hostname (Message-ID domain; default the sender's
--- domain), text_encoding ("quoted-printable" forces QP for text parts).
--- Returns data, info { message_id, date, from, recipients } or nil, err.
function _M.build(msg, opts)
    opts = opts or {}
    local ok, data, info = pcall(function()
        if type(msg) ~= "table" then fail("message must be a table") end
        local from = mailboxes(msg.from, "from")
        if #from ~= 1 then fail("from: exactly one sender address is needed") end
        local to, cc = mailboxes(msg.to, "to"), mailboxes(msg.cc, "cc")
        local reply_to = mailboxes(msg.reply_to, "reply_to")
        local recipients, rerr = _M.recipients(msg)
        if not recipients then fail("%s", rerr) end
        if #recipients == 0 then fail("no recipients (to, cc or bcc)") end
        local custom = custom_headers(msg.headers)

        local domain = opts.hostname or from[1].address:match("@([^@]+)$") or "localhost.localdomain"
        local date, mid
        for _, pair in ipairs(custom) do
            local n = str_lower(pair[1])
            if n == "date" then date = check_value(pair[2], "Date") end
            if n == "message-id" then mid = check_value(pair[2], "Message-ID") end
        end
        if not date then
            local d = msg.date
            if type(d) == "string" then
                date = check_value(d, "date")
            else
                if d ~= nil and type(d) ~= "number" then fail("date must be a number or a string") end
                date = rfc5322_date(d or now())
            end
        end
        if not mid then
            if msg.message_id ~= nil then
                mid = check_value(msg.message_id, "message_id")
                if not mid:find("^<") then mid = "<" .. mid .. ">" end
            else
                mid = message_id(domain)
            end
        end

        local h = { "Date: " .. date .. "\r\n", address_header("From", from) }
        if #reply_to > 0 then h[#h + 1] = address_header("Reply-To", reply_to) end
        if #to > 0 then h[#h + 1] = address_header("To", to) end
        if #cc > 0 then h[#h + 1] = address_header("Cc", cc) end
        if msg.subject ~= nil then h[#h + 1] = unstructured("Subject", msg.subject) end
        h[#h + 1] = "Message-ID: " .. mid .. "\r\n"
        h[#h + 1] = "MIME-Version: 1.0\r\n"
        for _, pair in ipairs(custom) do
            local n = str_lower(pair[1])
            if n ~= "date" and n ~= "message-id" then
                h[#h + 1] = unstructured(pair[1], pair[2])
            end
        end

        -- The body: text and html as alternatives, attachments around them.
        local body_parts = {}
        if msg.text ~= nil then body_parts[#body_parts + 1] = text_part("plain", msg.text, opts) end
        if msg.html ~= nil then body_parts[#body_parts + 1] = text_part("html", msg.html, opts) end
        local main
        if #body_parts == 2 then
            main = multipart("alternative", body_parts)
        elseif #body_parts == 1 then
            main = body_parts[1]
        end
        local atts = msg.attachments
        if atts ~= nil and type(atts) ~= "table" then fail("attachments must be a list") end
        if atts and #atts > 0 then
            local parts = { main }
            for i, a in ipairs(atts) do parts[#parts + 1] = attachment_part(a, i) end
            main = multipart("mixed", parts)
        elseif not main then
            main = text_part("plain", "", opts)
        end
        h[#h + 1] = main.headers
        h[#h + 1] = "\r\n"
        local text = concat(flatten(main.body, h))
        return text, { message_id = mid, date = date, from = from[1].address,
                       recipients = recipients }
    end)
    if ok then return data, info end
    if type(data) == "table" and getmetatable(data) == Fail then return nil, data.msg end
    error(data, 0) -- a bug here, not bad input: let it show
end

return _M
