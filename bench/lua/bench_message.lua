-- SPDX-License-Identifier: MIT
-- Time to build messages with resty.smtpcore.message (CPU time per message, plain LuaJIT).
-- Usage: luajit bench/lua/bench_message.lua [--quick]    (LUA_PATH must reach bindings/lua/lib)
-- Prints one line per case; asserts nothing (numbers only, see docs/lua.md).
local message = require "resty.smtpcore.message"

local quick = arg[1] == "--quick"
local attachment = string.rep("\0\1\2\3\255binary", 1024 * 1024 / 10) -- 1 MiB, binary
local text = string.rep("Grüße, this is a line of text with ümlauts in it.\n", 2000) -- ~100 KB

local function run(name, n, msg)
    if quick then n = math.max(1, math.floor(n / 20)) end
    local size
    local t0 = os.clock()
    for _ = 1, n do size = #assert(message.build(msg)) end
    local per = (os.clock() - t0) / n
    print(string.format("%-44s %9.3f ms/message %9d bytes (n=%d)", name, per * 1000, size, n))
end

run("notification: subject, text, html", 5000, {
    from = "Shop <shop@example.org>", to = "Zoë <zoe@example.org>",
    subject = "Ihre Bestellung – bestätigt", text = "Danke für Ihre Bestellung.\n",
    html = "<p>Danke!</p>" })
run("1 MiB binary attachment (base64)", 40, {
    from = "a@example.org", to = "b@example.org", subject = "report", text = "attached",
    attachments = { { filename = "a.bin", content = attachment } } })
run("100 KB non-ASCII text (quoted-printable)", 40, {
    from = "a@example.org", to = "b@example.org", subject = "text", text = text })
