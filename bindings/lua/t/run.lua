-- SPDX-License-Identifier: MIT
-- Runs the plain-LuaJIT tests: luajit bindings/lua/t/run.lua [--filter TEXT] [files...]
-- Without files, runs every bindings/lua/t/test_*.lua. Environment (set by
-- scripts/test.d/30-lua.sh): SMTPCORE_LIB (the .so), SMTPCORE_ROOT (repository root),
-- SMTPCORE_LAYOUT (output of t/layout.c).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. here .. "/../lib/?.lua;" .. package.path

local H = require "harness"

local files, filter = {}, nil
local i = 1
while i <= #arg do
    if arg[i] == "--filter" then
        filter = arg[i + 1]
        i = i + 2
    else
        files[#files + 1] = arg[i]
        i = i + 1
    end
end
if #files == 0 then
    local p = io.popen("ls " .. here .. "/test_*.lua")
    for line in p:lines() do files[#files + 1] = line end
    p:close()
end

-- Close the state on exit so ffi.gc finalizers run (a leak checker then sees real leaks).
os.exit(H.run(files, filter) and 0 or 1, true)
