-- SPDX-License-Identifier: MIT
-- resty.smtpcore.message: messages built from fields (lua-resty-mail style), checked by
-- reading them back with Python's email package (t/parse_message.py) and by Lua
-- assertions; then sent through resty.smtpcore.client to the Lua sink.
local H = require "harness"
local message = require "resty.smtpcore.message"
local client = require "resty.smtpcore.client"
local lsock = require "resty.smtpcore.socket"

local ROOT = os.getenv("SMTPCORE_ROOT") or "."
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local PY = os.getenv("PYTHON") or "/usr/bin/python3"

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

--- What Python's email package reads in `data` (see parse_message.py), as a string.
local function parse(data)
    local dir = H.tmpdir()
    H.write_file(dir .. "/m.eml", data)
    local p = io.popen(PY .. " " .. HERE .. "/parse_message.py " .. dir .. "/m.eml 2>&1")
    local out = p:read("*a")
    p:close()
    H.match(out, "^defects ", "parse_message.py ran")
    return out
end

local function json(s) -- the JSON string parse_message.py prints for s (ASCII controls only)
    return '"' .. s:gsub('[\\"]', "\\%0"):gsub("\n", "\\n"):gsub("\r", "\\r")
        :gsub("\t", "\\t") .. '"'
end

local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end

--- No defect, and no line longer than `max` (78, RFC 5322's SHOULD; a single word
--- longer than that may only be kept whole, up to the hard limit of 998).
local function no_defects(out, max)
    max = max or 78
    H.match(out, "^defects 0\n", "Python found no defect in the message: " .. out:sub(1, 400))
    local longest = tonumber(out:match("\nline%-max (%d+)\n"))
    H.ok(longest and longest <= max, "every line within " .. max .. " characters: " .. tostring(longest))
end

test("base64 encoder: RFC 4648 test vectors, and every byte value", function()
    local v = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
                fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
    for k, want in pairs(v) do H.eq(message.base64(k), want, "base64(" .. k .. ")") end
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    H.eq(message.base64(table.concat(all)):sub(1, 24), "AAECAwQFBgcICQoLDA0ODxAR")
end)

test("text, html, two attachments, cc and bcc: the structure Python reads", function()
    local blob = {}
    for i = 1, 40 do for b = 0, 255 do blob[#blob + 1] = string.char((b + i) % 256) end end
    blob = table.concat(blob)
    local data, info = message.build({
        from = "Web Shop <web@example.org>",
        to = { "Zoë Ünlü <zoe@example.org>", "bob@example.org" },
        cc = '"Doe, John" <john@example.org>, ops@example.org',
        bcc = "hidden@example.org",
        reply_to = { name = "Support", address = "help@example.org" },
        subject = "Grüße aus Köln – eine sehr lange Betreffzeile, die gefaltet werden muss 🎉",
        text = "Hallo Zoë,\nthis line ends with a space \n=equals= and a tab\t\n.leading dot\n"
            .. string.rep("long ", 40) .. "\n",
        html = "<p>Hallo <b>Zoë</b></p>\n",
        headers = { ["X-Mailer"] = "shop 1.0", ["X-Tag"] = "naïve" },
        attachments = {
            { filename = "data.bin", content = blob },
            { filename = "Übersicht März 2026 mit einem langen Dateinamen, der umbrechen muss.csv",
              content_type = "text/csv", content = "a,b\n1,2\n" },
        },
        date = 86400 * 365,
    })
    H.ok(data, info)
    local out = parse(data)
    no_defects(out)
    for _, line in ipairs({
        'header Date "Fri, 01 Jan 1971 00:00:00 +0000"',
        'addr From "Web Shop" "web@example.org"',
        'addr To "Zoë Ünlü" "zoe@example.org"',
        'addr To "" "bob@example.org"',
        'addr Cc "Doe, John" "john@example.org"',
        'addr Cc "" "ops@example.org"',
        'addr Reply-To "Support" "help@example.org"',
        'header Subject "Grüße aus Köln – eine sehr lange Betreffzeile, die gefaltet werden muss 🎉"',
        'header X-Mailer "shop 1.0"',
        'header X-Tag "naïve"',
        'header MIME-Version "1.0"',
        "part 0 multipart/mixed",
        "part 1 multipart/alternative",
        "part 2 text/plain charset=utf-8 cte=quoted-printable",
        "text 2 " .. json("Hallo Zoë,\nthis line ends with a space \n=equals= and a tab\t\n.leading dot\n"
                          .. string.rep("long ", 40) .. "\n"),
        "part 3 text/html charset=utf-8 cte=quoted-printable",
        "text 3 " .. json("<p>Hallo <b>Zoë</b></p>\n"),
        'part 4 application/octet-stream cte=base64 disposition=attachment filename="data.bin"',
        "bytes 4 " .. hex(blob),
        'part 5 text/csv charset=None cte=base64 disposition=attachment '
            .. 'filename="Übersicht März 2026 mit einem langen Dateinamen, der umbrechen muss.csv"',
        "text 5 " .. json("a,b\n1,2\n"),
    }) do
        H.contains(out, "\n" .. line .. "\n")
    end
    H.ok(not out:find("hidden@example.org", 1, true), "Bcc is never a header")
    H.ok(not data:find("[\128-\255]"), "the message is 7-bit")
    H.contains(out, 'header Message-ID "' .. info.message_id .. '"')
    H.match(info.message_id, "^<[%w%.%-_]+@example%.org>$")
    H.eq(info.from, "web@example.org")
    H.eq(table.concat(info.recipients, " "),
         "zoe@example.org bob@example.org john@example.org ops@example.org hidden@example.org")
end)

test("one text part is the whole body: no multipart, 7bit when it can be", function()
    local data = assert(message.build({ from = "a@example.org", to = "b@example.org",
                                        subject = "Hi", text = "Hello\r\nworld" }))
    local out = parse(data)
    no_defects(out)
    H.contains(out, "\npart 0 text/plain charset=utf-8 cte=7bit\n")
    H.contains(out, '\ntext 0 "Hello\\nworld\\n"\n', "line ends normalised, final one added")
    H.ok(not data:find("multipart", 1, true))
    H.ok(data:find("\r\n\r\nHello\r\nworld\r\n$"), "CRLF body after the blank line")
    -- html alone, and text + html without attachments
    out = parse(assert(message.build({ from = "a@example.org", to = "b@example.org",
                                       html = "<p>x</p>" })))
    H.contains(out, "\npart 0 text/html charset=utf-8 cte=7bit\n")
    out = parse(assert(message.build({ from = "a@example.org", to = "b@example.org",
                                       text = "x", html = "<p>x</p>" })))
    H.contains(out, "\npart 0 multipart/alternative\npart 1 text/plain")
    H.contains(out, "\npart 2 text/html")
    -- attachments alone
    out = parse(assert(message.build({ from = "a@example.org", to = "b@example.org",
        attachments = { { filename = "a.txt", content_type = "text/plain", content = "A" } } })))
    no_defects(out)
    H.contains(out, "\npart 0 multipart/mixed\npart 1 text/plain charset=None cte=base64 disposition=attachment")
end)

test("inline attachment with a Content-ID", function()
    local out = parse(assert(message.build({ from = "a@example.org", to = "b@example.org",
        html = '<img src="cid:logo@example.org">',
        attachments = { { filename = "logo.png", content_type = "image/png", content = "\137PNG",
                          disposition = "inline", content_id = "logo@example.org" } } })))
    no_defects(out)
    H.contains(out, 'part 2 image/png cte=base64 disposition=inline filename="logo.png" cid=<logo@example.org>')
end)

test("header values: RFC 2047 only where needed, folding keeps text exact", function()
    local cases = {
        "plain ascii",
        "Ünïcödé",
        "an emoji 🎉 and ümlauts, and a comma",
        string.rep("word ", 30) .. "end", -- long ASCII: folded at spaces, not encoded
        "looks like =?UTF-8?Q?an_encoded_word?= but is not",
        "two  spaces   inside", -- runs of spaces survive
        string.rep("x", 120), -- one long word
        string.rep("ä", 100), -- many multibyte characters split across encoded-words
    }
    for _, subject in ipairs(cases) do
        local data = assert(message.build({ from = "a@example.org", to = "b@example.org",
                                            subject = subject, text = "x" }))
        local out = parse(data)
        no_defects(out, subject:find(string.rep("x", 79)) and 998 or 78)
        H.contains(out, "\nheader Subject " .. json(subject) .. "\n", "subject " .. subject)
    end
    local data = assert(message.build({ from = "a@example.org", to = "b@example.org",
                                        subject = string.rep("word ", 30) .. "end", text = "x" }))
    H.ok(not data:find("=?", 1, true), "long ASCII subject folded, not encoded")
    H.match(data, "\r\nSubject: word word", "folded subject")
    data = assert(message.build({ from = "a@example.org", to = "b@example.org",
                                  subject = "see https://example.org/" .. string.rep("x", 90), text = "x" }))
    H.ok(not data:find("=?", 1, true), "a long URL stays readable (one word, kept whole)")
    H.match(data, "\r\nSubject: see\r\n https://example.org/x+\r\n", "folded before the URL")
end)

test("address lists: quoted names, commas, tables, <addr>, duplicates", function()
    local data, info = message.build({
        from = { name = 'Team "Ops" \\ Night', address = "ops@example.org" },
        to = { '"Smith, Anna" <anna@example.org>', "<bare@example.org>",
               { name = "Jürgen", address = "j@example.org" }, "anna@EXAMPLE.org",
               "ANNA@example.org" },
        cc = "c1@example.org,  C Two <c2@example.org> ,c1@example.org",
        text = "x",
    })
    H.ok(data, info)
    local out = parse(data)
    no_defects(out)
    H.contains(out, 'addr From "Team \\"Ops\\" \\\\ Night" "ops@example.org"')
    H.contains(out, 'addr To "Smith, Anna" "anna@example.org"')
    H.contains(out, 'addr To "" "bare@example.org"')
    H.contains(out, 'addr To "Jürgen" "j@example.org"')
    H.contains(out, 'addr Cc "C Two" "c2@example.org"')
    H.eq(table.concat(info.recipients, " "),
         "anna@example.org bare@example.org j@example.org ANNA@example.org c1@example.org c2@example.org",
         "envelope: each address once (domain without case; the local part may have it)")
    H.eq(message.address("Anna <anna@example.org>"), "anna@example.org")
    H.eq(message.address("anna@example.org"), "anna@example.org")
    local long = {}
    for i = 1, 30 do long[i] = "Person Number " .. i .. " <person" .. i .. "@example.org>" end
    out = parse(assert(message.build({ from = "a@example.org", to = long, text = "x" })))
    no_defects(out)
    H.contains(out, 'addr To "Person Number 30" "person30@example.org"', "long To folded")
end)

test("bad input is refused with a reason, never written", function()
    local base = { from = "a@example.org", to = "b@example.org", text = "x" }
    local function with(k, v)
        local m = {}
        for kk, vv in pairs(base) do m[kk] = vv end
        m[k] = v
        return m
    end
    local cases = {
        { with("subject", "hi\r\nBcc: victim@example.org"), "CR, LF" },
        { with("to", "b@example.org\r\nRCPT TO:<x@example.org>"), "CR, LF" },
        { with("to", "not an address"), "bad address" },
        { with("from", nil), "sender" },
        { with("to", {}), "no recipients" },
        { with("headers", { ["Bad:Name"] = "x" }), "bad header name" },
        { with("headers", { Bcc = "x@example.org" }), "bcc" },
        { with("headers", { ["Content-Type"] = "text/html" }), "written by the builder" },
        { with("headers", { ["X-Ok"] = "a\nb" }), "CR, LF" },
        { with("attachments", { { filename = "a", content = 42 } }), "content must be a string" },
        { with("attachments", { { content = "x", content_type = "text/plain; charset=x" } }), "content_type" },
        { with("attachments", { { content = "x", disposition = "weird" } }), "disposition" },
        { with("text", 42), "text must be a string" },
    }
    for i, c in ipairs(cases) do
        local data, err = message.build(c[1])
        H.eq(data, nil, "case " .. i)
        H.contains(err, c[2], "case " .. i)
    end
end)

test("Date and Message-ID: generated, unique, or given", function()
    local seen = {}
    for _ = 1, 500 do
        local _, info = assert(message.build({ from = "a@mail.example.org", to = "b@example.org", text = "x" }))
        H.eq(seen[info.message_id], nil, "unique Message-ID")
        seen[info.message_id] = true
        H.match(info.message_id, "@mail%.example%.org>$")
        H.match(info.date, "^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d %+0000$")
    end
    local data, info = assert(message.build({ from = "a@example.org", to = "b@example.org", text = "x",
        headers = { { "Date", "Mon, 7 Dec 2026 10:00:00 +0100" }, { "Message-ID", "<given@example.org>" } } }))
    H.eq(info.message_id, "<given@example.org>")
    local _, n = data:gsub("\r\nDate: ", "")
    H.eq(n, 0, "no Date after the first line")
    H.match(data, "^Date: Mon, 7 Dec 2026 10:00:00 %+0100\r\n")
    H.eq(select(2, data:gsub("Message%-ID: ", "")), 1, "one Message-ID")
    _, info = assert(message.build({ from = "a@example.org", to = "b@example.org", text = "x",
                                     message_id = "id1@example.org" }, { hostname = "h.example" }))
    H.eq(info.message_id, "<id1@example.org>")
    _, info = assert(message.build({ from = "a@example.org", to = "b@example.org", text = "x" },
                                   { hostname = "h.example" }))
    H.match(info.message_id, "@h%.example>$")
end)

test("quoted-printable lines stay within 76 and decode exactly", function()
    local text = string.rep("é", 200) .. "\n" .. string.rep("=", 100) .. "\n  \n\t\n"
    local data = assert(message.build({ from = "a@example.org", to = "b@example.org", text = text }))
    local body = data:match("\r\n\r\n(.*)$")
    for line in body:gmatch("([^\r\n]*)\r\n") do
        H.ok(#line <= 76, "QP line of " .. #line)
        H.ok(not line:find("[ \t]$"), "no trailing white space")
    end
    local out = parse(data)
    no_defects(out)
    H.contains(out, "\ntext 0 " .. json(text) .. "\n")
end)

test("the boundary never occurs in a 7bit part", function()
    -- Boundaries are "=_smtpcore_<seed>_<n>": learn the seed, then write text that holds
    -- the next hundred candidate delimiters.
    local first = assert(message.build({ from = "a@example.org", to = "b@example.org",
                                        text = "x", html = "y" }))
    local seed, n = first:match('boundary="=_smtpcore_(.-)_(%d+)"')
    H.ok(seed, "boundary found")
    local lines = {}
    for i = tonumber(n) + 1, tonumber(n) + 100 do lines[#lines + 1] = "--=_smtpcore_" .. seed .. "_" .. i end
    local text = table.concat(lines, "\n") .. "\n"
    local data = assert(message.build({ from = "a@example.org", to = "b@example.org",
                                       text = text, html = "<p>y</p>" }))
    local out = parse(data)
    no_defects(out)
    H.contains(out, "\npart 1 text/plain charset=utf-8 cte=7bit\n")
    H.contains(out, "\ntext 1 " .. json(text) .. "\n", "text intact")
end)

-- Through the client -----------------------------------------------------------------

local function start_lua_sink()
    local dir = H.tmpdir()
    local portfile = dir .. "/port"
    local pid = H.spawn(string.format("LUA_PATH='%s' luajit %s/examples/lua/sink.lua --dir %s "
        .. "--port-file %s --idle-exit 60", package.path, ROOT, dir, portfile))
    local port = H.wait_for(function()
        local s = H.read_file(portfile)
        return s and tonumber(s:match("%d+"))
    end, 10, "sink port file")
    return port, dir, pid
end

test("client: send() builds the message from fields; envelope from the mailboxes", function()
    local port, dir, pid = start_lua_sink()
    local m = assert(client.new({ host = "127.0.0.1", port = port, helo_name = "c.example.org",
                                  timeout = 5000, socket = lsock.tcp, keepalive = false }))
    local res, err = m:send({
        from = "Web <web@example.org>", to = { "Bob <bob@example.org>", "reject-x@example.org" },
        cc = "Carol <carol@example.org>", bcc = "dave@example.org",
        subject = "Bestellung #42 — bestätigt", text = "Danke für Ihre Bestellung.\n",
        html = "<p>Danke!</p>",
        attachments = { { filename = "rechnung.txt", content_type = "text/plain", content = "42 €\n" } },
    })
    H.ok(res, err)
    H.eq(res.ok, true)
    H.eq(res.accepted, 3)
    H.eq(res.total, 4)
    H.eq(res.recipients[2].address, "reject-x@example.org")
    H.eq(res.recipients[2].code, 550)
    H.match(res.message_id, "^<.+@example%.org>$")
    local eml = H.wait_for(function() return H.read_file(dir .. "/1.eml") end, 10, "stored")
    H.eq(H.read_file(dir .. "/1.env"), "MAIL FROM:<web@example.org>\nRCPT TO:<bob@example.org>\n"
        .. "RCPT TO:<carol@example.org>\nRCPT TO:<dave@example.org>\n")
    local out = parse(eml)
    no_defects(out)
    H.contains(out, 'header Subject "Bestellung #42 — bestätigt"')
    H.contains(out, 'header Message-ID "' .. res.message_id .. '"')
    H.contains(out, '\ntext 2 "Danke für Ihre Bestellung.\\n"\n')
    H.contains(out, "\npart 4 text/plain charset=utf-8 cte=base64 disposition=attachment")
    H.contains(out, '\ntext 4 "42 €\\n"\n', "UTF-8 text attachment labelled utf-8")
    H.ok(not eml:find("dave", 1, true), "bcc not in the stored message")

    -- A message that cannot be built is a local refusal, before any SMTP.
    res = assert(m:send({ from = "web@example.org", to = "b@example.org", subject = "x\r\nBcc: y" }))
    H.eq(res.ok, false)
    H.eq(res.failure, "local")
    H.eq(res.stage, "message")
    H.contains(res.message, "CR, LF")

    -- send_many: built and raw messages side by side.
    local results = assert(m:send_many({
        { from = "web@example.org", to = "b@example.org", subject = "one", text = "1" },
        { from = "web@example.org", to = "b@example.org", body = "Subject: two\r\n\r\n2\r\n" },
        { from = "web@example.org", to = "b@example.org", headers = { { "X-Bad Name", "x" } } },
    }))
    H.eq(results[1].ok, true)
    H.ok(results[1].message_id, "message_id of a built message")
    H.eq(results[2].ok, true)
    H.eq(results[2].message_id, nil, "no message_id for a raw one")
    H.eq(results[3].failure, "local")
    H.eq(results[3].stage, "message")
    H.contains(parse(H.wait_for(function() return H.read_file(dir .. "/2.eml") end, 10, "2.eml")),
               'header Subject "one"')
    H.eq(H.wait_for(function() return H.read_file(dir .. "/3.eml") end, 10, "3.eml"),
         "Subject: two\r\n\r\n2\r\n")
    H.kill(pid)
end)

return T
