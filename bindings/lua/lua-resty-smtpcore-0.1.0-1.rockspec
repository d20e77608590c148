package = "lua-resty-smtpcore"
version = "0.1.0-1"
source = {
   url = "git+https://github.com/smtpcore/smtpcore.git",
   tag = "v0.1.0",
}
description = {
   summary = "LuaJIT FFI binding of smtpcore, a sans-I/O SMTP engine, with an OpenResty mail client",
   detailed = [[
resty.smtpcore binds libsmtpcore (server and client roles) through the LuaJIT FFI: events
are pulled, no C callbacks into Lua, constants generated from the C headers. resty.smtpcore.client
sends mail over nginx cosockets (STARTTLS, AUTH, pipelining, per-recipient results,
keepalive pooling) or over luasocket in plain LuaJIT.
Needs LuaJIT (or OpenResty) and libsmtpcore.so installed where package.cpath or the
SMTPCORE_LIB environment variable points.
]],
   homepage = "https://github.com/smtpcore/smtpcore",
   license = "MIT",
}
dependencies = {
   -- The FFI needs LuaJIT, which reports itself as Lua 5.1.
   "lua == 5.1",
}
build = {
   type = "builtin",
   modules = {
      ["resty.smtpcore"] = "bindings/lua/lib/resty/smtpcore.lua",
      ["resty.smtpcore.cdef"] = "bindings/lua/lib/resty/smtpcore/cdef.lua",
      ["resty.smtpcore.client"] = "bindings/lua/lib/resty/smtpcore/client.lua",
      ["resty.smtpcore.enums"] = "bindings/lua/lib/resty/smtpcore/enums.lua",
      ["resty.smtpcore.mail"] = "bindings/lua/lib/resty/smtpcore/mail.lua",
      ["resty.smtpcore.message"] = "bindings/lua/lib/resty/smtpcore/message.lua",
      ["resty.smtpcore.socket"] = "bindings/lua/lib/resty/smtpcore/socket.lua",
   },
   copy_directories = { "docs" },
}
