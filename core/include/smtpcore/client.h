/* SPDX-License-Identifier: MIT */
/**
 * @file client.h
 * @brief The client role: a session that sends mail through a transaction API.
 *
 * The engine drives greeting, EHLO (with the RSET/HELO fallback), STARTTLS, AUTH and
 * pipelined command groups; the host submits transactions when it sees
 * ::SMTPCORE_CEV_READY and feeds the body when it sees ::SMTPCORE_CEV_SEND_BODY.
 * See docs/client-guide.md.
 *
 * Included by smtpcore.h; do not include directly.
 */
#ifndef SMTPCORE_CLIENT_H
#define SMTPCORE_CLIENT_H

#ifdef __cplusplus
extern "C" {
#endif

/** @brief An opaque client session, one per connection. */
typedef struct smtpcore_client smtpcore_client;

/** @brief Workarounds for broken servers. */
typedef enum smtpcore_quirk {
    SMTPCORE_QUIRK_NO_PIPELINING = 1u << 0, /**< Never pipeline, even when offered. */
    SMTPCORE_QUIRK_SPLIT_QUIT = 1u << 1,    /**< Never put QUIT in a group after RSET: send
                                                 QUIT once the RSET is answered (for servers
                                                 that drop a QUIT pipelined behind RSET). */
    SMTPCORE_QUIRK_NO_CHUNKING = 1u << 2,   /**< Use DATA even when CHUNKING is offered. */
    SMTPCORE_QUIRK_HELO_ONLY = 1u << 3,     /**< Send HELO, never EHLO. */
    SMTPCORE_QUIRK_SEND_8BIT = 1u << 4      /**< Send an 8-bit body as is to a server without
                                                 8BITMIME (as MTAs traditionally do; RFC 6152
                                                 says not to): BODY=8BITMIME is then left out
                                                 of MAIL instead of refused. */
} smtpcore_quirk;

/** @brief When to use STARTTLS. */
typedef enum smtpcore_tls_policy {
    SMTPCORE_TLS_NEVER = 0,         /**< Never send STARTTLS. */
    SMTPCORE_TLS_OPPORTUNISTIC = 1, /**< Use STARTTLS when offered. Default. */
    SMTPCORE_TLS_REQUIRED = 2       /**< Fail (QUIT only) unless TLS is established. */
} smtpcore_tls_policy;

/**
 * @brief Client configuration. Initialise with smtpcore_client_config_init().
 *        Strings are copied by smtpcore_client_new().
 *
 * struct_size follows the ABI rule of smtpcore.h: 0 and larger than the library's
 * struct are refused; a smaller (older) struct is accepted and the fields it lacks keep
 * their defaults. New fields are added at the end.
 */
typedef struct smtpcore_client_config {
    size_t struct_size;          /**< sizeof(smtpcore_client_config); set by _init(). */
    const char *helo_name;       /**< FQDN or address literal (see smtpcore_address_literal()).
                                      Required. */
    uint32_t quirks;             /**< Bitwise OR of ::smtpcore_quirk. */
    smtpcore_tls_policy tls_policy; /**< Default ::SMTPCORE_TLS_OPPORTUNISTIC. */
    int tls_active;              /**< The connection is already TLS (port 465). */
    const char *auth_user;       /**< AUTH user name (UTF-8), or NULL for no AUTH. */
    const char *auth_password;   /**< Password, or the OAuth2 token for XOAUTH2. */
    const char *auth_mechanism;  /**< "PLAIN", "LOGIN", "XOAUTH2", another name (challenges
                                      go to the host), or NULL for the best offered. A
                                      name is 1 to 20 letters, digits, '-' or '_' in any
                                      case and is sent upper-cased (RFC 4422 3.1). */
    /* Sizes: 0 means the default; a value outside the bounds given is refused by
     * smtpcore_client_new() with ::SMTPCORE_ERR_INVALID_ARGUMENT, never adjusted. */
    size_t max_reply_line;       /**< Reply line limit incl. CRLF. Default 1000, at least 8. */
    size_t input_buffer_size;    /**< Input bound (a whole reply must fit). Default 8192, at
                                      least max_reply_line. */
    size_t output_buffer_size;   /**< Output bound. Default 8192, at least 1024. */
    size_t max_recipients;       /**< Recipients one transaction may hold. Default 1000, at
                                      most 1000000. */
    size_t envelope_buffer_size; /**< Bytes for queued commands of one transaction. Default
                                      65536, at least 1024. */
    const smtpcore_allocator *allocator; /**< NULL for malloc/free. Copied. */
    /** LMTP mode (RFC 2033). Default 0. Nonzero: LHLO instead of EHLO, with no HELO
     *  fallback (a refused LHLO ends the session); after the data one
     *  ::SMTPCORE_CEV_DELIVERY_RESULT per accepted recipient, then
     *  ::SMTPCORE_CEV_MESSAGE_RESULT with the totals. */
    int lmtp;
    /** Write a PROXY header before anything else (it is the first output, before the
     *  greeting is read): ::SMTPCORE_PROXY_V1 or ::SMTPCORE_PROXY_V2 (ANY is refused).
     *  Default ::SMTPCORE_PROXY_OFF. */
    smtpcore_proxy_mode proxy_protocol;
    /** The client's address for the header ("192.0.2.1" or "2001:db8::1"), or NULL with
     *  @ref proxy_dst_addr NULL for a header without addresses (v1 "UNKNOWN", v2 LOCAL,
     *  what a health check sends). Both addresses must be of the same family. */
    const char *proxy_src_addr;
    const char *proxy_dst_addr;  /**< The address the client connected to. */
    uint16_t proxy_src_port;     /**< The client's port. */
    uint16_t proxy_dst_port;     /**< The port the client connected to. */
} smtpcore_client_config;

/** @brief Client event types. */
typedef enum smtpcore_client_event_type {
    SMTPCORE_CEV_NONE = 0,        /**< Nothing to do: feed input or write output. */
    SMTPCORE_CEV_GREETING,        /**< The server's 220 greeting (informative). */
    SMTPCORE_CEV_STARTTLS,        /**< Write the output, start TLS, call
                                       smtpcore_client_tls_started(). */
    SMTPCORE_CEV_AUTH_CHALLENGE,  /**< A 334 challenge for a host-run mechanism: answer with
                                       smtpcore_client_auth_respond(). @ref smtpcore_client_event.data
                                       is the decoded challenge. */
    SMTPCORE_CEV_AUTH_RESULT,     /**< AUTH finished; reply 235 or a failure. */
    SMTPCORE_CEV_READY,           /**< Session ready for a transaction; caps are valid. */
    SMTPCORE_CEV_MAIL_RESULT,     /**< Reply to MAIL FROM. */
    SMTPCORE_CEV_RCPT_RESULT,     /**< Reply to one RCPT TO (see rcpt_index). */
    SMTPCORE_CEV_SEND_BODY,       /**< Feed the body with smtpcore_client_body(). */
    SMTPCORE_CEV_MESSAGE_RESULT,  /**< Final outcome of the transaction (see failure);
                                       READY follows unless the next transaction already
                                       started (see smtpcore_client_mail()). Its reply is
                                       the one that decided the outcome: the refused MAIL
                                       reply, or when no recipient was accepted the first
                                       refused RCPT reply of the deciding class (a 4xx
                                       before any 5xx), not the 503/554 that DATA got for
                                       it; otherwise the reply to DATA, a refused chunk or
                                       the end of data. LMTP: after the DELIVERY_RESULTs;
                                       failure is SUCCESS when one recipient got a 2xx,
                                       else FAIL_TRANSIENT when one got a 4xx, else
                                       FAIL_PERMANENT; reply is the last delivery reply. */
    SMTPCORE_CEV_REPLY,           /**< Reply to NOOP or RSET requested by the host. */
    SMTPCORE_CEV_PROTOCOL_ERROR,  /**< The server broke the protocol; CLOSED follows. */
    SMTPCORE_CEV_CLOSED,          /**< The conversation is over; close the connection. */
    SMTPCORE_CEV_DELIVERY_RESULT, /**< LMTP: the reply for one accepted recipient after the end
                                       of the data (RFC 2033 4.2); rcpt_index is its index in
                                       the order of smtpcore_client_rcpt(). One per accepted
                                       recipient, in RCPT order, before MESSAGE_RESULT. */
    /** The reply to smtpcore_client_xclient(). Success (220): the engine has sent EHLO
     *  again and ::SMTPCORE_CEV_READY follows with the new capabilities. Refusal (the
     *  reply and failure class are in the event): the session is unchanged and
     *  ::SMTPCORE_CEV_READY follows; a 421 closes (::SMTPCORE_CEV_CLOSED). */
    SMTPCORE_CEV_XCLIENT_RESULT
} smtpcore_client_event_type;

/** @brief Outcome classes carried by client events. */
typedef enum smtpcore_failure {
    SMTPCORE_SUCCESS = 0,          /**< 2xx/3xx as expected. */
    SMTPCORE_FAIL_TRANSIENT = 4,   /**< 4xx: try again later. */
    SMTPCORE_FAIL_PERMANENT = 5,   /**< 5xx: do not retry. */
    SMTPCORE_FAIL_LOCAL = 6        /**< Refused before sending (e.g. SIZE, missing extension). */
} smtpcore_failure;

/**
 * @brief A client event, owned by the session and read through the `const` pointer
 *        smtpcore_client_next_event() hands out (lifetime: see there). The library
 *        allocates it, so a later version may add fields at the end without breaking
 *        compiled hosts: they read the fields they know through the pointer.
 *
 * A reply keeps every line as received (multi-line final replies included, e.g. Exim's
 * "250- 0 byte chunk" line followed by "250 OK id=..."): use smtpcore_reply_text() for
 * the whole text, lines joined by '\n'.
 */
typedef struct smtpcore_client_event {
    smtpcore_client_event_type type; /**< What happened. */
    smtpcore_failure failure;   /**< Outcome class of this event. */
    smtpcore_reply reply;       /**< The reply behind the event (code 0 when none). */
    smtpcore_caps caps;         /**< READY: the server's capabilities. */
    size_t rcpt_index;          /**< RCPT_RESULT, DELIVERY_RESULT: index in the order of
                                     smtpcore_client_rcpt(). */
    size_t rcpt_accepted;       /**< MESSAGE_RESULT: recipients accepted (LMTP: recipients
                                     whose delivery reply was 2xx). */
    size_t rcpt_total;          /**< MESSAGE_RESULT: recipients submitted. */
    smtpcore_str data;          /**< AUTH_CHALLENGE: decoded challenge. */
    smtpcore_violation violation; /**< PROTOCOL_ERROR/CLOSED/MESSAGE_RESULT: reason. */
    smtpcore_str message;       /**< Human-readable detail. */
    size_t discarded;           /**< STARTTLS: plaintext bytes discarded (response injection). */
} smtpcore_client_event;

/** @brief Fills @p cfg with defaults (and sets struct_size). */
SMTPCORE_EXTERN void smtpcore_client_config_init(smtpcore_client_config *cfg);

/**
 * @brief Creates a client session; it waits for the server's greeting.
 * @param[out] out The new session.
 * @param cfg Configuration (required: helo_name has no default). Its struct_size follows
 *        the ABI rule (smtpcore.h): an older, smaller struct gets defaults for the fields
 *        it lacks; 0 or larger than the library's struct is refused.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_ARGUMENT (among others a size outside
 *         the bounds documented in ::smtpcore_client_config), ::SMTPCORE_ERR_INJECTION
 *         (CR/LF in a string), ::SMTPCORE_ERR_SYNTAX (helo_name is not a domain or
 *         address literal), ::SMTPCORE_ERR_TOO_LONG (user name and password over 16384
 *         bytes, or their AUTH line larger than the output buffer), ::SMTPCORE_ERR_NOMEM.
 */
SMTPCORE_EXTERN int smtpcore_client_new(smtpcore_client **out, const smtpcore_client_config *cfg);

/** @brief Frees a client session. NULL is ignored. */
SMTPCORE_EXTERN void smtpcore_client_del(smtpcore_client *c);

/**
 * @brief Gives bytes received from the server to the session.
 * @param c Session.
 * @param data Bytes.
 * @param len Number of bytes.
 * @param[out] consumed Bytes taken; the host offers the rest again after draining events.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_ARGUMENT, ::SMTPCORE_ERR_CLOSED;
 *         ::SMTPCORE_ERR_NOMEM (nothing taken) when a released session
 *         (smtpcore_client_release_idle()) cannot get its buffers back.
 */
SMTPCORE_EXTERN int smtpcore_client_receive(smtpcore_client *c, const char *data, size_t len,
                                            size_t *consumed);

/** @brief Tells the session the server closed the connection. @return ::SMTPCORE_OK. */
SMTPCORE_EXTERN int smtpcore_client_receive_eof(smtpcore_client *c);

/**
 * @brief Produces the next event and points @p *ev at it.
 *
 * On ::SMTPCORE_OK @p *ev is never NULL: when there is nothing to do it points to an
 * event of type ::SMTPCORE_CEV_NONE.
 *
 * The event is the session's own: its fields stay as they are until the next
 * smtpcore_client_next_event() or smtpcore_client_del() on @p c; calls that act on it
 * (smtpcore_client_mail(), rcpt(), data(), body(), auth_respond(), quit(), ...) and
 * reading or consuming output do not change it. Its ::smtpcore_str slices (the reply's
 * raw lines, an AUTH challenge) are valid as long as the event, except that
 * smtpcore_client_receive() (which may compact the input buffer) and
 * smtpcore_client_tls_started() end them. Copy what you need before those calls.
 * @param c Session.
 * @param[out] ev Set to the session's event.
 * @return ::SMTPCORE_OK, or ::SMTPCORE_ERR_INVALID_ARGUMENT (NULL @p c or @p ev; @p *ev
 *         then points to a static event of type ::SMTPCORE_CEV_NONE when @p ev is set),
 *         or ::SMTPCORE_ERR_NOMEM (@p *ev of type ::SMTPCORE_CEV_NONE, nothing changed)
 *         when a released session (smtpcore_client_release_idle()) with the end of input
 *         to serve cannot get its buffers back.
 */
SMTPCORE_EXTERN int smtpcore_client_next_event(smtpcore_client *c,
                                               const smtpcore_client_event **ev);

/**
 * @brief Starts a transaction: MAIL FROM:\<from\> with optional parameters.
 *
 * Allowed after ::SMTPCORE_CEV_READY, and, when the server offers PIPELINING, also right
 * after smtpcore_client_body_end() of a DATA transaction (RFC 2920 3.1): the new MAIL
 * goes out behind the ".", and the earlier transaction's ::SMTPCORE_CEV_MESSAGE_RESULT
 * still comes before this one's events, with no ::SMTPCORE_CEV_READY in between.
 * Parameters the server did not advertise are refused here (::SMTPCORE_ERR_UNSUPPORTED),
 * so nothing invalid is sent; DSN parameters are silently left out when DSN is not
 * offered. BODY=8BITMIME without 8BITMIME gets ::SMTPCORE_ERR_8BIT_NOT_OFFERED (with
 * ::SMTPCORE_QUIRK_SEND_8BIT it is left out instead). SIZE over the server's limit is
 * refused (::SMTPCORE_ERR_TOO_LONG).
 * @param c Session.
 * @param from Reverse path without <> ("" for the null path), UTF-8 allowed with smtputf8.
 * @param params Parameters (envid/auth given decoded; the engine xtext-encodes), or NULL
 *        for none. Initialise with smtpcore_mail_params_init(); its struct_size follows
 *        the ABI rule (smtpcore.h): 0 or larger than the library's struct gives
 *        ::SMTPCORE_ERR_INVALID_ARGUMENT.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_ARGUMENT, ::SMTPCORE_ERR_INVALID_STATE,
 *         ::SMTPCORE_ERR_INJECTION,
 *         ::SMTPCORE_ERR_SYNTAX, ::SMTPCORE_ERR_UNSUPPORTED, ::SMTPCORE_ERR_TOO_LONG,
 *         ::SMTPCORE_ERR_BUFFER_FULL, ::SMTPCORE_ERR_8BIT_NOT_OFFERED;
 *         ::SMTPCORE_ERR_NOMEM (nothing queued) when a released session
 *         (smtpcore_client_release_idle()) cannot get its buffers back.
 */
SMTPCORE_EXTERN int smtpcore_client_mail(smtpcore_client *c, const char *from,
                                         const smtpcore_mail_params *params);

/**
 * @brief Adds a recipient: RCPT TO:\<to\>. Call after smtpcore_client_mail().
 * @param c Session.
 * @param to Forward path without <>.
 * @param params NOTIFY/ORCPT ("rfc822;addr", given decoded), or NULL.
 * @return As smtpcore_client_mail().
 */
SMTPCORE_EXTERN int smtpcore_client_rcpt(smtpcore_client *c, const char *to,
                                         const smtpcore_rcpt_params *params);

/**
 * @brief Ends the envelope: the engine sends DATA (or prepares BDAT) in the same pipelined
 *        group when allowed, and raises ::SMTPCORE_CEV_SEND_BODY when the body may flow.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_STATE (no MAIL/RCPT yet).
 */
SMTPCORE_EXTERN int smtpcore_client_data(smtpcore_client *c);

/**
 * @brief Feeds body bytes (any split, any line endings: bare LF/CR become CRLF and lines
 *        starting with '.' are stuffed). Takes as much as fits in the output buffer.
 * @param c Session.
 * @param data Body bytes.
 * @param len Number of bytes.
 * After the server refused a BDAT chunk (RFC 3030 2) nothing more is sent for the
 * transaction: from then until the next smtpcore_client_mail() every call returns
 * ::SMTPCORE_OK with @p consumed = @p len and the bytes are dropped;
 * ::SMTPCORE_CEV_MESSAGE_RESULT carries the refused chunk's reply.
 * An 8-bit byte (0x80-0xff) in a transaction not declared BODY=8BITMIME/BINARYMIME, to
 * a server that does not offer 8BITMIME (RFC 6152), unless ::SMTPCORE_QUIRK_SEND_8BIT is
 * set: nothing of this call is taken, ::SMTPCORE_ERR_8BIT_NOT_OFFERED is returned, and
 * the session ends without the end-of-data mark (so the server delivers nothing):
 * ::SMTPCORE_CEV_MESSAGE_RESULT (::SMTPCORE_FAIL_LOCAL, ::SMTPCORE_V_8BIT) and
 * ::SMTPCORE_CEV_CLOSED follow; close the connection. Hosts that have the whole message
 * should rather scan it and declare BODY=8BITMIME, which smtpcore_client_mail() refuses
 * before anything is sent.
 * @param[out] consumed Bytes taken; write the output and offer the rest again.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_STATE (body not wanted now),
 *         ::SMTPCORE_ERR_8BIT_NOT_OFFERED.
 */
SMTPCORE_EXTERN int smtpcore_client_body(smtpcore_client *c, const char *data, size_t len,
                                         size_t *consumed);

/**
 * @brief Ends the body: "." (or BDAT LAST) is queued. ::SMTPCORE_CEV_MESSAGE_RESULT follows.
 *
 * After a refused BDAT chunk it sends nothing and returns ::SMTPCORE_OK (until the next
 * smtpcore_client_mail()); see smtpcore_client_body().
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_STATE, ::SMTPCORE_ERR_BUFFER_FULL (write
 *         output and call again).
 */
SMTPCORE_EXTERN int smtpcore_client_body_end(smtpcore_client *c);

/**
 * @brief Aborts the current transaction with RSET, or sends RSET when idle
 *        (::SMTPCORE_CEV_REPLY follows; useful to check a pooled connection).
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_STATE; ::SMTPCORE_ERR_NOMEM as
 *         smtpcore_client_mail().
 */
SMTPCORE_EXTERN int smtpcore_client_rset(smtpcore_client *c);

/** @brief Sends NOOP when idle (::SMTPCORE_CEV_REPLY follows). @return ::SMTPCORE_OK,
 *         ::SMTPCORE_ERR_INVALID_STATE; ::SMTPCORE_ERR_NOMEM as smtpcore_client_mail(). */
SMTPCORE_EXTERN int smtpcore_client_noop(smtpcore_client *c);

/**
 * @brief Ends the session with QUIT; ::SMTPCORE_CEV_CLOSED follows the 221.
 * @return ::SMTPCORE_OK or ::SMTPCORE_ERR_CLOSED; ::SMTPCORE_ERR_NOMEM as
 *         smtpcore_client_mail().
 */
SMTPCORE_EXTERN int smtpcore_client_quit(smtpcore_client *c);

/**
 * @brief Answers ::SMTPCORE_CEV_AUTH_CHALLENGE; the engine base64-encodes @p data.
 *        Pass NULL to cancel the exchange with "*".
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_STATE, ::SMTPCORE_ERR_BUFFER_FULL.
 */
SMTPCORE_EXTERN int smtpcore_client_auth_respond(smtpcore_client *c, const char *data, size_t len);

/** @brief Reports TLS is up after ::SMTPCORE_CEV_STARTTLS; EHLO is sent again.
 *  @return ::SMTPCORE_OK or ::SMTPCORE_ERR_INVALID_STATE. */
SMTPCORE_EXTERN int smtpcore_client_tls_started(smtpcore_client *c);

/** @brief View of pending output bytes. @return their number; @p data set to the first. */
SMTPCORE_EXTERN size_t smtpcore_client_output(smtpcore_client *c, const char **data);

/** @brief Marks @p n output bytes as sent. @return ::SMTPCORE_OK or ::SMTPCORE_ERR_INVALID_ARGUMENT. */
SMTPCORE_EXTERN int smtpcore_client_consume(smtpcore_client *c, size_t n);

/** @brief Copies up to @p cap output bytes into @p buf and consumes them. @return bytes copied. */
SMTPCORE_EXTERN size_t smtpcore_client_copy_output(smtpcore_client *c, char *buf, size_t cap);

/** @brief The capabilities seen in the last EHLO reply (all zero before). */
SMTPCORE_EXTERN const smtpcore_caps *smtpcore_client_caps(const smtpcore_client *c);

/** @brief Nonzero when the conversation is over and the connection should be closed. */
SMTPCORE_EXTERN int smtpcore_client_want_close(const smtpcore_client *c);

/**
 * @brief Bytes of memory the session owns (state and buffers), for accounting: less by
 *        the buffers while they are released (smtpcore_client_release_idle()).
 */
SMTPCORE_EXTERN size_t smtpcore_client_memory(const smtpcore_client *c);

/**
 * @brief Gives the session's buffers (input, output, envelope queue, scratch, the table
 *        of commands awaiting replies, the LMTP recipient bitmap and the event queue)
 *        back to the allocator while it is idle, for hosts that keep many client
 *        connections open and quiet (connection caches, LMTP between deliveries).
 *
 * Idle means that nothing refers to the buffers: the last smtpcore_client_next_event()
 * returned ::SMTPCORE_CEV_NONE (so no event and no slice of one is alive), no command
 * awaits its reply and none is queued (so no transaction is in progress or finishing),
 * every byte received was processed (a partial reply is not), smtpcore_client_output()
 * has nothing left to send, and the session does not wait for the host's
 * smtpcore_client_tls_started() or smtpcore_client_auth_respond(). The usual place is
 * after ::SMTPCORE_CEV_READY or a ::SMTPCORE_CEV_MESSAGE_RESULT, once the events are
 * handled and the output written. The session keeps its state (the phase, the server's
 * capabilities, TLS, AUTH) and stays usable with every call: the next call that needs a
 * buffer (smtpcore_client_receive() with bytes, smtpcore_client_mail(), rset(), noop(),
 * quit(), xclient(), or smtpcore_client_next_event() after
 * smtpcore_client_receive_eof()) allocates them again, one block through the configured
 * allocator, and fails with ::SMTPCORE_ERR_NOMEM, doing nothing, when the allocator
 * returns NULL. A session that is never released never allocates after
 * smtpcore_client_new().
 * @param c Session.
 * @param[out] freed Optional: set to the bytes given back (0 when the buffers were
 *        already released, or on an error).
 * @return ::SMTPCORE_OK (also when already released); ::SMTPCORE_ERR_INVALID_STATE when
 *         the session is not idle (nothing is freed); ::SMTPCORE_ERR_INVALID_ARGUMENT for
 *         a NULL @p c.
 */
SMTPCORE_EXTERN int smtpcore_client_release_idle(smtpcore_client *c, size_t *freed);

/**
 * @brief Sends XCLIENT with @p n attributes (Postfix XCLIENT_README).
 *
 * Allowed after ::SMTPCORE_CEV_READY, outside a transaction, when the server advertised
 * XCLIENT (::SMTPCORE_EXT_XCLIENT in the caps). The engine xtext-encodes every value; pass
 * "[UNAVAILABLE]" or "[TEMPUNAVAIL]" as the value for the markers (they are sent as they
 * are). ::SMTPCORE_CEV_XCLIENT_RESULT follows; on success the server greets again and the
 * engine says EHLO again before the next ::SMTPCORE_CEV_READY.
 * @param c Session.
 * @param names Attribute names: letters only, e.g. "ADDR", "PORT", "NAME", "HELO",
 *        "PROTO", "LOGIN", "DESTADDR", "DESTPORT".
 * @param values Their values, UTF-8 or ASCII, not xtext-encoded.
 * @param n Number of attributes (1..16).
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_STATE (not ready, or in a transaction),
 *         ::SMTPCORE_ERR_UNSUPPORTED (XCLIENT not offered), ::SMTPCORE_ERR_INJECTION (CR,
 *         LF or NUL in a value), ::SMTPCORE_ERR_SYNTAX (a bad name), ::SMTPCORE_ERR_TOO_LONG
 *         (the command would exceed 512 octets), ::SMTPCORE_ERR_INVALID_ARGUMENT;
 *         ::SMTPCORE_ERR_NOMEM as smtpcore_client_mail().
 */
SMTPCORE_EXTERN int smtpcore_client_xclient(smtpcore_client *c, const char *const *names,
                                            const char *const *values, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* SMTPCORE_CLIENT_H */
