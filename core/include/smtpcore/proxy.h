/* SPDX-License-Identifier: MIT */
/**
 * @file proxy.h
 * @brief Who the real client is: the PROXY protocol (v1 and v2, haproxy.org
 *        proxy-protocol.txt) and Postfix's XCLIENT command, for both roles.
 *
 * A server session reads a PROXY header before its greeting when its configuration asks
 * for it (smtpcore_server_config::proxy_protocol) and answers XCLIENT from connections the
 * host has allowed (smtpcore_server_set_xclient_allowed()). A client session can write a
 * PROXY header (smtpcore_client_config::proxy_protocol) and send XCLIENT
 * (smtpcore_client_xclient()), so that a program using the engine can be the proxy.
 *
 * The structs below can grow: new fields are only ever appended. The PROXY header is
 * owned by the library and handed out as a `const` pointer (smtpcore_server_proxy_header());
 * the XCLIENT attributes are copied into the caller's struct, whose size the caller
 * passes (smtpcore_server_xclient_attrs()).
 *
 * Included by smtpcore.h; do not include directly.
 */
#ifndef SMTPCORE_PROXY_H
#define SMTPCORE_PROXY_H

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Which PROXY protocol header a session reads (server) or writes (client). */
typedef enum smtpcore_proxy_mode {
    SMTPCORE_PROXY_OFF = 0, /**< No PROXY header. Default. */
    SMTPCORE_PROXY_V1 = 1,  /**< The text header ("PROXY TCP4 ...\r\n", at most 107 octets). */
    SMTPCORE_PROXY_V2 = 2,  /**< The binary header (12-byte signature, then ver/cmd, ...). */
    /** Server only: either version, told apart by the first bytes (v2 starts with its
     *  12-byte signature, v1 with "PROXY "); anything else is refused. The header stays
     *  required: this is not a mode that also accepts connections without one. */
    SMTPCORE_PROXY_ANY = 3
} smtpcore_proxy_mode;

/** @brief The command of a PROXY header. */
typedef enum smtpcore_proxy_command {
    /** v2 LOCAL: the proxy's own connection (a health check); the addresses are not a
     *  client's: use the connection's own endpoints. */
    SMTPCORE_PROXY_CMD_LOCAL = 0,
    /** The connection was relayed for a client; v1 headers are always PROXY. */
    SMTPCORE_PROXY_CMD_PROXY = 1
} smtpcore_proxy_command;

/** @brief The address family of a PROXY header. */
typedef enum smtpcore_proxy_family {
    /** Unknown or unspecified (v1 "UNKNOWN", v2 AF_UNSPEC or LOCAL): no address; use the
     *  connection's own endpoints. */
    SMTPCORE_PROXY_AF_UNSPEC = 0,
    SMTPCORE_PROXY_AF_INET = 1,  /**< IPv4 (v1 "TCP4"). */
    SMTPCORE_PROXY_AF_INET6 = 2, /**< IPv6 (v1 "TCP6"). */
    SMTPCORE_PROXY_AF_UNIX = 3   /**< A UNIX socket path (v2 only). */
} smtpcore_proxy_family;

/** @brief The transport protocol of a v2 PROXY header. */
typedef enum smtpcore_proxy_transport {
    SMTPCORE_PROXY_TRANSPORT_UNSPEC = 0, /**< Unspecified (and every v1 header but TCP). */
    SMTPCORE_PROXY_TRANSPORT_STREAM = 1, /**< SOCK_STREAM (TCP). */
    SMTPCORE_PROXY_TRANSPORT_DGRAM = 2   /**< SOCK_DGRAM (UDP). */
} smtpcore_proxy_transport;

/**
 * @brief A PROXY header as read by a server session (smtpcore_server_proxy_header()).
 *
 * Owned by the session and valid until smtpcore_server_del(): the header is copied out of
 * the input, so the slices stay valid after the greeting. Addresses are text: "192.0.2.1",
 * "2001:db8::1" (RFC 5952 form for v2; as received for v1, which is checked for syntax),
 * or the UNIX socket path. Fields are only ever appended.
 */
typedef struct smtpcore_proxy_header {
    int version;                       /**< 1 or 2. */
    smtpcore_proxy_command command;    /**< LOCAL or PROXY. */
    smtpcore_proxy_family family;      /**< Address family; UNSPEC means "no address". */
    smtpcore_proxy_transport transport;/**< STREAM for v1 TCP4/TCP6 and v2 TCP. */
    smtpcore_str src_addr;             /**< The client's address (empty when UNSPEC). */
    smtpcore_str dst_addr;             /**< The address the client connected to. */
    uint16_t src_port;                 /**< The client's port (0 for UNIX/UNSPEC). */
    uint16_t dst_port;                 /**< The port the client connected to. */
    smtpcore_str tlvs;                 /**< v2: the raw TLV area after the addresses (walk it
                                            with smtpcore_proxy_tlv_next()); empty for v1. */
    size_t header_len;                 /**< Octets of the header on the wire. */
} smtpcore_proxy_header;

/** @brief v2 TLV types (proxy-protocol.txt 2.2). Unknown types are passed through. */
typedef enum smtpcore_proxy_tlv_type {
    SMTPCORE_PP2_TYPE_ALPN = 0x01,           /**< Application protocol (ALPN bytes). */
    SMTPCORE_PP2_TYPE_AUTHORITY = 0x02,      /**< Host name the client asked for (SNI). */
    SMTPCORE_PP2_TYPE_CRC32C = 0x03,         /**< CRC32C of the header (checked by the engine). */
    SMTPCORE_PP2_TYPE_NOOP = 0x04,           /**< Padding, ignore. */
    SMTPCORE_PP2_TYPE_UNIQUE_ID = 0x05,      /**< Opaque connection id, at most 128 bytes. */
    SMTPCORE_PP2_TYPE_SSL = 0x20,            /**< TLS details (smtpcore_proxy_ssl_parse()). */
    SMTPCORE_PP2_SUBTYPE_SSL_VERSION = 0x21, /**< SSL sub-TLV: "TLSv1.3". */
    SMTPCORE_PP2_SUBTYPE_SSL_CN = 0x22,      /**< SSL sub-TLV: client certificate CN. */
    SMTPCORE_PP2_SUBTYPE_SSL_CIPHER = 0x23,  /**< SSL sub-TLV: cipher name. */
    SMTPCORE_PP2_SUBTYPE_SSL_SIG_ALG = 0x24, /**< SSL sub-TLV: certificate signature algorithm. */
    SMTPCORE_PP2_SUBTYPE_SSL_KEY_ALG = 0x25, /**< SSL sub-TLV: certificate key algorithm. */
    SMTPCORE_PP2_TYPE_NETNS = 0x30           /**< Network namespace name. */
} smtpcore_proxy_tlv_type;

/** @brief Bits of smtpcore_proxy_ssl::client (PP2_CLIENT_*). */
typedef enum smtpcore_proxy_ssl_client {
    SMTPCORE_PP2_CLIENT_SSL = 0x01,       /**< The client connected over TLS. */
    SMTPCORE_PP2_CLIENT_CERT_CONN = 0x02, /**< It sent a certificate on this connection. */
    SMTPCORE_PP2_CLIENT_CERT_SESS = 0x04  /**< It sent one at least once in the TLS session. */
} smtpcore_proxy_ssl_client;

/** @brief One TLV: a type and its value (a slice of the area being walked). */
typedef struct smtpcore_proxy_tlv {
    uint8_t type;       /**< A ::smtpcore_proxy_tlv_type or another value. */
    smtpcore_str value; /**< The value bytes (length 0..65535). */
} smtpcore_proxy_tlv;

/** @brief The fixed part of an SSL TLV and its sub-TLV area. */
typedef struct smtpcore_proxy_ssl {
    uint8_t client;       /**< Bitwise OR of ::smtpcore_proxy_ssl_client. */
    uint32_t verify;      /**< 0 when the client certificate was verified, else nonzero. */
    smtpcore_str subtlvs; /**< Sub-TLVs (walk them with smtpcore_proxy_tlv_next()). */
} smtpcore_proxy_ssl;

/**
 * @brief Takes the next TLV from @p area and advances @p area past it.
 *
 * Works on smtpcore_proxy_header::tlvs and on smtpcore_proxy_ssl::subtlvs.
 * @code
 *   smtpcore_str area = h->tlvs;  smtpcore_proxy_tlv t;
 *   while (smtpcore_proxy_tlv_next(&area, &t) == 1) { ... }
 * @endcode
 * @param area The remaining TLV bytes; advanced on success.
 * @param[out] tlv The TLV taken.
 * @return 1 when a TLV was taken, 0 at the end of the area, ::SMTPCORE_ERR_SYNTAX when
 *         the area ends inside a TLV (never for a header the server accepted),
 *         ::SMTPCORE_ERR_INVALID_ARGUMENT for NULL.
 */
SMTPCORE_EXTERN int smtpcore_proxy_tlv_next(smtpcore_str *area, smtpcore_proxy_tlv *tlv);

/**
 * @brief Reads the value of an SSL TLV (::SMTPCORE_PP2_TYPE_SSL): client bits, verify
 *        result and the sub-TLV area.
 * @return ::SMTPCORE_OK, ::SMTPCORE_ERR_SYNTAX (shorter than 5 octets),
 *         ::SMTPCORE_ERR_INVALID_ARGUMENT for NULL.
 */
SMTPCORE_EXTERN int smtpcore_proxy_ssl_parse(smtpcore_str value, smtpcore_proxy_ssl *out);

/** @brief Whether an XCLIENT attribute was given, and how. */
typedef enum smtpcore_xclient_state {
    SMTPCORE_XCLIENT_ABSENT = 0,      /**< Not in the command: the earlier value stands. */
    SMTPCORE_XCLIENT_VALUE = 1,       /**< A value (smtpcore_xclient_attr::value). */
    SMTPCORE_XCLIENT_UNAVAILABLE = 2, /**< "[UNAVAILABLE]": the proxy does not know it. */
    SMTPCORE_XCLIENT_TEMPUNAVAIL = 3  /**< "[TEMPUNAVAIL]": a temporary lookup failure. */
} smtpcore_xclient_state;

/** @brief One XCLIENT attribute. */
typedef struct smtpcore_xclient_attr {
    smtpcore_xclient_state state; /**< Absent, a value, or one of the two markers. */
    smtpcore_str value;           /**< xtext-decoded value when state is VALUE, else empty. */
} smtpcore_xclient_attr;

/**
 * @brief The attributes of the XCLIENT command being decided
 *        (smtpcore_server_xclient_attrs(), during ::SMTPCORE_SEV_XCLIENT).
 *
 * The values are slices of the command line, decoded in place, valid until the next call
 * on the session: copy what you keep. The engine has checked the
 * syntax: ADDR and DESTADDR are IPv4 or IPv6 (the "IPV6:" prefix removed), PORT and
 * DESTPORT are decimal 0..65535, PROTO is SMTP or ESMTP (any case). Fields are only
 * ever appended.
 */
typedef struct smtpcore_xclient_attrs {
    smtpcore_xclient_attr name;     /**< NAME: the client's host name (from DNS). */
    smtpcore_xclient_attr addr;     /**< ADDR: the client's address. */
    smtpcore_xclient_attr port;     /**< PORT: the client's port. */
    smtpcore_xclient_attr proto;    /**< PROTO: SMTP or ESMTP. */
    smtpcore_xclient_attr helo;     /**< HELO: the name the client gave. */
    smtpcore_xclient_attr login;    /**< LOGIN: the SASL login name, when authenticated. */
    smtpcore_xclient_attr destaddr; /**< DESTADDR: the address the client connected to. */
    smtpcore_xclient_attr destport; /**< DESTPORT: the port the client connected to. */
} smtpcore_xclient_attrs;

#ifdef __cplusplus
}
#endif

#endif /* SMTPCORE_PROXY_H */
