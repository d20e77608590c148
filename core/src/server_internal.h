/* SPDX-License-Identifier: MIT */
/* Server session, layer 1: the concerns above the session core (see server_core.h for
 * the layers). Not installed, not part of the API. Each declaration says who calls it;
 * every caller is in this layer's earlier files or in layer 2, never in layer 0. */
#ifndef SC_SERVER_INTERNAL_H
#define SC_SERVER_INTERNAL_H

#include "command.h"
#include "server_core.h"

/* server_cmd.c: one framed command line (called by server.c's step loop), and the EHLO
 * reply (server.c's answer path). */
void sc_srv_command(smtpcore_server *s, const char *line, size_t len, uint32_t flags,
                    size_t rest);
void sc_srv_ehlo_reply(smtpcore_server *s);

/* server_auth.c: AUTH and its SASL exchange. _start and _malformed from server_cmd.c;
 * _line and _overlong from server.c's step loop for lines in the SC_PH_AUTH phase
 * (`line` is in the session's input buffer and is decoded in place). */
void sc_srv_auth_start(smtpcore_server *s, const sc_command *cmd, smtpcore_str line);
void sc_srv_auth_malformed(smtpcore_server *s);
void sc_srv_auth_line(smtpcore_server *s, const char *line, size_t len, uint32_t flags);
void sc_srv_auth_overlong(smtpcore_server *s);
/* server.c's answer path: the host answered AUTH with code (counts a failure). */
void sc_srv_auth_answered(smtpcore_server *s, int code);
/* Output room a host refusal of AUTH must leave for the 421 a failure may bring. */
size_t sc_srv_auth_fail_room(const smtpcore_server *s);

/* server_xclient.c: XCLIENT from server_cmd.c; the restart after an accepted XCLIENT
 * from server.c's answer path. */
void sc_srv_xclient(smtpcore_server *s, const sc_command *cmd, smtpcore_str line);
void sc_srv_xclient_restart(smtpcore_server *s);

/* server_data.c: message content. The steps from server.c's loop, bdat_start from
 * server_cmd.c, abort_body from server.c (end of input mid-message). */
int sc_srv_data_step(smtpcore_server *s);
int sc_srv_bdat_step(smtpcore_server *s);
void sc_srv_bdat_start(smtpcore_server *s, uint64_t n, int last, sc_bdat_mode mode);
void sc_srv_abort_body(smtpcore_server *s, smtpcore_violation v);

/* server_lmtp.c: per-recipient replies. Size and init from server.c's creation, begin
 * and refuse_all from server_data.c, answer_all and flush from server.c, close_all from
 * server_close.c. */
size_t sc_srv_lmtp_size(const smtpcore_server_config *c); /* room in the block, 0 if off */
void sc_srv_lmtp_init(smtpcore_server *s);
void sc_srv_lmtp_begin(smtpcore_server *s);                /* MESSAGE_END is pushed */
int sc_srv_lmtp_answer_all(smtpcore_server *s, int code, const char *enhanced,
                           const char *text, int use_default);
void sc_srv_lmtp_refuse_all(smtpcore_server *s, int code, const char *enh, const char *text);
int sc_srv_lmtp_flush(smtpcore_server *s);                 /* 1 while replies are left */
/* The unanswered recipients get this formatted reply; -1 if too long. */
int sc_srv_lmtp_close_all(smtpcore_server *s, const char *r, size_t n);

/* server_proxy.c: the PROXY phase, from server.c's loop; 0 when more input is needed. */
int sc_srv_proxy_step(smtpcore_server *s);

#endif
