-- SPDX-License-Identifier: MIT
-- The FFI layer itself: declarations in sync with the header, library discovery, the
-- pure helper functions, and session lifetime.
local H = require "harness"
local ffi = require "ffi"
local smtpcore = require "resty.smtpcore"
local layout = require "layout"

local ROOT = os.getenv("SMTPCORE_ROOT") or "."

local T = {}
local function test(name, fn) T[#T + 1] = { name, fn } end

test("Lua cdef copy equals bindings/cdef/smtpcore_cdef.h", function()
    local header = H.read_file(ROOT .. "/bindings/cdef/smtpcore_cdef.h")
    H.ok(header, "read smtpcore_cdef.h")
    H.eq(require "resty.smtpcore.cdef", header, "cdef.lua contents")
end)

test("struct layouts match the C compiler's", function()
    local path = os.getenv("SMTPCORE_LAYOUT")
    H.ok(path, "SMTPCORE_LAYOUT is set (by scripts/test.d/30-lua.sh)")
    local c = {}
    for line in io.lines(path) do
        local k, v = line:match("^(%S+) (%-?%d+)$")
        c[k] = tonumber(v)
    end
    local n = 0
    for _, s in ipairs(layout.structs(require "resty.smtpcore.cdef")) do
        H.eq(ffi.sizeof(s.struct), c[s.struct], "sizeof " .. s.struct)
        for _, f in ipairs(s.fields) do
            H.eq(ffi.offsetof(s.struct, f), c[s.struct .. "." .. f], s.struct .. "." .. f)
            n = n + 1
        end
    end
    H.ok(n > 80, "compared " .. n .. " fields")
end)

test("enum values match the C compiler's", function()
    local path = os.getenv("SMTPCORE_LAYOUT")
    H.ok(path, "SMTPCORE_LAYOUT is set (by scripts/test.d/30-lua.sh)")
    local c = {}
    for line in io.lines(path) do
        local k, v = line:match("^(SMTPCORE_[%w_]+) (%-?%d+)$")
        if k then c[k] = tonumber(v) end
    end
    local n = 0
    for ctype, members in pairs(require "resty.smtpcore.enums") do
        for name, v in pairs(members) do
            H.eq(v, c[name], ctype .. " " .. name)
            n = n + 1
        end
    end
    H.ok(n > 100, "compared " .. n .. " constants")
end)

test("constant tables come from the generated enums, every member included", function()
    local E = require "resty.smtpcore.enums"
    local function count(t)
        local k = 0
        for _ in pairs(t) do k = k + 1 end
        return k
    end
    H.eq(count(smtpcore.SEV), count(E.smtpcore_server_event_type), "SEV")
    H.eq(count(smtpcore.CEV), count(E.smtpcore_client_event_type), "CEV")
    H.eq(count(smtpcore.EXT), count(E.smtpcore_ext), "EXT")
    H.eq(count(smtpcore.V), count(E.smtpcore_violation), "V")
    H.eq(count(smtpcore.ERR) + 1, count(E.smtpcore_error), "ERR (+ OK)")
    for name, v in pairs(E.smtpcore_server_event_type) do
        local short = name:gsub("^SMTPCORE_SEV_", "")
        H.eq(smtpcore.SEV[short], v, name)
        H.eq(smtpcore.SEV_NAMES[v], short, "SEV_NAMES " .. v)
    end
    H.eq(smtpcore.SEV.HELO, ffi.C.SMTPCORE_SEV_HELO)
    H.eq(smtpcore.CEV.MESSAGE_RESULT, ffi.C.SMTPCORE_CEV_MESSAGE_RESULT)
    H.eq(smtpcore.ERR.BUFFER_FULL, ffi.C.SMTPCORE_ERR_BUFFER_FULL)
    H.eq(smtpcore.EXT["8BITMIME"], ffi.C.SMTPCORE_EXT_8BITMIME)
    H.eq(smtpcore.AUTH["CRAM-MD5"], ffi.C.SMTPCORE_AUTH_CRAM_MD5, "SASL spelling")
    H.eq(smtpcore.V.BARE_LF, ffi.C.SMTPCORE_V_BARE_LF)
    H.eq(smtpcore.V_NAMES[ffi.C.SMTPCORE_V_BARE_LF], "BARE_LF")
    H.eq(smtpcore.FAILURE_NAMES[ffi.C.SMTPCORE_FAIL_TRANSIENT], "transient")
    H.eq(smtpcore.FAILURE_NAMES[ffi.C.SMTPCORE_SUCCESS], "success")
    H.eq(smtpcore.HELO_CLASS_NAMES[ffi.C.SMTPCORE_HELO_IPV6_LITERAL], "ipv6_literal")
    H.eq(smtpcore.const.SMTPCORE_QUIRK_SPLIT_QUIT, ffi.C.SMTPCORE_QUIRK_SPLIT_QUIT, "const")
end)

test("a missing library reports every path tried", function()
    local cmd = "SMTPCORE_LIB=/nonexistent/smtpcore-lib-dir "
        .. "LUA_PATH='" .. package.path .. "' luajit -e "
        .. "'package.cpath=\"/nonexistent/a/?.so;/nonexistent/b/lib?.so\"; "
        .. "local ok, err = pcall(require, \"resty.smtpcore\"); io.write(tostring(ok), \"\\n\", err)' 2>&1"
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    H.match(out, "^false\n", "require fails")
    H.contains(out, "/nonexistent/smtpcore-lib-dir/libsmtpcore.so (not found)")
    H.contains(out, "/nonexistent/a/libsmtpcore.so (not found)")
    H.contains(out, "/nonexistent/a/smtpcore.so (not found)")
    H.contains(out, "/nonexistent/b/liblibsmtpcore.so (not found)")
    H.contains(out, "/nonexistent/b/libsmtpcore.so (not found)")
    H.contains(out, "dynamic linker")
end)

test("SMTPCORE_LIB may name the file itself", function()
    H.match(smtpcore.lib_path, "libsmtpcore%.so", "lib_path")
end)

test("version, strerror, violation_str", function()
    H.match(smtpcore.version(), "^%d+%.%d+%.%d+$", "version")
    H.contains(smtpcore.strerror(smtpcore.ERR.BUFFER_FULL), "buffer full")
    H.eq(smtpcore.strerror(-1000), "unknown error")
    H.eq(smtpcore.violation_str(2), "bare LF")
end)

test("helo_classify", function()
    H.eq(smtpcore.helo_classify("mail.example.org"), "fqdn")
    H.eq(smtpcore.helo_classify("localhost"), "single_label")
    H.eq(smtpcore.helo_classify("[192.0.2.1]"), "ipv4_literal")
    H.eq(smtpcore.helo_classify("[IPv6:2001:db8::1]"), "ipv6_literal")
    H.eq(smtpcore.helo_classify("bad..name"), "invalid")
end)

test("address_literal", function()
    H.eq(smtpcore.address_literal("192.0.2.1"), "[192.0.2.1]")
    H.eq(smtpcore.address_literal("2001:db8::1"), "[IPv6:2001:db8::1]")
    local v, err = smtpcore.address_literal("not-an-ip")
    H.eq(v, nil)
    H.contains(err, "syntax")
end)

test("xtext_decode", function()
    H.eq(smtpcore.xtext_decode("a+2Bb+3Dc"), "a+b=c")
    H.eq(smtpcore.xtext_decode(""), "")
    H.eq(smtpcore.xtext_decode("a+ZZ"), nil)
end)

test("masks and names", function()
    H.eq(smtpcore.mask({ "PIPELINING", "size" }, smtpcore.EXT, "ext"), 3)
    local names = smtpcore.mask_names(0x1 + 0x100, smtpcore.EXT)
    H.eq(table.concat(names, ","), "PIPELINING,STARTTLS")
    H.ok(not pcall(smtpcore.mask, { "NOPE" }, smtpcore.EXT, "ext"), "unknown name raises")
end)

test("sessions are freed by ffi.gc and by close()", function()
    -- Many short-lived sessions: without ffi.gc this would leak; with a double free it
    -- would crash. close() then gc must not free twice either.
    for i = 1, 2000 do
        local s = assert(smtpcore.server_new())
        local c = assert(smtpcore.client_new({ helo_name = "client.example.org" }))
        if i % 2 == 0 then
            s:close()
            c:close()
            s:close()
        end
    end
    collectgarbage()
    collectgarbage()
    local s = assert(smtpcore.server_new())
    H.ok(s:memory() > 0, "memory accounted")
    s:close()
    local ok, err = pcall(function() return s:next_event() end)
    H.eq(ok, false, "a closed session refuses calls")
    H.contains(err, "closed")
end)

test("release_idle gives an idle session's buffers back and the session goes on", function()
    local s = assert(smtpcore.server_new({ hostname = "mx.example.org" }))
    H.eq(tonumber(assert(s:next_event()).type), smtpcore.SEV.CONNECT)
    -- An event is pending an answer: not idle, nothing freed.
    local freed, err = s:release_idle()
    H.eq(freed, nil, "not idle while CONNECT awaits its answer")
    H.ok(err, "with a reason")
    assert(s:accept())
    H.match(s:take_output(), "^220 ")
    H.eq(tonumber(assert(s:next_event()).type), smtpcore.SEV.NONE)
    local before = s:memory()
    freed = assert(s:release_idle())
    H.ok(freed > 0, "buffers freed")
    H.eq(s:memory(), before - freed, "memory() no longer counts them")
    H.eq(assert(s:release_idle()), 0, "a second release frees nothing")
    -- A partial command line is state the session must keep: not idle.
    H.eq(s:receive("EHLO client.exa"), 15)
    H.eq(tonumber(assert(s:next_event()).type), smtpcore.SEV.NONE)
    H.eq(s:release_idle(), nil, "a partial line keeps the buffers")
    H.eq(s:receive("mple.org\r\n"), 10)
    H.eq(tonumber(assert(s:next_event()).type), smtpcore.SEV.HELO)
    assert(s:accept())
    H.match(s:take_output(), "^250%-mx%.example%.org")
    H.eq(s:memory(), before, "the buffers were taken again")
    s:close()
end)

test("Client:release_idle gives an idle client's buffers back and the session goes on", function()
    local CEV = smtpcore.CEV
    local c = assert(smtpcore.client_new({ helo_name = "client.example.org" }))
    H.eq(c:receive("220 mx.example.org ESMTP\r\n"), 26)
    H.eq(tonumber(assert(c:next_event()).type), CEV.GREETING)
    H.eq(tonumber(assert(c:next_event()).type), CEV.NONE)
    -- EHLO is to be written and its reply awaited: not idle, nothing freed.
    local before = c:memory()
    local freed, err = c:release_idle()
    H.eq(freed, nil, "not idle while EHLO's reply is awaited")
    H.ok(err, "with a reason")
    H.eq(c:memory(), before)
    H.eq(c:take_output(), "EHLO client.example.org\r\n")
    local ehlo = "250-mx.example.org\r\n250 PIPELINING\r\n"
    H.eq(c:receive(ehlo), #ehlo)
    H.eq(tonumber(assert(c:next_event()).type), CEV.READY)
    H.eq(c:release_idle(), nil, "not idle while READY is alive")
    H.eq(tonumber(assert(c:next_event()).type), CEV.NONE)
    freed = assert(c:release_idle())
    H.ok(freed > 0, "buffers freed")
    H.eq(c:memory(), before - freed, "memory() no longer counts them")
    H.ok(c:memory() < 2048, "a released client is small")
    H.eq(assert(c:release_idle()), 0, "a second release frees nothing")
    H.eq(c:take_output(), "", "no output while released")
    -- The next command takes the buffers again.
    assert(c:noop())
    H.eq(c:memory(), before, "the buffers were taken again")
    H.eq(c:take_output(), "NOOP\r\n")
    H.eq(c:receive("250 2.0.0 OK\r\n"), 14)
    H.eq(tonumber(assert(c:next_event()).type), CEV.REPLY)
    H.eq(tonumber(assert(c:next_event()).type), CEV.NONE)
    H.ok(assert(c:release_idle()) > 0, "idle again after the reply")
    c:close()
end)

test("an event belongs to its session: another session's next_event leaves it intact", function()
    -- As two coroutines (two nginx requests) would interleave: A reads an event, B runs,
    -- A reads the same event again.
    local a = assert(smtpcore.server_new({ hostname = "a.example.org" }))
    local b = assert(smtpcore.server_new({ hostname = "b.example.org" }))
    for _, s in ipairs({ a, b }) do -- greet, so the EHLO is no early talk
        H.eq(tonumber(assert(s:next_event()).type), smtpcore.SEV.CONNECT)
        assert(s:accept())
        H.match(s:take_output(), "^220 ")
    end
    assert(a:receive("EHLO first.example.org\r\n"))
    assert(b:receive("EHLO second.example.org\r\n"))
    local function next_real(s) return assert(s:next_event()) end
    local ea = next_real(a)
    H.eq(tonumber(ea.type), smtpcore.SEV.HELO)
    local eb = next_real(b)
    H.eq(tonumber(eb.type), smtpcore.SEV.HELO)
    H.ok(ea ~= eb, "two sessions, two event structs")
    H.eq(smtpcore.slice(ea.address), "first.example.org", "A's event after B's next_event")
    H.eq(smtpcore.slice(eb.address), "second.example.org")
    local c1 = assert(smtpcore.client_new({ helo_name = "c1.example.org" }))
    local c2 = assert(smtpcore.client_new({ helo_name = "c2.example.org" }))
    assert(c1:receive("220 one.example.net ESMTP\r\n"))
    assert(c2:receive("554 5.7.1 go away\r\n"))
    local g1 = assert(c1:next_event())
    local g2 = assert(c2:next_event())
    H.eq(tonumber(g1.type), smtpcore.CEV.GREETING)
    H.eq(g1.reply.code, 220, "c1's greeting after c2's next_event")
    H.eq(g2.reply.code, 554)
end)

test("a reply's text is every line joined by LF, long replies included", function()
    local c = assert(smtpcore.client_new({ helo_name = "c.example.org" }))
    local long = string.rep("x", 400)
    assert(c:receive("220-first line\r\n220-" .. long .. "\r\n220 last line, id=42\r\n"))
    local ev = assert(c:next_event())
    H.eq(tonumber(ev.type), smtpcore.CEV.GREETING)
    local r = smtpcore.reply_table(ev.reply)
    H.eq(#r.lines, 3)
    H.eq(r.text, "first line\n" .. long .. "\nlast line, id=42")
    H.eq(r.lines[3], "last line, id=42")
end)

test("bad options are refused", function()
    H.ok(not pcall(smtpcore.server_new, { no_such_option = 1 }), "unknown server option")
    H.ok(not pcall(smtpcore.client_new, { helo_name = "x.example", tls_policy = "sometimes" }),
         "bad tls_policy")
    local c, err = smtpcore.client_new({ helo_name = "bad name\r\nRSET" })
    H.eq(c, nil, "CRLF in helo_name")
    H.ok(err, "error message")
end)

test("docs/lua.md shows the nginx.conf the nginx test uses, verbatim", function()
    local doc = H.read_file(ROOT .. "/docs/lua.md")
    local conf = H.read_file(ROOT .. "/bindings/lua/t/nginx.conf")
    H.ok(doc and conf, "read both files")
    H.contains(doc, "```nginx\n" .. conf .. "```\n", "docs/lua.md")
end)

test("the rockspec lists every module and only existing files", function()
    local env = {}
    local chunk = assert(loadfile(ROOT .. "/bindings/lua/lua-resty-smtpcore-0.1.0-1.rockspec"))
    setfenv(chunk, env)
    chunk()
    H.eq(env.package, "lua-resty-smtpcore")
    local listed = {}
    for mod, path in pairs(env.build.modules) do
        H.ok(H.read_file(ROOT .. "/" .. path), "file of " .. mod .. " exists")
        H.eq(path, "bindings/lua/lib/" .. mod:gsub("%.", "/") .. ".lua", "path of " .. mod)
        listed[path] = true
    end
    local p = io.popen("cd " .. ROOT .. " && find bindings/lua/lib -name '*.lua'")
    for path in p:lines() do H.ok(listed[path], path .. " is in the rockspec") end
    p:close()
end)

local PROJECT_URL = "https://github.com/smtpcore/smtpcore"

--- dist.ini as opm reads it: "key = value" lines, "#" or ";" comments, no sections here.
local function read_dist_ini(path)
    local t = {}
    for line in io.lines(path) do
        if not line:match("^%s*$") and not line:match("^%s*[#;]") then
            local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
            H.ok(k, "dist.ini line parses: " .. line)
            H.eq(t[k], nil, "duplicate key " .. k)
            t[k] = v
        end
    end
    return t
end

test("packaging: rockspec, dist.ini, pyproject and README name one project URL", function()
    local env = {}
    local chunk = assert(loadfile(ROOT .. "/bindings/lua/lua-resty-smtpcore-0.1.0-1.rockspec"))
    setfenv(chunk, env)
    chunk()
    H.eq(env.source.url, "git+" .. PROJECT_URL .. ".git", "rockspec source.url")
    H.eq(env.description.homepage, PROJECT_URL, "rockspec homepage")
    H.eq(env.description.license, "MIT", "rockspec licence")
    H.eq(env.source.tag, "v" .. smtpcore._VERSION, "rockspec tag")
    H.eq(env.version, smtpcore._VERSION .. "-1", "rockspec version")

    local dist = read_dist_ini(ROOT .. "/bindings/lua/dist.ini")
    for _, key in ipairs({ "name", "abstract", "author", "is_original", "license", "repo_link" }) do
        H.ok(dist[key] and dist[key] ~= "", "dist.ini has " .. key)
    end
    H.eq(dist.name, env.package, "dist.ini name")
    H.eq(dist.repo_link, PROJECT_URL, "dist.ini repo_link")
    H.eq(dist.license, "mit", "dist.ini licence (opm's id for MIT)")
    H.eq(dist.is_original, "yes")
    H.eq(dist.version, smtpcore._VERSION, "dist.ini version")
    H.eq(dist.lib_dir, "lib")
    H.ok(H.read_file(ROOT .. "/bindings/lua/README.md"), "opm build needs README.md beside dist.ini")
    -- opm build takes the version from the first "_VERSION = ..." line of main_module
    -- (quotes stripped, rest of the line kept) and refuses a mismatch with dist.ini.
    local code_ver
    for line in io.lines(ROOT .. "/bindings/lua/" .. dist.main_module) do
        local v = line:match("%f[%w_]_?VERSION%s*=%s*(.+)") or line:match("%f[%w_]version%s*=%s*(.+)")
        if v and v:find("%d") then
            code_ver = v:gsub("[\"']", ""):gsub("%s+$", "")
            break
        end
    end
    H.eq(code_ver, dist.version, "version opm reads from " .. dist.main_module)

    local py = H.read_file(ROOT .. "/bindings/python/pyproject.toml")
    H.contains(py, 'Homepage = "' .. PROJECT_URL .. '"', "pyproject [project.urls]")
    H.contains(H.read_file(ROOT .. "/README.md"), PROJECT_URL, "README")
    for _, f in ipairs({ "bindings/lua/lua-resty-smtpcore-0.1.0-1.rockspec", "bindings/lua/dist.ini",
                         "bindings/python/pyproject.toml", "README.md" }) do
        H.ok(not H.read_file(ROOT .. "/" .. f):find("example.invalid", 1, true),
             f .. " has no placeholder URL")
    end
end)

return T
