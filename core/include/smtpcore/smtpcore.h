/* SPDX-License-Identifier: MIT */
/**
 * @file smtpcore.h
 * @brief smtpcore: a sans-I/O SMTP protocol engine for the server and the client role.
 *
 * The engine consumes bytes and produces bytes and events; the host owns sockets, TLS,
 * clocks, files and DNS. Every session is independent (no global state), memory per
 * session is bounded by its configuration, and events are owned by the session (see
 * smtpcore_server_next_event() and smtpcore_client_next_event() for how long one lives).
 *
 * Conventions:
 * - Functions returning `int` return ::SMTPCORE_OK (0) or a negative ::smtpcore_error;
 *   a peer that breaks the protocol is never an error code but an event. The codes fall
 *   in three classes (see ::smtpcore_error and smtpcore_error_is_fatal()):
 *   - *flow control*: ::SMTPCORE_ERR_BUFFER_FULL from a session call: a bounded buffer
 *     is full; write the output (or handle events) and call again with the same
 *     arguments. It is the only code worth retrying as is.
 *   - *refused call*: the call did nothing and the session carries on as before: the
 *     host's arguments or timing were wrong (::SMTPCORE_ERR_INVALID_ARGUMENT,
 *     ::SMTPCORE_ERR_INVALID_STATE, ::SMTPCORE_ERR_NO_ANSWER_PENDING), or what it asked
 *     for cannot be sent (::SMTPCORE_ERR_INJECTION, ::SMTPCORE_ERR_SYNTAX,
 *     ::SMTPCORE_ERR_TOO_LONG, ::SMTPCORE_ERR_UNSUPPORTED,
 *     ::SMTPCORE_ERR_8BIT_NOT_OFFERED; the one exception, smtpcore_client_body(), says
 *     so). Fix the call; retrying it unchanged gives the same answer.
 *   - *fatal*: ::SMTPCORE_ERR_NOMEM (no session was made, or a released server session
 *     could not get its buffers back: the call did nothing, close and free it) and
 *     ::SMTPCORE_ERR_CLOSED (the session is over: write what output remains, close, free
 *     it).
 * - Strings given to the engine are NUL-terminated unless a length is passed with them.
 * - Strings handed out by the engine are ::smtpcore_str slices (pointer + length, not
 *   NUL-terminated).
 *
 * ABI rule. Structs the engine hands out (events) are owned by the library and read
 * through a `const` pointer, so a later version may add fields at their end without
 * breaking compiled hosts. Structs the host fills in (::smtpcore_server_config,
 * ::smtpcore_client_config, ::smtpcore_mail_params) start with `size_t struct_size`,
 * set to `sizeof` the struct by their `_init()` function, and follow one rule:
 * - 0 is refused (::SMTPCORE_ERR_INVALID_ARGUMENT): the struct was not initialised;
 * - smaller than the library's struct (a host built against an older header): accepted
 *   when it holds at least struct_size itself; the fields the host's struct has are
 *   read, the later ones keep their defaults;
 * - larger (a host built against a newer header than the library it runs with):
 *   refused with ::SMTPCORE_ERR_INVALID_ARGUMENT, whatever the extra bytes hold. The
 *   defaults are not all zero (e.g. max_auth_failures is 3, and 0 means "no limit"), so
 *   even a zero tail may mean something the older library would silently get wrong;
 *   such a host needs the library version it was built for (or a later one).
 * New fields are only ever added at the end of a struct; new enum values at the end of
 * their enum.
 */
#ifndef SMTPCORE_SMTPCORE_H
#define SMTPCORE_SMTPCORE_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/version.h>

#if defined(SMTPCORE_STATICLIB)
#define SMTPCORE_EXTERN
#elif defined(BUILDING_SMTPCORE)
#define SMTPCORE_EXTERN __attribute__((visibility("default")))
#else
#define SMTPCORE_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================================== */
/* Common types                                                                          */
/* ===================================================================================== */

/**
 * @brief Error codes returned by API functions (always negative; ::SMTPCORE_OK is 0).
 *
 * Classes (see the file comment): ::SMTPCORE_ERR_BUFFER_FULL is flow control (call again
 * after writing output); ::SMTPCORE_ERR_NOMEM and ::SMTPCORE_ERR_CLOSED are fatal
 * (smtpcore_error_is_fatal()); every other code refuses one call and leaves the session
 * as it was.
 */
typedef enum smtpcore_error {
    SMTPCORE_OK = 0,                        /**< Success. */
    SMTPCORE_ERR_INVALID_ARGUMENT = -1,     /**< Refused: a NULL pointer, bad value, bad length,
                                                 or a struct_size the ABI rule refuses. */
    SMTPCORE_ERR_NOMEM = -2,                /**< Fatal: the allocator returned NULL (when a
                                                 session is created, or when a session released
                                                 by smtpcore_server_release_idle() or
                                                 smtpcore_client_release_idle() takes its
                                                 buffers back). */
    SMTPCORE_ERR_INVALID_STATE = -3,        /**< Refused: not allowed in the current state. */
    SMTPCORE_ERR_BUFFER_FULL = -4,          /**< Flow control: a bounded buffer of the session
                                                 is full; write the output (or handle events)
                                                 and call again. From the pure helpers
                                                 (smtpcore_address_literal(),
                                                 smtpcore_xtext_decode()): the caller's buffer
                                                 is too small. */
    SMTPCORE_ERR_CLOSED = -5,               /**< Fatal: the session is over; write the
                                                 remaining output and close. */
    SMTPCORE_ERR_INJECTION = -6,            /**< Refused: CR, LF or NUL inside a host-supplied
                                                 string. */
    SMTPCORE_ERR_SYNTAX = -7,               /**< Refused: a host-supplied value is not valid
                                                 SMTP syntax. */
    SMTPCORE_ERR_UNSUPPORTED = -8,          /**< Refused: the peer did not offer a needed
                                                 extension. */
    SMTPCORE_ERR_TOO_LONG = -9,             /**< Refused: a value exceeds a protocol or
                                                 configured limit. */
    SMTPCORE_ERR_NO_ANSWER_PENDING = -10,   /**< Refused: an answer was given but no event
                                                 awaits one. */
    SMTPCORE_ERR_8BIT_NOT_OFFERED = -11     /**< Refused (client): an 8-bit body for a server
                                                 without 8BITMIME (RFC 6152); see
                                                 ::SMTPCORE_QUIRK_SEND_8BIT. From
                                                 smtpcore_client_body() it also ends the
                                                 session (see there). */
} smtpcore_error;

/**
 * @brief A read-only slice of bytes owned by the engine (not NUL-terminated).
 *
 * Valid until the next call on the session that produced it, unless stated otherwise.
 */
typedef struct smtpcore_str {
    const char *ptr; /**< First byte; may be NULL when len is 0. */
    size_t len;      /**< Number of bytes. */
} smtpcore_str;

/**
 * @brief An optional custom allocator. All three functions must be set, or none.
 *
 * The engine allocates only when a session is created (and for its bounded buffers);
 * nothing is allocated per command once a session exists. A session whose host calls
 * smtpcore_server_release_idle() or smtpcore_client_release_idle() frees its buffers and
 * allocates them again when it needs them.
 */
typedef struct smtpcore_allocator {
    void *(*malloc_fn)(size_t size, void *user);              /**< Like malloc(). */
    void *(*realloc_fn)(void *ptr, size_t size, void *user);  /**< Like realloc(). */
    void (*free_fn)(void *ptr, void *user);                   /**< Like free(). */
    void *user;                                               /**< Passed to each function. */
} smtpcore_allocator;

/**
 * @brief Stable codes for protocol violations and notable peer behaviour.
 *
 * Reported in server events, client events and parser results. The numeric values are
 * part of the ABI and never change meaning.
 */
typedef enum smtpcore_violation {
    SMTPCORE_V_NONE = 0,                 /**< No violation. */
    SMTPCORE_V_LINE_TOO_LONG = 1,        /**< A line exceeded its limit (RFC 5321 4.5.3.1). */
    SMTPCORE_V_BARE_LF = 2,              /**< LF not preceded by CR. */
    SMTPCORE_V_BARE_CR = 3,              /**< CR not followed by LF. */
    SMTPCORE_V_NUL = 4,                  /**< A NUL byte where text is expected. */
    SMTPCORE_V_8BIT = 5,                 /**< An 8-bit byte where only ASCII is allowed. */
    SMTPCORE_V_SYNTAX = 6,               /**< A command or its arguments are malformed. */
    SMTPCORE_V_UNKNOWN_COMMAND = 7,      /**< Unrecognised command verb. */
    SMTPCORE_V_BAD_SEQUENCE = 8,         /**< A command out of sequence (503). */
    SMTPCORE_V_EARLY_TALKER = 9,         /**< Bytes arrived before the greeting was sent. */
    SMTPCORE_V_IMPROPER_PIPELINING = 10, /**< Pipelined commands without PIPELINING. */
    SMTPCORE_V_STARTTLS_INJECTION = 11,  /**< Plaintext after STARTTLS (CVE-2011-0411 class). */
    SMTPCORE_V_TOO_MANY_ERRORS = 12,     /**< Error limit reached; session closing with 421. */
    SMTPCORE_V_MESSAGE_TOO_BIG = 13,     /**< Declared or actual size over the limit. */
    SMTPCORE_V_TOO_MANY_RECIPIENTS = 14, /**< Recipient limit reached. */
    SMTPCORE_V_BAD_PARAMETER = 15,       /**< Malformed or duplicated ESMTP parameter. */
    SMTPCORE_V_UNKNOWN_PARAMETER = 16,   /**< ESMTP parameter not recognised/advertised. */
    SMTPCORE_V_AUTH_FAILED = 17,         /**< AUTH exchange malformed or cancelled. */
    SMTPCORE_V_MALFORMED_REPLY = 18,     /**< (client) A reply that breaks RFC 5321 4.2. */
    SMTPCORE_V_UNEXPECTED_REPLY = 19,    /**< (client) A reply code not allowed at this point. */
    SMTPCORE_V_REPLY_TOO_LONG = 20,      /**< (client) A multi-line reply over the input bound. */
    SMTPCORE_V_TLS_REQUIRED = 21,        /**< (client) TLS required but not available. */
    SMTPCORE_V_SERVICE_UNAVAILABLE = 22, /**< (client) The server sent 421 or refused (554). */
    SMTPCORE_V_CONNECTION_LOST = 23,     /**< The peer closed the connection mid-conversation. */
    SMTPCORE_V_LOOP_DETECTED = 24,       /**< HELO/EHLO names one of our own names. */
    SMTPCORE_V_UNSUPPORTED = 25,         /**< (client) The message needs an extension not offered. */
    /* PROXY protocol headers (server): no greeting is sent, the session closes. */
    SMTPCORE_V_PROXY_BAD_SIGNATURE = 26, /**< Neither "PROXY " nor the v2 signature (or not
                                              the configured version). */
    SMTPCORE_V_PROXY_TRUNCATED = 27,     /**< The peer closed before the header was complete. */
    SMTPCORE_V_PROXY_TOO_LONG = 28,      /**< Header over proxy_max_header, or a v1 line
                                              over 107 octets without its CRLF. */
    SMTPCORE_V_PROXY_V1_SYNTAX = 29,     /**< A v1 line that is not "PROXY proto src dst
                                              sport dport" ending in CRLF. */
    SMTPCORE_V_PROXY_BAD_ADDRESS = 30,   /**< An address or port that is not valid for its
                                              family (v1 text, v2 UNIX path). */
    SMTPCORE_V_PROXY_LENGTH_MISMATCH = 31, /**< v2 length too short for its family's
                                              addresses. */
    SMTPCORE_V_PROXY_BAD_CRC = 32,       /**< v2 CRC32C TLV does not match the header. */
    SMTPCORE_V_PROXY_UNSUPPORTED = 33,   /**< v2 version other than 2, unknown command, family
                                              or transport. */
    SMTPCORE_V_PROXY_BAD_TLV = 34,       /**< v2 TLV area ends inside a TLV, or a malformed
                                              CRC32C/SSL TLV. */
    /* XCLIENT (server) */
    SMTPCORE_V_XCLIENT_DENIED = 35,      /**< XCLIENT from a connection not allowed to use
                                              it (550 5.7.0). */
    SMTPCORE_V_XCLIENT_SYNTAX = 36,      /**< XCLIENT with an unknown attribute or a bad
                                              value (501 5.5.4). */
    SMTPCORE_V_TOO_MANY_AUTH_FAILURES = 37, /**< max_auth_failures failed AUTH attempts;
                                             session closing with 421 4.7.0. */
    SMTPCORE_V_HOST_CLOSE = 38           /**< The host ended the session
                                              (smtpcore_server_close_with(): a timeout,
                                              a deadline, a shutdown). */
} smtpcore_violation;

/** @brief Returns a static English description of an ::smtpcore_error code. */
SMTPCORE_EXTERN const char *smtpcore_strerror(int error);

/**
 * @brief Nonzero for the fatal codes (::SMTPCORE_ERR_NOMEM, ::SMTPCORE_ERR_CLOSED): no
 *        session was made, or it is over. 0 for ::SMTPCORE_OK, for flow control
 *        (::SMTPCORE_ERR_BUFFER_FULL: call again after writing output) and for a refused
 *        call (every other code: the session carries on). Unknown codes count as fatal.
 */
SMTPCORE_EXTERN int smtpcore_error_is_fatal(int error);

/** @brief Returns a static English description of an ::smtpcore_violation code. */
SMTPCORE_EXTERN const char *smtpcore_violation_str(int violation);

/** @brief Returns the run-time library version as "MAJOR.MINOR.PATCH". */
SMTPCORE_EXTERN const char *smtpcore_version(void);

/** @brief Returns the run-time library version as (MAJOR << 16) | (MINOR << 8) | PATCH. */
SMTPCORE_EXTERN uint32_t smtpcore_version_num(void);

/* ===================================================================================== */
/* Replies                                                                               */
/* ===================================================================================== */

/** @brief Flags marking illegal forms found in a reply (the reply is still usable). */
typedef enum smtpcore_reply_flag {
    SMTPCORE_REPLY_MIXED_CODES = 1u << 0,   /**< Lines of one reply carry different codes. */
    SMTPCORE_REPLY_BAD_SEPARATOR = 1u << 1, /**< Byte after the code is neither ' ' nor '-'. */
    SMTPCORE_REPLY_BAD_CODE = 1u << 2,      /**< Code outside 2xx-5xx or not three digits. */
    SMTPCORE_REPLY_LONG_LINE = 1u << 3,     /**< A line over 512 octets (RFC 5321 4.5.3.1.5). */
    SMTPCORE_REPLY_BARE_LF = 1u << 4,       /**< A line ended with a bare LF. */
    SMTPCORE_REPLY_BAD_BYTES = 1u << 5      /**< NUL or bare CR inside a line. */
} smtpcore_reply_flag;

/**
 * @brief An enhanced status code (RFC 3463): class.subject.detail, e.g. 5.1.1.
 *
 * All fields are zero when the reply carried none.
 */
typedef struct smtpcore_enhanced {
    uint16_t cls;     /**< 2, 4 or 5; 0 when absent. */
    uint16_t subject; /**< 0..999. */
    uint16_t detail;  /**< 0..999. */
} smtpcore_enhanced;

/**
 * @brief A complete (possibly multi-line) reply as received by a client.
 *
 * The raw field holds every line exactly as received, each ending in CRLF (or LF when the
 * server sent a bare LF). Iterate lines with smtpcore_reply_line().
 */
typedef struct smtpcore_reply {
    int code;                   /**< The reply code of the last line (e.g. 250). */
    smtpcore_enhanced enhanced; /**< Enhanced status code of the first line, if any. */
    smtpcore_str raw;           /**< All lines as received, terminators included. */
    size_t nlines;              /**< Number of lines (>= 1). */
    uint32_t flags;             /**< Bitwise OR of ::smtpcore_reply_flag. */
} smtpcore_reply;

/**
 * @brief Extracts the text of line @p index of a reply (after "250-"/"250 ").
 *
 * The enhanced status code, if any, is part of the returned text of each line.
 * @param reply A reply from an event.
 * @param index Zero-based line index, less than `reply->nlines`.
 * @param[out] text The line's text without code, separator and terminator.
 * @return ::SMTPCORE_OK, or ::SMTPCORE_ERR_INVALID_ARGUMENT for a bad index or NULL.
 */
SMTPCORE_EXTERN int smtpcore_reply_line(const smtpcore_reply *reply, size_t index,
                                        smtpcore_str *text);

/**
 * @brief Copies the text of every line of a reply, joined by '\n', into @p out.
 *
 * Each line contributes what smtpcore_reply_line() returns for it (code and separator
 * removed, enhanced status code kept); lines are separated by a single '\n' and there is
 * no trailing one. So "250-first\r\n250 OK id=1\r\n" gives "first\nOK id=1": the last
 * line, which carries e.g. a queue id, is never lost. Other bytes are copied unchanged.
 * @param reply A reply from an event (a NULL reply or code 0 gives "").
 * @param[out] out Buffer; always NUL-terminated when @p cap > 0 (truncated if short).
 * @param cap Size of @p out.
 * @return The length of the whole text without the NUL (as snprintf: a value >= @p cap
 *         means @p out was truncated).
 */
SMTPCORE_EXTERN size_t smtpcore_reply_text(const smtpcore_reply *reply, char *out, size_t cap);

/* ===================================================================================== */
/* Extensions and capabilities                                                           */
/* ===================================================================================== */

/** @brief ESMTP extensions, used for what a server advertises and a client saw. */
typedef enum smtpcore_ext {
    SMTPCORE_EXT_PIPELINING = 1u << 0,          /**< RFC 2920. */
    SMTPCORE_EXT_SIZE = 1u << 1,                /**< RFC 1870. */
    SMTPCORE_EXT_8BITMIME = 1u << 2,            /**< RFC 6152. */
    SMTPCORE_EXT_SMTPUTF8 = 1u << 3,            /**< RFC 6531. */
    SMTPCORE_EXT_DSN = 1u << 4,                 /**< RFC 3461. */
    SMTPCORE_EXT_ENHANCEDSTATUSCODES = 1u << 5, /**< RFC 2034. */
    SMTPCORE_EXT_CHUNKING = 1u << 6,            /**< RFC 3030 (BDAT). */
    SMTPCORE_EXT_BINARYMIME = 1u << 7,          /**< RFC 3030. */
    SMTPCORE_EXT_STARTTLS = 1u << 8,            /**< RFC 3207. */
    SMTPCORE_EXT_AUTH = 1u << 9,                /**< RFC 4954. */
    SMTPCORE_EXT_VRFY = 1u << 10,               /**< VRFY answered by the host (not 252). */
    SMTPCORE_EXT_HELP = 1u << 11,               /**< HELP advertised in EHLO. */
    /** Postfix XCLIENT. A server advertises it only on connections the host allowed
     *  (smtpcore_server_set_xclient_allowed()), whatever its extensions field says. */
    SMTPCORE_EXT_XCLIENT = 1u << 12
} smtpcore_ext;

/** @brief SASL mechanisms known to the engine. */
typedef enum smtpcore_auth_mech {
    SMTPCORE_AUTH_PLAIN = 1u << 0,   /**< RFC 4616. */
    SMTPCORE_AUTH_LOGIN = 1u << 1,   /**< draft-murchison-sasl-login. */
    SMTPCORE_AUTH_XOAUTH2 = 1u << 2, /**< Google/Microsoft XOAUTH2. */
    SMTPCORE_AUTH_CRAM_MD5 = 1u << 3, /**< RFC 2195 (recognised in EHLO only). */
    SMTPCORE_AUTH_OTHER = 1u << 30   /**< Some other mechanism was advertised. */
} smtpcore_auth_mech;

/** @brief Capabilities parsed from an EHLO reply. */
typedef struct smtpcore_caps {
    uint32_t extensions;  /**< Bitwise OR of ::smtpcore_ext. */
    uint64_t size_limit;  /**< SIZE parameter; 0 when absent or unlimited. */
    uint32_t auth_mechs;  /**< Bitwise OR of ::smtpcore_auth_mech. */
    int esmtp;            /**< 1 if the server answered EHLO, 0 after a HELO fallback. */
} smtpcore_caps;

/**
 * @brief Parses an EHLO reply into capabilities.
 *
 * Unknown keywords are ignored here; they remain visible in the reply's lines.
 * @param reply A complete EHLO reply (code 250).
 * @param[out] caps Filled with what the reply advertises.
 * @return ::SMTPCORE_OK or ::SMTPCORE_ERR_INVALID_ARGUMENT.
 */
SMTPCORE_EXTERN int smtpcore_caps_parse(const smtpcore_reply *reply, smtpcore_caps *caps);

/* ===================================================================================== */
/* Syntax helpers (pure functions, no DNS)                                               */
/* ===================================================================================== */

/** @brief Syntactic class of a HELO/EHLO argument (RFC 5321 4.1.1.1, 4.1.3). */
typedef enum smtpcore_helo_class {
    SMTPCORE_HELO_INVALID = 0,      /**< Not a domain nor an address literal. */
    SMTPCORE_HELO_FQDN = 1,         /**< A domain with at least two labels. */
    SMTPCORE_HELO_SINGLE_LABEL = 2, /**< A syntactically valid single label (e.g. "localhost"). */
    SMTPCORE_HELO_IPV4_LITERAL = 3, /**< "[192.0.2.1]". */
    SMTPCORE_HELO_IPV6_LITERAL = 4, /**< "[IPv6:2001:db8::1]". */
    SMTPCORE_HELO_GENERAL_LITERAL = 5 /**< "[tag:content]" general address literal. */
} smtpcore_helo_class;

/**
 * @brief Classifies a HELO/EHLO argument by syntax only.
 * @param name The argument bytes (no surrounding spaces).
 * @param len Length of @p name.
 * @return A ::smtpcore_helo_class value.
 */
SMTPCORE_EXTERN smtpcore_helo_class smtpcore_helo_classify(const char *name, size_t len);

/**
 * @brief Builds an address literal for use as a HELO/EHLO name.
 *
 * @param ip A textual IPv4 ("192.0.2.1") or IPv6 ("2001:db8::1") address.
 * @param[out] out Buffer receiving a NUL-terminated "[192.0.2.1]" or "[IPv6:2001:db8::1]".
 * @param cap Size of @p out; 64 bytes always suffice.
 * @return Length written (without NUL), or ::SMTPCORE_ERR_SYNTAX for an invalid address,
 *         ::SMTPCORE_ERR_BUFFER_FULL when @p cap is too small.
 */
SMTPCORE_EXTERN int smtpcore_address_literal(const char *ip, char *out, size_t cap);

/**
 * @brief Decodes RFC 3461 xtext ("+2B" escapes), e.g. an ENVID or ORCPT value.
 * @param in Encoded bytes.
 * @param len Length of @p in.
 * @param[out] out Buffer for the decoded bytes (never longer than @p len).
 * @param cap Size of @p out.
 * @param[out] out_len Decoded length.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_SYNTAX for invalid xtext, or
 *         ::SMTPCORE_ERR_BUFFER_FULL.
 */
SMTPCORE_EXTERN int smtpcore_xtext_decode(const char *in, size_t len, char *out, size_t cap,
                                          size_t *out_len);

/* ===================================================================================== */
/* Mail transaction parameters (shared by both roles)                                    */
/* ===================================================================================== */

/** @brief BODY= values (RFC 6152, RFC 3030). */
typedef enum smtpcore_body_type {
    SMTPCORE_BODY_UNSPECIFIED = 0, /**< No BODY parameter. */
    SMTPCORE_BODY_7BIT = 1,        /**< BODY=7BIT. */
    SMTPCORE_BODY_8BITMIME = 2,    /**< BODY=8BITMIME. */
    SMTPCORE_BODY_BINARYMIME = 3   /**< BODY=BINARYMIME (requires BDAT). */
} smtpcore_body_type;

/** @brief RET= values (RFC 3461). */
typedef enum smtpcore_dsn_ret {
    SMTPCORE_RET_UNSPECIFIED = 0, /**< No RET parameter. */
    SMTPCORE_RET_FULL = 1,        /**< RET=FULL. */
    SMTPCORE_RET_HDRS = 2         /**< RET=HDRS. */
} smtpcore_dsn_ret;

/** @brief NOTIFY= flags (RFC 3461). */
typedef enum smtpcore_dsn_notify {
    SMTPCORE_NOTIFY_NEVER = 1u << 0,   /**< NOTIFY=NEVER. */
    SMTPCORE_NOTIFY_SUCCESS = 1u << 1, /**< SUCCESS. */
    SMTPCORE_NOTIFY_FAILURE = 1u << 2, /**< FAILURE. */
    SMTPCORE_NOTIFY_DELAY = 1u << 3    /**< DELAY. */
} smtpcore_dsn_notify;

/**
 * @brief ESMTP parameters of MAIL FROM (server: as parsed; client: as requested).
 *
 * In server events the ::smtpcore_str fields are raw (still xtext-encoded) slices and
 * struct_size is the library's `sizeof`. On the client side, initialise it with
 * smtpcore_mail_params_init() (struct_size follows the ABI rule, see smtpcore.h), then
 * set fields; fields left zero are not sent.
 */
typedef struct smtpcore_mail_params {
    size_t struct_size;            /**< sizeof(smtpcore_mail_params); set by _init(). */
    uint64_t size;                 /**< SIZE= value (declared message size). */
    int has_size;                  /**< Nonzero when SIZE= was given. */
    smtpcore_body_type body;       /**< BODY=. */
    int smtputf8;                  /**< Nonzero when SMTPUTF8 was given. */
    smtpcore_dsn_ret ret;          /**< RET=. */
    smtpcore_str envid;            /**< ENVID= (xtext, raw). */
    smtpcore_str auth;             /**< AUTH= (xtext mailbox or "<>"; raw). */
} smtpcore_mail_params;

/** @brief Fills @p params with "no parameters" (all zero) and sets struct_size. */
SMTPCORE_EXTERN void smtpcore_mail_params_init(smtpcore_mail_params *params);

/** @brief ESMTP parameters of RCPT TO. */
typedef struct smtpcore_rcpt_params {
    uint32_t notify;     /**< Bitwise OR of ::smtpcore_dsn_notify; 0 when absent. */
    smtpcore_str orcpt;  /**< ORCPT= value "addr-type;xtext" (raw). */
} smtpcore_rcpt_params;

#ifdef __cplusplus
}
#endif

#include <smtpcore/proxy.h>
#include <smtpcore/server.h>
#include <smtpcore/client.h>

#endif /* SMTPCORE_SMTPCORE_H */
