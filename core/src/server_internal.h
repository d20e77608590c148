/* Server session internals shared by server*.c. Not installed, not part of the API.
 *
 * Life of the input buffer: bytes the state machine has finished with are not dropped at
 * once but counted in in_done and dropped at the start of the next call, so the slices
 * of the event just returned stay valid until then. While events are queued (one command
 * can yield several), nothing is dropped and the buffer is never compacted. */
#ifndef SC_SERVER_INTERNAL_H
#define SC_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/smtpcore.h>

#include "buf.h"
#include "command.h"
#include "data.h"
#include "line.h"

/* Room the output must have before a command is processed: the largest reply the engine
 * writes by itself (an EHLO reply is at most ~750 bytes with a 255-byte host name) and the
 * room a host answer gets. */
#define SC_SRV_REPLY_RESERVE 1024u
#define SC_SRV_AUTH_SCRATCH 1024u
#define SC_SRV_HELO_COPY 256u
/* The longest chain one step produces: note, refusal, too-many-errors, close. The
 * first of them goes straight to the caller. */
#define SC_SRV_EVQ 4u
#define SC_SRV_MAX_HOSTNAME 255u
#define SC_SRV_MAX_GREETING 400u

typedef enum sc_srv_phase {
    SC_PH_GREETING = 0, /* CONNECT not yet answered */
    SC_PH_CMD,          /* reading command lines */
    SC_PH_DATA,         /* reading a DATA body through the unstuffer */
    SC_PH_BDAT,         /* reading the octets of a BDAT chunk */
    SC_PH_AUTH,         /* waiting for a SASL continuation line */
    SC_PH_TLS_WAIT,     /* 220 to STARTTLS queued; waiting for tls_started() */
    SC_PH_CLOSED        /* QUIT, 421 or EOF: input is ignored */
} sc_srv_phase;

/* What happens to the octets of a BDAT chunk. */
typedef enum sc_bdat_mode {
    SC_BDAT_STREAM = 0,  /* part of the transaction: BODY events */
    SC_BDAT_TOO_BIG,     /* the transaction failed on size: read through, 552 */
    SC_BDAT_NO_EXT,      /* CHUNKING not advertised: read through, 502 */
    SC_BDAT_NO_TXN,      /* no transaction (or refused session): read through, 503 */
    SC_BDAT_NO_RCPT      /* MAIL but no accepted RCPT: read through, 554, transaction gone */
} sc_bdat_mode;

/* A queued event, compact: the public event is 272 bytes and mostly zero, so only what
 * the engine can set is kept and next_event() expands it. MAIL/RCPT parameters are not
 * kept but parsed again from the line, which stays in the input buffer while events are
 * queued; AUTH credentials are kept as offsets from the session, whose single block holds
 * the scratch area and the buffers. */
enum {
    SC_REC_ANSWER = 1u << 0,
    SC_REC_ESMTP = 1u << 1,
    SC_REC_BDAT = 1u << 2,
    SC_REC_LONG_LINES = 1u << 3,
    SC_REC_UTF8 = 1u << 4,
    SC_REC_OWN_NAME = 1u << 5
};
#define SC_REC_NONE UINT32_MAX

typedef struct sc_srv_rec {
    uint8_t type;
    uint8_t violation;
    uint8_t helo_class;
    uint8_t bits;       /* SC_REC_* */
    uint16_t reply_code;
    uint8_t auth_mech;
    uint32_t rcpt_count;
    smtpcore_str line;
    union {
        struct {
            smtpcore_str a; /* address, data or message, by type */
            uint64_t n;     /* message_size or discarded, by type */
        } v;
        uint32_t cred[6]; /* AUTH: offset and length of authzid, username, password */
    } u;
} sc_srv_rec;

typedef enum sc_auth_step {
    SC_AUTH_NONE = 0,
    SC_AUTH_PLAIN_WAIT,  /* "334 " sent, waiting for the PLAIN response */
    SC_AUTH_XOAUTH2_WAIT,
    SC_AUTH_LOGIN_USER,  /* "334 VXNlcm5hbWU6" sent */
    SC_AUTH_LOGIN_PASS   /* "334 UGFzc3dvcmQ6" sent */
} sc_auth_step;

struct smtpcore_server {
    smtpcore_allocator alloc;
    smtpcore_server_config cfg; /* string fields point into strings[] */
    char *strings;              /* one block: hostname, greeting, own names, pointer table */
    size_t strings_size;

    sc_buf in;
    sc_buf out;
    size_t in_done;             /* processed bytes at the front of in, dropped lazily */
    sc_line_framer framer;
    sc_unstuffer unstuffer;

    sc_srv_phase phase;
    smtpcore_server_event_type awaiting; /* event waiting for an answer, or SEV_NONE */
    sc_srv_rec evq[SC_SRV_EVQ];
    uint8_t evq_head, evq_len;
    /* Inside next_event(): the caller's event, filled in place by the first push of a
     * step (the common case of one event per step costs no queue copy). Later pushes
     * are filled in `stage` (on the stack of the public call) and compacted into the
     * queue at the next push or at the end of the call. */
    uint8_t direct_used;
    uint8_t staged;
    smtpcore_server_event *direct;
    smtpcore_server_event *stage;

    /* connection state */
    int connect_delivered;
    int refused;                /* greeting was 554: only QUIT is served */
    int output_seen;            /* the host has looked at the output at least once */
    int early_talker;           /* bytes arrived before the greeting was handed out */
    int early_reported;
    int improper_reported;
    int improper_next;          /* the next command arrived before its predecessor's reply */
    int eof;
    int want_close;
    int group_end;              /* a group-ending reply is queued: flush */
    int tls_active;
    size_t tls_late_discarded;  /* plaintext received while waiting for tls_started() */
    uint32_t errors;

    /* HELO / AUTH */
    int helo_done;
    int esmtp;
    int authenticated;
    char helo_name[SC_SRV_HELO_COPY];
    size_t helo_name_len;
    sc_auth_step auth_step;
    uint32_t auth_mech;
    char auth_scratch[SC_SRV_AUTH_SCRATCH];
    size_t auth_used;           /* LOGIN: bytes of scratch holding the user name */

    /* transaction */
    int mail_open;
    uint32_t rcpt_count;
    smtpcore_body_type body_type;
    int txn_utf8;               /* the MAIL carried SMTPUTF8 (RFC 6531) */
    int bdat_used;
    int bdat_failed;            /* BDAT total crossed the size limit; read until LAST */
    uint64_t msg_size;          /* BDAT: octets received in this transaction */

    /* current DATA / BDAT */
    int data_refuse;            /* 0, or the violation that stops BODY events */
    uint64_t bdat_remaining;
    uint64_t bdat_chunk;
    int bdat_last;
    int pend_esmtp;             /* HELO event: EHLO (1) or HELO (0) */
    smtpcore_body_type pend_body; /* MAIL event: BODY= */
    int pend_utf8;              /* MAIL event: SMTPUTF8 */
    sc_bdat_mode bdat_mode;
};

/* server.c */
smtpcore_server_event *sc_srv_push(smtpcore_server *s, smtpcore_server_event_type type);
void sc_srv_reply(smtpcore_server *s, int code, const char *enh, const char *text);
void sc_srv_say(smtpcore_server *s, const char *r, size_t len, size_t enh_len);
/* A one-line engine reply written from one literal "ccc x.y.z text\r\n": no formatting
 * on the hot path, only a copy (the "x.y.z " part is skipped when ENHANCEDSTATUSCODES is
 * not advertised). */
#define SC_SRV_SAY(s, code, enh, text)                                                      \
    sc_srv_say((s), code " " enh " " text "\r\n", sizeof(code " " enh " " text "\r\n") - 1,  \
               sizeof(enh))
smtpcore_server_event *sc_srv_refuse(smtpcore_server *s, smtpcore_str line, int code,
                                     const char *enh, const char *text, smtpcore_violation v,
                                     int counts);
smtpcore_server_event *sc_srv_refuse_e(smtpcore_server *s, smtpcore_str line, int code,
                                       const smtpcore_enhanced *enh, const char *text,
                                       smtpcore_violation v, int counts);
int sc_srv_reply_raw(smtpcore_server *s, int code, const char *text, size_t len);
void sc_srv_reset_txn(smtpcore_server *s);
void sc_srv_close(smtpcore_server *s, smtpcore_violation v);
size_t sc_srv_unprocessed(const smtpcore_server *s, const char **p);
void sc_srv_await(smtpcore_server *s, smtpcore_server_event *ev);

/* server_cmd.c: one framed command line. */
void sc_srv_command(smtpcore_server *s, const char *line, size_t len, uint32_t flags,
                    size_t rest);
void sc_srv_ehlo_reply(smtpcore_server *s);

/* server_data.c */
int sc_srv_data_step(smtpcore_server *s);
int sc_srv_bdat_step(smtpcore_server *s);
void sc_srv_bdat_start(smtpcore_server *s, uint64_t n, int last, sc_bdat_mode mode);
void sc_srv_abort_body(smtpcore_server *s, smtpcore_violation v);

/* server_auth.c */
void sc_srv_auth_start(smtpcore_server *s, const sc_command *cmd, smtpcore_str line);
void sc_srv_auth_line(smtpcore_server *s, const char *line, size_t len, uint32_t flags);
void sc_srv_auth_overlong(smtpcore_server *s);

#endif
