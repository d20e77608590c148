# SPDX-License-Identifier: MIT
import asyncio, email.message, smtpcore.aio

async def main():
    server = await smtpcore.aio.serve(lambda env: print("got", env.rcpt_tos, env.content), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "me@example.org", "you@example.com", "Hi"
    msg.set_content("Hello from smtpcore!\n")
    print("accepted", (await smtpcore.aio.send_message("127.0.0.1", port, msg)).accepted)
    server.close()

asyncio.run(main())
