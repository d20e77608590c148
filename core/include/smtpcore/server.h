/* SPDX-License-Identifier: MIT */
/**
 * @file server.h
 * @brief The server role: a session that receives SMTP and asks the host to decide.
 *
 * Typical loop (see docs/server-guide.md):
 * @code
 *   const smtpcore_server_event *ev;                     // owned by the session
 *   smtpcore_server_receive(s, buf, n, &used);          // bytes from the socket
 *   while (smtpcore_server_next_event(s, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_SEV_NONE) {
 *       if (ev->answer_required) smtpcore_server_accept(s);  // or _reject()
 *   }
 *   len = smtpcore_server_output(s, &out);  write(fd, out, len);  smtpcore_server_consume(s, len);
 * @endcode
 *
 * Included by smtpcore.h; do not include directly.
 */
#ifndef SMTPCORE_SERVER_H
#define SMTPCORE_SERVER_H

#ifdef __cplusplus
extern "C" {
#endif

/** @brief An opaque server session, one per connection. */
typedef struct smtpcore_server smtpcore_server;

/** @brief What to do with a bare LF (or bare CR) in commands and message data. */
typedef enum smtpcore_bare_lf_policy {
    /** Commands: 500 5.5.2. DATA: the message is read to its real end and refused
     *  with 550 5.5.2 (like Postfix smtpd_forbid_bare_newline=reject). Default. */
    SMTPCORE_BARE_LF_REJECT = 0,
    /** Commands: a bare LF ends the line. DATA: bytes are passed through unchanged as
     *  body content; end of data is still only CRLF.CRLF. */
    SMTPCORE_BARE_LF_ACCEPT = 1
} smtpcore_bare_lf_policy;

/** @brief Whether HELO/EHLO must precede MAIL. */
typedef enum smtpcore_helo_policy {
    SMTPCORE_HELO_REQUIRED = 0, /**< MAIL before HELO/EHLO gets 503 (RFC 5321 4.1.4). Default. */
    SMTPCORE_HELO_OPTIONAL = 1  /**< MAIL is accepted without a HELO/EHLO before it (for
                                     clients that never greet). */
} smtpcore_helo_policy;

/** @brief What to do about early talkers and improper pipelining. */
typedef enum smtpcore_talker_policy {
    SMTPCORE_TALKER_NOTE = 0,  /**< Report an event and carry on. Default. */
    SMTPCORE_TALKER_REJECT = 1 /**< Report, then refuse the offending command with 503 5.5.0
                                    (early talkers: 554 5.5.0 greeting, then closed). */
} smtpcore_talker_policy;

/** @brief What to do with plaintext that followed STARTTLS in the same read. */
typedef enum smtpcore_injection_policy {
    /** Discard it, report it, and close. Plaintext already buffered behind the STARTTLS
     *  line gets "554 5.5.1" instead of the 220 (TLS is not started); plaintext received
     *  after the 220 and before smtpcore_server_tls_started() gets no reply (the peer is
     *  mid-TLS). Either way the session asks the host to close. Default. */
    SMTPCORE_INJECTION_REJECT = 0,
    /** Discard it, report it, and continue with the TLS handshake. */
    SMTPCORE_INJECTION_DISCARD = 1
} smtpcore_injection_policy;

/**
 * @brief RFC 2920 synchronization: what to do when a command that must end a pipelined
 *        group (EHLO, HELO, LHLO, DATA, NOOP, VRFY, EXPN, HELP), or any command while
 *        PIPELINING is not in effect, arrives with more input already behind it.
 *
 * The refusal is Postfix's smtpd_forbid_unauth_pipelining (default since Postfix 3.9):
 * the offending command is not executed, "554 5.5.0 Error: SMTP protocol
 * synchronization" is queued, the rest of the input is discarded and the session closes.
 * It stops a client from sending the next message's content before the 354 (defence in
 * depth against SMTP smuggling through lenient servers downstream).
 */
typedef enum smtpcore_sync_policy {
    SMTPCORE_SYNC_OFF = 0,    /**< Only ::smtpcore_talker_policy applies. Engine default. */
    SMTPCORE_SYNC_UNAUTH = 1, /**< Refuse and close unless AUTH succeeded in this session;
                                   an authenticated session is under talker_policy only. */
    SMTPCORE_SYNC_ALL = 2     /**< Refuse and close, authenticated or not. */
} smtpcore_sync_policy;

/**
 * @brief What to do with NUL bytes in message content.
 *
 * NUL is not allowed in 7bit or 8bit content (RFC 5321 2.3.8 and 4.1.1.4, RFC 6152, RFC
 * 2045 2.7-2.8), only in BODY=BINARYMIME content sent with BDAT (RFC 3030), and software
 * downstream that handles messages as C strings truncates at it. It never ends the data
 * (only CRLF.CRLF does), so this is about the content, not smuggling.
 */
typedef enum smtpcore_nul_policy {
    /** The message is read to its real end and refused with "550 5.6.0 Error: NUL
     *  character in message content" (::SMTPCORE_SEV_MESSAGE_ABORTED, ::SMTPCORE_V_NUL);
     *  BODY events stop at the slice holding the NUL. BINARYMIME content is exempt.
     *  Default. */
    SMTPCORE_NUL_REJECT = 0,
    /** NUL bytes are passed through as content. */
    SMTPCORE_NUL_ACCEPT = 1
} smtpcore_nul_policy;

/**
 * @brief Server configuration. Initialise with smtpcore_server_config_init(), then
 *        change fields. Strings are copied by smtpcore_server_new().
 *
 * struct_size follows the ABI rule of smtpcore.h: 0 and larger than the library's
 * struct are refused; a smaller (older) struct is accepted and the fields it lacks keep
 * their defaults. New fields are added at the end.
 */
typedef struct smtpcore_server_config {
    size_t struct_size;            /**< sizeof(smtpcore_server_config); set by _init(). */
    const char *hostname;          /**< Our name in greeting and EHLO reply. Default "localhost". */
    const char *greeting_text;     /**< Text after the name in the 220 line. Default "ESMTP smtpcore". */
    uint32_t extensions;           /**< ::smtpcore_ext advertised. Default: PIPELINING, SIZE,
                                        8BITMIME, SMTPUTF8, DSN, ENHANCEDSTATUSCODES, CHUNKING. */
    uint32_t auth_mechs;           /**< ::smtpcore_auth_mech offered when EXT_AUTH is set. */
    uint64_t max_message_size;     /**< SIZE limit in octets; 0 = unlimited. Default 10 MiB. */
    uint32_t max_recipients;       /**< RCPTs per transaction (452 beyond). Default 100. */
    uint32_t max_errors;           /**< Errors before 421 and close. Default 10. */
    size_t max_command_line;       /**< Command line limit incl. CRLF. Default 512. */
    size_t max_text_line;          /**< DATA line limit incl. CRLF. Default 1000; longer lines
                                        are accepted and flagged in the end event. */
    size_t input_buffer_size;      /**< Input bound in bytes. Default 514: one command line of
                                        max_command_line (>= max_command_line + 2). Raise it
                                        for throughput on message content. */
    size_t output_buffer_size;     /**< Output bound in bytes. Default 768. At least the room
                                        one step needs (512, more with a long host name:
                                        the EHLO reply repeats it); the rest batches the
                                        replies of a pipelined group. */
    smtpcore_helo_policy helo_policy;          /**< Default ::SMTPCORE_HELO_REQUIRED. */
    smtpcore_bare_lf_policy bare_lf_policy;    /**< Default ::SMTPCORE_BARE_LF_REJECT. */
    smtpcore_talker_policy talker_policy;      /**< Default ::SMTPCORE_TALKER_NOTE. */
    smtpcore_injection_policy injection_policy;/**< Default ::SMTPCORE_INJECTION_REJECT. */
    int allow_plaintext_auth;      /**< Offer AUTH before TLS. Default 0. */
    int tls_active;                /**< The connection is already TLS (port 465). Default 0. */
    const char *const *own_names;  /**< Names and literals that mean "us" (loop check). */
    size_t own_names_count;        /**< Entries in @ref own_names. */
    const smtpcore_allocator *allocator; /**< NULL for malloc/free. Copied. */
    /** LMTP mode (RFC 2033). Default 0. Nonzero: the session expects LHLO (HELO and EHLO
     *  get "500 5.5.1"), always advertises PIPELINING and ENHANCEDSTATUSCODES, and after
     *  the end of a message (DATA or BDAT LAST) sends one reply per accepted recipient,
     *  given with smtpcore_server_reply_rcpt() (see ::SMTPCORE_SEV_MESSAGE_END). The
     *  default greeting text becomes "LMTP smtpcore". Requires max_recipients > 0: the
     *  per-recipient replies are stored in room sized from it at smtpcore_server_new()
     *  (see docs/server-guide.md, "LMTP"). */
    int lmtp;
    /** Read a PROXY protocol header before the greeting (::SMTPCORE_SEV_PROXY, then
     *  ::SMTPCORE_SEV_CONNECT). Only for connections from a trusted proxy: the header
     *  says who the client is. Default ::SMTPCORE_PROXY_OFF. */
    smtpcore_proxy_mode proxy_protocol;
    /** The longest PROXY header accepted, in octets (v2: 16 + addresses + TLVs; a v1 line
     *  is at most 107 whatever this says). Default 1024 (HAProxy's own headers, with SSL
     *  and unique-id TLVs, stay far below); range 232 (a v2 UNIX header without TLVs)
     *  to 65551. The session allocates this much once, at creation, to keep the header
     *  for smtpcore_server_proxy_header(), and its input buffer is at least this big
     *  while PROXY is on. */
    size_t proxy_max_header;
    /** Offer and accept XCLIENT on every session of this config. Default 0: use
     *  smtpcore_server_set_xclient_allowed() per connection instead. */
    int xclient_allowed;
    smtpcore_sync_policy sync_policy;          /**< Default ::SMTPCORE_SYNC_OFF (hosts that
                                                    face the Internet: ::SMTPCORE_SYNC_UNAUTH). */
    smtpcore_nul_policy nul_policy;            /**< Default ::SMTPCORE_NUL_REJECT. */
    /** Failed AUTH attempts per session before "421 4.7.0 <hostname> Error: too many
     *  failed authentications" and close (::SMTPCORE_SEV_PROTOCOL_ERROR with
     *  ::SMTPCORE_V_TOO_MANY_AUTH_FAILURES, then ::SMTPCORE_SEV_CLOSE). A failure is a
     *  4xx/5xx answer to ::SMTPCORE_SEV_AUTH, or an AUTH the engine refuses by itself
     *  (reported as ::SMTPCORE_SEV_PROTOCOL_ERROR with ::SMTPCORE_V_AUTH_FAILED: unknown
     *  mechanism, encryption required, bad base64, "*", too long, malformed); each also
     *  counts towards max_errors. smtpcore_server_auth_failures() gives the count.
     *  0 = no limit. Default 3. */
    uint32_t max_auth_failures;
} smtpcore_server_config;

/** @brief Why the host ends a session (smtpcore_server_shutdown()). */
typedef enum smtpcore_shutdown_reason {
    /** "421 4.4.2 <hostname> Error: timeout exceeded" (Postfix's wording): the idle
     *  timeout, or a command or message deadline, fired. */
    SMTPCORE_SHUTDOWN_TIMEOUT = 0,
    /** "421 4.3.2 <hostname> Service shutting down, closing transmission channel". */
    SMTPCORE_SHUTDOWN_SERVICE = 1
} smtpcore_shutdown_reason;

/** @brief Server event types. */
typedef enum smtpcore_server_event_type {
    SMTPCORE_SEV_NONE = 0,        /**< Nothing to do: feed more input or drain output. */
    SMTPCORE_SEV_CONNECT,         /**< Greeting due. Answer: accept (220) or reject (554; the
                                       session then answers every command but QUIT with 503). */
    SMTPCORE_SEV_HELO,            /**< HELO or EHLO (@ref smtpcore_server_event.esmtp); in LMTP
                                       mode (smtpcore_server_lmtp()) always LHLO, with esmtp 1.
                                       Answer. */
    SMTPCORE_SEV_MAIL,            /**< MAIL FROM. Answer. */
    SMTPCORE_SEV_RCPT,            /**< RCPT TO. Answer. */
    SMTPCORE_SEV_DATA,            /**< DATA command. Answer: accept (354) or reject. */
    SMTPCORE_SEV_BODY,            /**< A slice of message content, already unstuffed. */
    SMTPCORE_SEV_MESSAGE_END,     /**< End of DATA or BDAT LAST. Answer: accept (250) or reject.
                                       LMTP mode: one answer per accepted recipient
                                       (@ref smtpcore_server_event.rcpt_count of them) with
                                       smtpcore_server_reply_rcpt(); accept/reply/reject
                                       answer all recipients not yet answered at once. */
    SMTPCORE_SEV_MESSAGE_ABORTED, /**< The engine refused the message (see violation); the reply
                                       is already queued (LMTP mode: once per recipient);
                                       discard the body. */
    SMTPCORE_SEV_RSET,            /**< Transaction reset by RSET (informative). */
    SMTPCORE_SEV_NOOP,            /**< NOOP (informative). */
    SMTPCORE_SEV_VRFY,            /**< VRFY. Answer (default 252). */
    SMTPCORE_SEV_EXPN,            /**< EXPN. Answer (default 502). */
    SMTPCORE_SEV_HELP,            /**< HELP. Answer (default 214). */
    SMTPCORE_SEV_STARTTLS,        /**< Flush output, then start TLS and call
                                       smtpcore_server_tls_started(). */
    SMTPCORE_SEV_AUTH,            /**< AUTH credentials complete. Answer: accept (235) or reject (535). */
    SMTPCORE_SEV_QUIT,            /**< QUIT: 221 queued; close after the output is written. */
    SMTPCORE_SEV_PROTOCOL_ERROR,  /**< The peer broke the protocol; the reply is queued. */
    SMTPCORE_SEV_CLOSE,           /**< Close the connection once the output is written. */
    /** The PROXY header was read (informative): details in smtpcore_server_proxy_header(),
     *  @ref smtpcore_server_event.line is a v1 line without CRLF. Comes before
     *  ::SMTPCORE_SEV_CONNECT; a bad header gives ::SMTPCORE_SEV_PROTOCOL_ERROR (a
     *  SMTPCORE_V_PROXY_* violation, no reply) and ::SMTPCORE_SEV_CLOSE instead. */
    SMTPCORE_SEV_PROXY,
    /** XCLIENT from an allowed connection; read the attributes with
     *  smtpcore_server_xclient_attrs().
     *  Answer: accept (or reply 220 with a text) and the session starts over: a new 220
     *  greeting, HELO, AUTH and transaction forgotten; or reject (e.g. 550 5.7.0), and
     *  nothing changes; 421 closes. */
    SMTPCORE_SEV_XCLIENT
} smtpcore_server_event_type;

/**
 * @brief A server event, owned by the session and read through the `const` pointer
 *        smtpcore_server_next_event() hands out.
 *
 * Read the fields of the event's type (each field says which types set it); the others
 * are zero, except members of the two anonymous unions: no event type uses two members
 * of one union, so they share storage (the MAIL parameters, the RCPT parameters, the
 * AUTH credentials and the BODY data; message_size and discarded) and a member that
 * belongs to another type reads as whatever the type's own member holds. Flags are bytes.
 * This keeps the event, and so every session, small: it lives in the session.
 *
 * The library allocates it, so a later version may add fields at the end without
 * breaking compiled hosts: they read the fields they know through the pointer. Lifetime:
 * see smtpcore_server_next_event().
 */
typedef struct smtpcore_server_event {
    smtpcore_server_event_type type; /**< What happened. */
    uint8_t answer_required;    /**< Nonzero: call an answer function before the next event. */
    uint8_t esmtp;              /**< HELO: 1 for EHLO, 0 for HELO. */
    uint8_t helo_is_own_name;   /**< HELO: the name is one of the configured own names (a loop). */
    uint8_t address_utf8;       /**< MAIL/RCPT: the mailbox contains UTF-8 (RFC 6531). */
    smtpcore_str line;          /**< The raw command line (without CRLF), when there is one. */
    smtpcore_helo_class helo_class; /**< HELO: syntactic class of the HELO/EHLO name. */
    uint32_t rcpt_count;        /**< RCPT/DATA/MESSAGE_END/MESSAGE_ABORTED: accepted
                                     recipients so far in this transaction (MESSAGE_END: all
                                     of them, the number of per-recipient replies LMTP mode
                                     sends). */
    /** MAIL/RCPT: mailbox without <>, source route removed; "" for <>. VRFY/EXPN/HELP/HELO:
     *  the argument. */
    smtpcore_str address;
    /** What only one type carries (see the struct's description). */
    union {
        smtpcore_mail_params mail;  /**< MAIL: parameters. */
        smtpcore_rcpt_params rcpt;  /**< RCPT: parameters. */
        smtpcore_str data;          /**< BODY: content bytes. */
        /** AUTH: the credentials. */
        struct {
            smtpcore_str authzid;   /**< PLAIN authorization identity (may be empty). */
            smtpcore_str username;  /**< User name (PLAIN authcid, LOGIN user, XOAUTH2 user). */
            smtpcore_str password;  /**< Password, or the XOAUTH2 bearer token. */
        };
    };
    /** A count, by type (see the struct's description). */
    union {
        uint64_t message_size;  /**< MESSAGE_END/MESSAGE_ABORTED: octets of content received. */
        size_t discarded;       /**< STARTTLS: plaintext bytes discarded (injection);
                                     PROTOCOL_ERROR: input discarded by a closing refusal
                                     (::SMTPCORE_SYNC_UNAUTH). */
    };
    uint8_t bdat;               /**< BODY/MESSAGE_END/MESSAGE_ABORTED: the message arrived
                                     through BDAT. */
    uint8_t long_lines;         /**< MESSAGE_END: a line exceeded max_text_line. */
    uint32_t auth_mech;         /**< AUTH: ::smtpcore_auth_mech used. */
    /** PROTOCOL_ERROR/MESSAGE_ABORTED/STARTTLS/CLOSE (and HELO: a loop): what went wrong,
     *  or ::SMTPCORE_V_NONE. */
    smtpcore_violation violation;
    int reply_code;             /**< The reply the engine queued for it, 0 if none. */
    smtpcore_str message;       /**< Human-readable detail. */
} smtpcore_server_event;

/** @brief Fills @p cfg with defaults (and sets struct_size). */
SMTPCORE_EXTERN void smtpcore_server_config_init(smtpcore_server_config *cfg);

/**
 * @brief Creates a server session. The first event is ::SMTPCORE_SEV_CONNECT.
 * @param[out] out The new session.
 * @param cfg Configuration, or NULL for defaults. Its struct_size follows the ABI rule
 *        (smtpcore.h): an older, smaller struct gets defaults for the fields it lacks.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_ARGUMENT (bad config, struct_size 0 or
 *         larger than the library's struct), ::SMTPCORE_ERR_NOMEM.
 */
SMTPCORE_EXTERN int smtpcore_server_new(smtpcore_server **out, const smtpcore_server_config *cfg);

/** @brief Frees a session and everything it owns. NULL is ignored. */
SMTPCORE_EXTERN void smtpcore_server_del(smtpcore_server *s);

/**
 * @brief Gives bytes received from the peer to the session.
 *
 * Accepts as many bytes as fit in the bounded input buffer; the host keeps the rest and
 * offers them again after draining events and output. Bytes are processed by
 * smtpcore_server_next_event().
 * @param s Session.
 * @param data Bytes from the peer.
 * @param len Number of bytes.
 * @param[out] consumed Bytes taken (may be less than @p len, or 0 when full).
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_ARGUMENT, ::SMTPCORE_ERR_CLOSED;
 *         ::SMTPCORE_ERR_NOMEM (nothing taken) when a released session
 *         (smtpcore_server_release_idle()) cannot get its buffers back.
 */
SMTPCORE_EXTERN int smtpcore_server_receive(smtpcore_server *s, const char *data, size_t len,
                                            size_t *consumed);

/**
 * @brief Tells the session the peer closed its side (EOF). A transaction in progress is
 *        aborted and ::SMTPCORE_SEV_CLOSE follows.
 * @return ::SMTPCORE_OK or ::SMTPCORE_ERR_INVALID_ARGUMENT.
 */
SMTPCORE_EXTERN int smtpcore_server_receive_eof(smtpcore_server *s);

/**
 * @brief Produces the next event and points @p *ev at it.
 *
 * On ::SMTPCORE_OK @p *ev is never NULL: when there is nothing to do (more input is
 * needed, output must be drained first, or an event still awaits its answer) it points
 * to an event of type ::SMTPCORE_SEV_NONE.
 *
 * The event is the session's own: its fields stay as they are until the next
 * smtpcore_server_next_event() or smtpcore_server_del() on @p s; answering it
 * (accept/reply/reject/reply_rcpt, close_with/shutdown) and reading or consuming output
 * do not change it, so a host may read `ev->...` while it answers. Its ::smtpcore_str
 * slices point into the session's input buffer and are valid as long as the event,
 * except that smtpcore_server_receive() (which may compact the buffer) and
 * smtpcore_server_tls_started() (which discards it) end them, and that
 * smtpcore_server_xclient_attrs() decodes the XCLIENT arguments in place, in the bytes
 * of @ref smtpcore_server_event.line. Copy what you need before those calls.
 * @param s Session.
 * @param[out] ev Set to the session's event.
 * @return ::SMTPCORE_OK, or ::SMTPCORE_ERR_INVALID_ARGUMENT (NULL @p s or @p ev; @p *ev
 *         then points to a static event of type ::SMTPCORE_SEV_NONE when @p ev is set),
 *         or ::SMTPCORE_ERR_NOMEM (@p *ev of type ::SMTPCORE_SEV_NONE) when a released
 *         session (smtpcore_server_release_idle()) cannot get its buffers back to serve
 *         the end of input.
 */
SMTPCORE_EXTERN int smtpcore_server_next_event(smtpcore_server *s,
                                               const smtpcore_server_event **ev);

/**
 * @brief Finishes with the current event and produces the next one: when the event
 *        handed out last still awaits an answer, answers it with its default (as
 *        smtpcore_server_accept()), then does what smtpcore_server_next_event() does.
 *
 * The host loop in one call per event, for hosts that accept most events as they come
 * (and for bindings, where each call into C costs): answer an event that needs a
 * decision of your own (reply(), reject(), or for ::SMTPCORE_SEV_AUTH the result of
 * checking the credentials) before the next call; an event already answered, one that
 * needs no answer, or none at all is simply followed by the next one.
 * @code
 *   while (smtpcore_server_accept_next(s, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_SEV_NONE) {
 *       if (ev->type == SMTPCORE_SEV_RCPT && !known(ev->address))
 *           smtpcore_server_reject(s, 550, "5.1.1", "No such user");
 *   }
 * @endcode
 * Every event is still handed out: nothing is answered that the host has not seen.
 * An ::SMTPCORE_SEV_AUTH event is never answered by default (its default is 235, a
 * successful login): left unanswered, the call returns ::SMTPCORE_ERR_INVALID_STATE
 * and does nothing else, so a loop that forgot to check credentials logs nobody in.
 * The event and its slices live as those of smtpcore_server_next_event().
 * @param s Session.
 * @param[out] ev Set to the session's event.
 * @return As smtpcore_server_next_event(); ::SMTPCORE_ERR_INVALID_STATE with an
 *         ::SMTPCORE_SEV_AUTH event unanswered (@p *ev points to it); when the default answer fails
 *         (::SMTPCORE_ERR_NOMEM: a released session cannot get its output buffer back,
 *         see smtpcore_server_accept()) that error, with nothing else done: @p *ev
 *         points to the event still awaiting its answer.
 */
SMTPCORE_EXTERN int smtpcore_server_accept_next(smtpcore_server *s,
                                                const smtpcore_server_event **ev);

/**
 * @brief Answers the pending event with the engine's default positive reply.
 * @return ::SMTPCORE_OK or ::SMTPCORE_ERR_NO_ANSWER_PENDING; ::SMTPCORE_ERR_NOMEM (not
 *         answered) when a released session cannot get its output buffer back (the
 *         same for smtpcore_server_reply() and smtpcore_server_reject()).
 */
SMTPCORE_EXTERN int smtpcore_server_accept(smtpcore_server *s);

/**
 * @brief Answers the pending event with a custom reply.
 *
 * A 2xx/3xx code accepts (e.g. 251 for RCPT), 4xx/5xx refuses. With
 * ENHANCEDSTATUSCODES advertised and @p enhanced NULL, a default enhanced code matching
 * the reply is added. Lines of a multi-line reply are separated by '\n' in @p text.
 * @param s Session.
 * @param code Reply code 200..599, valid for the pending event (e.g. DATA accepts only 354).
 * @param enhanced "x.y.z" or NULL.
 * @param text Reply text or NULL for the default; must not contain CR or NUL.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_NO_ANSWER_PENDING, ::SMTPCORE_ERR_INVALID_ARGUMENT,
 *         ::SMTPCORE_ERR_INJECTION, ::SMTPCORE_ERR_TOO_LONG.
 */
SMTPCORE_EXTERN int smtpcore_server_reply(smtpcore_server *s, int code, const char *enhanced,
                                          const char *text);

/**
 * @brief Refuses the pending event: shorthand for smtpcore_server_reply() with 4xx/5xx.
 * @return As smtpcore_server_reply(); ::SMTPCORE_ERR_INVALID_ARGUMENT for a 2xx/3xx code.
 */
SMTPCORE_EXTERN int smtpcore_server_reject(smtpcore_server *s, int code, const char *enhanced,
                                           const char *text);

/**
 * @brief LMTP: answers one recipient of the message that ::SMTPCORE_SEV_MESSAGE_END ended.
 *
 * @p index is the recipient's position among the accepted RCPTs of the transaction
 * (0 .. rcpt_count - 1 of the MESSAGE_END event). Recipients may be answered in any
 * order and at any time, also after later smtpcore_server_next_event() calls that
 * returned ::SMTPCORE_SEV_NONE; the replies go out in RCPT order as soon as they are
 * contiguous (RFC 2033 4.2), and commands pipelined behind the message are not processed
 * until every recipient has its reply. smtpcore_server_accept(), smtpcore_server_reply()
 * and smtpcore_server_reject() on the MESSAGE_END answer every recipient not yet
 * answered with one reply. Replies that cannot be written yet (out of order, or the
 * output buffer is full) are stored in room sized at smtpcore_server_new() from
 * max_recipients; nothing is allocated.
 * @param s Session in LMTP mode.
 * @param index Recipient index.
 * @param code 2xx, 4xx or 5xx.
 * @param enhanced "x.y.z" (class matching @p code) or NULL for a default.
 * @param text Reply text or NULL for the default; '\n' separates lines; no CR or NUL.
 * @return ::SMTPCORE_OK; ::SMTPCORE_ERR_NO_ANSWER_PENDING (no message awaits its
 *         answers); ::SMTPCORE_ERR_INVALID_STATE (the session is not in LMTP mode);
 *         ::SMTPCORE_ERR_INVALID_ARGUMENT (index out of range or already answered, bad
 *         code or enhanced code); ::SMTPCORE_ERR_INJECTION; ::SMTPCORE_ERR_TOO_LONG;
 *         ::SMTPCORE_ERR_BUFFER_FULL (the reply store is full: write the output, answer
 *         the lowest unanswered recipients first, or use shorter texts).
 */
SMTPCORE_EXTERN int smtpcore_server_reply_rcpt(smtpcore_server *s, size_t index, int code,
                                               const char *enhanced, const char *text);

/**
 * @brief LMTP: the number of recipients of the ended message still without an answer
 *        (0 when no message awaits its answers).
 */
SMTPCORE_EXTERN size_t smtpcore_server_rcpt_unanswered(const smtpcore_server *s);

/** @brief Nonzero when the session runs in LMTP mode (its HELO events are LHLO). */
SMTPCORE_EXTERN int smtpcore_server_lmtp(const smtpcore_server *s);

/**
 * @brief Gives a view of the bytes waiting to be sent to the peer, and records that the
 *        host has seen output.
 *
 * Not a pure accessor: the first call that returns a nonzero count (normally the one
 * that hands out the 220 greeting) marks the greeting as sent for early-talker
 * detection (::SMTPCORE_V_EARLY_TALKER): input received before that is an early talker,
 * input after it is not. So call it (or smtpcore_server_copy_output()) when you are
 * about to write the bytes, not to peek. In LMTP mode it also moves stored
 * per-recipient replies into the output as room allows.
 * @param s Session.
 * @param[out] data Set to the first pending byte (valid until the next call on @p s).
 * @return Number of pending bytes (0 when none).
 */
SMTPCORE_EXTERN size_t smtpcore_server_output(smtpcore_server *s, const char **data);

/**
 * @brief Marks @p n output bytes as sent.
 * @return ::SMTPCORE_OK or ::SMTPCORE_ERR_INVALID_ARGUMENT when @p n exceeds the pending count.
 */
SMTPCORE_EXTERN int smtpcore_server_consume(smtpcore_server *s, size_t n);

/**
 * @brief Copies up to @p cap pending output bytes into @p buf and consumes them.
 *
 * Like smtpcore_server_output(), a call that copies bytes marks the output as seen by
 * the host (early-talker detection).
 * @return Number of bytes copied.
 */
SMTPCORE_EXTERN size_t smtpcore_server_copy_output(smtpcore_server *s, char *buf, size_t cap);

/**
 * @brief The flush hint: nonzero when pending output should be written now (input ran
 *        dry, a group-ending reply is queued, or the output buffer is full).
 */
SMTPCORE_EXTERN int smtpcore_server_want_flush(const smtpcore_server *s);

/** @brief Nonzero once the session wants the connection closed after output drains. */
SMTPCORE_EXTERN int smtpcore_server_want_close(const smtpcore_server *s);

/**
 * @brief Reports that TLS is now active after ::SMTPCORE_SEV_STARTTLS. The session
 *        forgets HELO and the transaction (RFC 3207 4.2) and expects a new EHLO.
 * @return ::SMTPCORE_OK or ::SMTPCORE_ERR_INVALID_STATE when no STARTTLS was pending;
 *         ::SMTPCORE_ERR_NOMEM (nothing changes) when a released session
 *         (smtpcore_server_release_idle()) that must report plaintext received before
 *         this call cannot get its buffers back.
 */
SMTPCORE_EXTERN int smtpcore_server_tls_started(smtpcore_server *s);

/**
 * @brief Bytes of memory the session owns (state and buffers), for accounting: less by
 *        the buffers while they are released (smtpcore_server_release_idle()).
 */
SMTPCORE_EXTERN size_t smtpcore_server_memory(const smtpcore_server *s);

/**
 * @brief Gives the session's input and output buffers (and its event queue) back to the
 *        allocator while it is idle, for hosts that keep many connections open and
 *        quiet.
 *
 * Idle means that nothing refers to the buffers: the last smtpcore_server_next_event()
 * returned ::SMTPCORE_SEV_NONE (so no event and no slice of one is alive), no answer is
 * awaited, every byte received was processed (a partial command line is not), and
 * smtpcore_server_output() has nothing left to send. The usual place is after a read's
 * events are handled and its output written. The session keeps its state (the phase,
 * the transaction, a message in progress, the limits' counters) and stays usable with
 * every call: the next call that needs a buffer (smtpcore_server_receive() with bytes,
 * an answer, smtpcore_server_close_with(), smtpcore_server_tls_started() with
 * plaintext to report, or smtpcore_server_next_event() after
 * smtpcore_server_receive_eof()) allocates them again, one block of
 * `input_buffer_size + output_buffer_size` bytes and the queue (192 bytes on x86-64)
 * through the configured allocator, and fails with ::SMTPCORE_ERR_NOMEM, doing nothing,
 * when the allocator returns NULL. A session that is never released never allocates
 * after smtpcore_server_new().
 * @param s Session.
 * @param[out] freed Optional: set to the bytes given back (0 when the buffers were
 *        already released, or on an error).
 * @return ::SMTPCORE_OK (also when already released); ::SMTPCORE_ERR_INVALID_STATE when
 *         the session is not idle (nothing is freed); ::SMTPCORE_ERR_INVALID_ARGUMENT for
 *         a NULL @p s.
 */
SMTPCORE_EXTERN int smtpcore_server_release_idle(smtpcore_server *s, size_t *freed);

/**
 * @brief The PROXY header the session read, or NULL (PROXY off, or not read yet).
 *
 * Non-NULL from ::SMTPCORE_SEV_PROXY on, and valid until smtpcore_server_del().
 */
SMTPCORE_EXTERN const smtpcore_proxy_header *smtpcore_server_proxy_header(const smtpcore_server *s);

/**
 * @brief Allows (nonzero) or forbids (0) XCLIENT on this connection: whether EHLO
 *        advertises it and whether the command is served or refused with 550 5.7.0.
 *
 * Call it any time, typically right after smtpcore_server_new(), once the host has
 * compared the peer's address (which only it knows) with the proxies it trusts. It
 * overrides smtpcore_server_config::xclient_allowed for this session.
 * @return ::SMTPCORE_OK or ::SMTPCORE_ERR_INVALID_ARGUMENT.
 */
SMTPCORE_EXTERN int smtpcore_server_set_xclient_allowed(smtpcore_server *s, int allowed);

/**
 * @brief Fills @p out with the attributes of the XCLIENT command awaiting an answer
 *        (::SMTPCORE_SEV_XCLIENT).
 *
 * The session keeps no copy (an idle session stays small): the values are decoded in
 * place in the command line, and the slices stay valid until the next call on @p s.
 * @param s Session.
 * @param[out] out Filled up to @p out_size bytes; pass `sizeof *out`. A caller built
 *        against an older, smaller struct passes its own size and gets the fields it knows.
 * @param out_size `sizeof(smtpcore_xclient_attrs)` as the caller knows it.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_INVALID_STATE when no XCLIENT awaits an answer,
 *         ::SMTPCORE_ERR_INVALID_ARGUMENT.
 */
SMTPCORE_EXTERN int smtpcore_server_xclient_attrs(const smtpcore_server *s,
                                                  smtpcore_xclient_attrs *out, size_t out_size);

/**
 * @brief Ends the session with a reply of the host's choosing: its idle timeout or a
 *        deadline fired, or it is shutting down.
 *
 * Works in every phase. The reply is queued after the output already pending (a peer
 * that read nothing may have filled the output buffer: then the session closes without
 * it); while the peer is in the TLS handshake after STARTTLS no reply is written.
 * An event awaiting an answer gets this reply as its answer (for
 * ::SMTPCORE_SEV_MESSAGE_END: the message is not accepted; in LMTP mode every recipient
 * not answered yet gets it); an answer-required event queued but not yet returned is
 * dropped. A message whose content was streaming (DATA, BDAT) ends with
 * ::SMTPCORE_SEV_MESSAGE_ABORTED (::SMTPCORE_V_HOST_CLOSE): discard it. Then
 * ::SMTPCORE_SEV_CLOSE (::SMTPCORE_V_HOST_CLOSE; @ref smtpcore_server_event.reply_code is
 * @p code, or 0 when the reply could not be written), want_close() is 1, and receive()
 * returns ::SMTPCORE_ERR_CLOSED. Write the output, then close.
 * @param s Session.
 * @param code 4xx or 5xx (421 is the code RFC 5321 3.8 gives for closing).
 * @param enhanced "x.y.z" (class matching @p code), or NULL for a default.
 * @param text Reply text; '\n' separates lines; no CR. NULL: "<hostname> Service not
 *        available, closing transmission channel" (RFC 5321 4.2.3) for 421.
 * @return ::SMTPCORE_OK; ::SMTPCORE_ERR_INVALID_ARGUMENT (bad code or enhanced code);
 *         ::SMTPCORE_ERR_INJECTION; ::SMTPCORE_ERR_TOO_LONG (a line over 512 octets or
 *         the reply over 512 in all); ::SMTPCORE_ERR_CLOSED (the session is closing
 *         already; nothing changes); ::SMTPCORE_ERR_NOMEM (nothing changes) when a
 *         released session (smtpcore_server_release_idle()) cannot get its buffers back.
 */
SMTPCORE_EXTERN int smtpcore_server_close_with(smtpcore_server *s, int code,
                                               const char *enhanced, const char *text);

/**
 * @brief smtpcore_server_close_with() with the reply for @p why (see
 *        ::smtpcore_shutdown_reason), e.g. "421 4.4.2 mx.example.org Error: timeout
 *        exceeded".
 * @return As smtpcore_server_close_with(); ::SMTPCORE_ERR_INVALID_ARGUMENT for an unknown
 *         reason.
 */
SMTPCORE_EXTERN int smtpcore_server_shutdown(smtpcore_server *s, smtpcore_shutdown_reason why);

/**
 * @brief Nonzero while the session reads message content (after the 354 to DATA until
 *        the final dot, or the octets of a BDAT chunk); 0 while it reads command lines
 *        (or SASL responses).
 *
 * For deadlines: a host applies a per-message deadline or a minimum transfer rate while
 * this is nonzero, and a per-command-line deadline otherwise (docs/server-guide.md,
 * "Timeouts and deadlines").
 */
SMTPCORE_EXTERN int smtpcore_server_in_message(const smtpcore_server *s);

/**
 * @brief Nonzero while a mail transaction is open: from an accepted MAIL until it ends
 *        (the end of its message, whatever its answer, RSET, HELO/EHLO, STARTTLS, an
 *        accepted XCLIENT, a refusal that drops it, or the end of the session); 0 in
 *        between, and for a NULL @p s.
 *
 * The engine's own view, so a host need not follow the MAIL, RSET, HELO and abort events
 * to know it: for example to give an idle session's buffers back
 * (smtpcore_server_release_idle()) only between transactions, when the next command may
 * be long in coming, and keep them while one is open.
 */
SMTPCORE_EXTERN int smtpcore_server_in_transaction(const smtpcore_server *s);

/**
 * @brief The number of failed AUTH attempts in this session so far (see
 *        smtpcore_server_config::max_auth_failures for what counts). A host that delays
 *        or rate-limits per client address compares it before and after handling events.
 */
SMTPCORE_EXTERN uint32_t smtpcore_server_auth_failures(const smtpcore_server *s);

#ifdef __cplusplus
}
#endif

#endif /* SMTPCORE_SERVER_H */
