# SPDX-License-Identifier: MIT
"""CFFI builder (API mode, out-of-line) for the smtpcore extension.

The engine's C sources are compiled into the extension itself, so the module needs no
shared library at run time. The sources are found at SMTPCORE_SOURCE_DIR, or two levels
above this file (bindings/python/ inside the repository).

The build happens out of the source tree (a read-only checkout installs): generated
files, objects and setuptools' metadata go to SMTPCORE_BUILD_DIR, by default a directory
per checkout under the system's temporary directory (kept, so rebuilds are incremental).
"""
import glob
import hashlib
import os
import re
import tempfile

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def source_dir():
    env = os.environ.get("SMTPCORE_SOURCE_DIR")
    candidates = [env] if env else [os.path.join(HERE, os.pardir, os.pardir)]
    for cand in candidates:
        if os.path.isfile(os.path.join(cand, "core", "include", "smtpcore", "smtpcore.h")):
            return os.path.abspath(cand)
    raise RuntimeError(
        "smtpcore C sources not found (tried %s); set SMTPCORE_SOURCE_DIR to the "
        "repository root" % ", ".join(repr(c) for c in candidates))


def build_dir():
    """Where everything the build writes goes (never the source tree)."""
    env = os.environ.get("SMTPCORE_BUILD_DIR")
    if env:
        return os.path.abspath(env)
    key = hashlib.sha256(HERE.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), "smtpcore-build-%d-%s" % (uid, key))


def _version_parts(root):
    with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"project\s*\(\s*smtpcore\s+VERSION\s+(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise RuntimeError("no project(smtpcore VERSION x.y.z) in CMakeLists.txt")
    return m.group(1), m.group(2), m.group(3)


def project_version():
    return ".".join(_version_parts(source_dir()))


def _generate_version_header(root, out_dir):
    """Fills version.h.in the way CMake's configure_file(@ONLY) would."""
    major, minor, patch = _version_parts(root)
    with open(os.path.join(root, "core", "include", "smtpcore", "version.h.in"),
              encoding="utf-8") as f:
        text = f.read()
    for key, value in (("PROJECT_VERSION_MAJOR", major), ("PROJECT_VERSION_MINOR", minor),
                       ("PROJECT_VERSION_PATCH", patch),
                       ("PROJECT_VERSION", "%s.%s.%s" % (major, minor, patch))):
        text = text.replace("@%s@" % key, value)
    dest = os.path.join(out_dir, "smtpcore")
    os.makedirs(dest, exist_ok=True)
    path = os.path.join(dest, "version.h")
    # Rewrite only on change so incremental builds stay incremental.
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --------------------------------------------------------------------------- client pump
# Private helpers of the client batch (src/smtpcore/_batch.py), compiled into the extension
# beside the engine; not engine API. Per message the batch used to cross into C about
# fifteen times (next_event per reply, MAIL, each RCPT, DATA, body, end) and build or look
# up a Reply object per reply from the event struct. pysc_client_pump reads events until
# one needs the host and writes the common ones (MAIL/RCPT/DELIVERY/MESSAGE results with a
# single-line reply) as four ints each; their replies are matched against a small cache of
# raw reply lines, so the binding keeps one Reply object per cache slot and builds it only
# when a reply is new. pysc_client_txn queues MAIL, every RCPT and DATA in one call.
CLIENT_PUMP_SLOTS = 16
CLIENT_PUMP_LINE = 128
CLIENT_PUMP_RECS = 32  # records per pump call: a read's worth of replies for several messages
# Output bytes the pump takes at IDLE (a message of a few KB and the next envelope); what
# is beyond them the binding takes with data_to_send. Below 1 << 16: the length travels in
# the result's bits 16 and up, the records' count in bits 3-15.
CLIENT_PUMP_OUT = 16384

CLIENT_PUMP_CDEF = """
typedef struct pysc_cli_cache {
    unsigned int next;
    unsigned int len[%d];
    int code[%d];
    smtpcore_enhanced enhanced[%d];
    char raw[%d][%d];
} pysc_cli_cache;
typedef struct pysc_cli_state {
    const smtpcore_client_event **evp;
    smtpcore_mail_params *mp;
    size_t consumed;
    pysc_cli_cache cache;
    int recs[%d];
    char out[%d];
} pysc_cli_state;
int pysc_client_txn(smtpcore_client *c, const char *sender, smtpcore_mail_params *mp,
                    long long size, int smtputf8, const char *rcpts, size_t nrcpt,
                    size_t *where);
long long pysc_client_pump(smtpcore_client *c, pysc_cli_state *st, const char *body,
                           size_t body_len, const char *sender, long long size,
                           int smtputf8, const char *rcpts, size_t nrcpt);
int pysc_client_body_all(smtpcore_client *c, const char *data, size_t len,
                         size_t *consumed);
""" % ((CLIENT_PUMP_SLOTS,) * 4 + (CLIENT_PUMP_LINE, 4 * CLIENT_PUMP_RECS, CLIENT_PUMP_OUT))

CLIENT_PUMP_C = r"""
#define PYSC_CLI_SLOTS %d
#define PYSC_CLI_LINE %d
#define PYSC_CLI_RECS %d
#define PYSC_CLI_OUT %d

/* How pysc_client_pump stopped (low three bits of its result; records count from bit 3). */
#define PYSC_CLI_IDLE 0   /* no event: input needed or output to write */
#define PYSC_CLI_EVENT 1  /* *evp is an event for the host, not recorded */
#define PYSC_CLI_FULL 2   /* recs[] is full: call again */
#define PYSC_CLI_NEW 3    /* the last record's reply took a new slot; *evp is its event */
#define PYSC_CLI_BODY 4   /* the body went to SEND_BODY: the binding finishes what is left */
/* Record types that are no event type: the next transaction queued behind a body
 * refused (TXN), and a body given whole with the next transaction queued (NEXT). */
#define PYSC_CLI_TXN 1000
#define PYSC_CLI_NEXT 1001

typedef struct pysc_cli_cache {
    unsigned int next;                      /* the slot the next new reply takes */
    unsigned int len[PYSC_CLI_SLOTS];       /* 0: empty */
    int code[PYSC_CLI_SLOTS];
    smtpcore_enhanced enhanced[PYSC_CLI_SLOTS];
    char raw[PYSC_CLI_SLOTS][PYSC_CLI_LINE];
} pysc_cli_cache;

/* What the pump keeps per session, set up once by the binding: fewer arguments per call
 * (each costs the binding a conversion). */
typedef struct pysc_cli_state {
    const smtpcore_client_event **evp;  /* the binding's event out-pointer */
    smtpcore_mail_params *mp;           /* the batch's reused MAIL parameters */
    size_t consumed;                    /* body bytes the last SEND_BODY took */
    pysc_cli_cache cache;
    int recs[4 * PYSC_CLI_RECS];
    char out[PYSC_CLI_OUT];             /* the output taken at IDLE (length in the result) */
} pysc_cli_state;

/* The cache slot of a single-line, well-formed reply (*fresh: it was not there and now
 * is), or -1 for one the binding must read from the event struct. Code and enhanced code
 * follow from the raw line, but they are compared too, so a slot stands for one Reply. */
static int pysc_cli_slot(pysc_cli_cache *k, const smtpcore_reply *r, int *fresh)
{
    size_t n = r->raw.len;
    if (r->nlines != 1 || r->flags || n == 0 || n > PYSC_CLI_LINE)
        return -1;
    for (unsigned i = 0; i < PYSC_CLI_SLOTS; i++) {
        if (k->len[i] == n && k->code[i] == r->code &&
            k->enhanced[i].cls == r->enhanced.cls &&
            k->enhanced[i].subject == r->enhanced.subject &&
            k->enhanced[i].detail == r->enhanced.detail &&
            memcmp(k->raw[i], r->raw.ptr, n) == 0) {
            *fresh = 0;
            return (int)i;
        }
    }
    unsigned i = k->next %% PYSC_CLI_SLOTS;
    k->next = (i + 1) %% PYSC_CLI_SLOTS;
    k->len[i] = (unsigned)n;
    k->code[i] = r->code;
    k->enhanced[i] = r->enhanced;
    memcpy(k->raw[i], r->raw.ptr, n);
    *fresh = 1;
    return (int)i;
}

/* The whole body and its end: 1 when both were taken, 0 when the engine took only
 * *consumed bytes or has no room for the end yet (the binding queues the rest), or an
 * smtpcore_error. */
int pysc_client_body_all(smtpcore_client *c, const char *data, size_t len,
                         size_t *consumed)
{
    *consumed = 0;
    int rc = smtpcore_client_body(c, data, len, consumed);
    if (rc < 0)
        return rc;
    if (*consumed < len)
        return 0;
    rc = smtpcore_client_body_end(c);
    if (rc == SMTPCORE_ERR_BUFFER_FULL)
        return 0;
    return rc < 0 ? rc : 1;
}

/* MAIL with SIZE=size (none when negative) and SMTPUTF8 as given in the caller's
 * reused parameter struct mp (initialised, otherwise empty), the nrcpt recipients in
 * rcpts (each NUL-terminated, one after the other) without parameters, and DATA. On an
 * error *where says which call failed: 0 MAIL, 1 + i the i-th RCPT, 1 + nrcpt DATA. */
int pysc_client_txn(smtpcore_client *c, const char *sender, smtpcore_mail_params *mp,
                    long long size, int smtputf8, const char *rcpts, size_t nrcpt,
                    size_t *where)
{
    *where = 0;
    mp->has_size = size >= 0;
    mp->size = size >= 0 ? (uint64_t)size : 0;
    mp->smtputf8 = smtputf8 != 0;
    int rc = smtpcore_client_mail(c, sender, mp);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nrcpt; i++) {
        *where = i + 1;
        rc = smtpcore_client_rcpt(c, rcpts, NULL);
        if (rc < 0)
            return rc;
        rcpts += strlen(rcpts) + 1;
    }
    *where = nrcpt + 1;
    return smtpcore_client_data(c);
}

/* The session's output copied into st->out, up to PYSC_CLI_OUT bytes: the binding
 * writes it without the three calls per message of taking it (output, consume, output). */
static size_t pysc_cli_take(smtpcore_client *c, pysc_cli_state *st)
{
    size_t len = 0;
    while (len < PYSC_CLI_OUT) {
        size_t m = smtpcore_client_copy_output(c, st->out + len, PYSC_CLI_OUT - len);
        if (m == 0)
            break;
        len += m;
    }
    return len;
}

/* Reads events until the session needs I/O, st->recs (records of four ints: type,
 * failure, rcpt_index, cache slot) is full, or an event the host must see comes (left in
 * *st->evp). A SEND_BODY gets body[0, body_len) and its end when body is not NULL (the
 * newest transaction's, not given yet), recorded as {SEND_BODY, 1 if whole and ended, 1
 * if the next transaction was queued, -1} with st->consumed the bytes taken; when it was
 * whole and sender is not NULL, the next transaction follows right behind it
 * (pysc_client_txn with st->mp and the arguments from sender on), recorded as
 * {PYSC_CLI_TXN, its result, the call that failed, -1} when refused; when it is queued
 * the two records are one, {PYSC_CLI_NEXT, 0, 0, -1}, and the pump reads on.
 * At IDLE the output is taken into st->out (see pysc_cli_take).
 * Returns (output length << 16) | (records << 3) | why, or an smtpcore_error. */
long long pysc_client_pump(smtpcore_client *c, pysc_cli_state *st, const char *body,
                           size_t body_len, const char *sender, long long size,
                           int smtputf8, const char *rcpts, size_t nrcpt)
{
    const smtpcore_client_event **evp = st->evp;
    pysc_cli_cache *k = &st->cache;
    int *recs = st->recs;
    size_t n = 0;
    for (;;) {
        if (n + 2 > PYSC_CLI_RECS)
            return (long long)(n << 3) | PYSC_CLI_FULL;
        int rc = smtpcore_client_next_event(c, evp);
        if (rc < 0)
            return rc;
        const smtpcore_client_event *ev = *evp;
        int t = (int)ev->type;
        if (t == SMTPCORE_CEV_NONE)
            return ((long long)pysc_cli_take(c, st) << 16) | (long long)(n << 3) | PYSC_CLI_IDLE;
        if (t == SMTPCORE_CEV_SEND_BODY && body) {
            rc = pysc_client_body_all(c, body, body_len, &st->consumed);
            if (rc < 0)
                return rc;
            body = NULL;  /* given once */
            size_t where = 0;
            int txn = rc == 1 && sender ? pysc_client_txn(c, sender, st->mp, size, smtputf8,
                                                          rcpts, nrcpt, &where)
                                        : -1;
            int *rec = recs + 4 * n++;
            rec[3] = -1;
            if (rc == 1 && sender && txn >= 0) {
                /* The common case in one record: body whole, next message queued. */
                rec[0] = PYSC_CLI_NEXT;
                rec[1] = rec[2] = 0;
                continue;
            }
            rec[0] = t;
            rec[1] = rc;
            rec[2] = rc == 1 && sender;
            if (rec[2]) {
                rec = recs + 4 * n++;
                rec[0] = PYSC_CLI_TXN;
                rec[1] = txn;
                rec[2] = where > (size_t)INT_MAX ? INT_MAX : (int)where;
                rec[3] = -1;
            }
            return (long long)(n << 3) | PYSC_CLI_BODY;
        }
        int plain = t == SMTPCORE_CEV_MAIL_RESULT || t == SMTPCORE_CEV_RCPT_RESULT ||
                    t == SMTPCORE_CEV_DELIVERY_RESULT ||
                    (t == SMTPCORE_CEV_MESSAGE_RESULT && ev->message.len == 0);
        int fresh = 0;
        int slot = plain && ev->rcpt_index <= (size_t)INT_MAX ? pysc_cli_slot(k, &ev->reply,
                                                                               &fresh)
                                                              : -1;
        if (slot < 0)
            return (long long)(n << 3) | PYSC_CLI_EVENT;
        int *rec = recs + 4 * n++;
        rec[0] = t;
        rec[1] = (int)ev->failure;
        rec[2] = (int)ev->rcpt_index;
        rec[3] = slot;
        if (fresh)
            return (long long)(n << 3) | PYSC_CLI_NEW;
    }
}

""" % (CLIENT_PUMP_SLOTS, CLIENT_PUMP_LINE, CLIENT_PUMP_RECS, CLIENT_PUMP_OUT)


def engine_sources():
    """The engine's C files, as absolute paths. setup() refuses absolute paths in its
    arguments, so setup.py adds them when build_ext runs; their objects then land under
    the build directory (distutils appends the absolute path to build_temp)."""
    return sorted(glob.glob(os.path.join(source_dir(), "core", "src", "*.c")))


# --------------------------------------------------------------------------- server pump
# A private helper of the asyncio server (aio/_dispatch.py), compiled into the extension
# beside the engine; not engine API. One call per read does what took the Python loop
# about 25 crossings into C: receive, next_event until the engine needs input or an
# event the host must see, accepting the events Python has no hook for and copying them
# (with their slices) into records, and draining the output. The records' slices point
# into the area's own arena, not the session's input: an event's slices are only valid
# until the next next_event call (server.h), so they are copied before it.
SERVER_PUMP_RECS = 32
SERVER_PUMP_ARENA = 65536
SERVER_PUMP_OUT = 16384

SERVER_PUMP_CDEF = """
typedef struct pysc_srv_area {
    unsigned int keep;
    unsigned int rmask;
    unsigned int amask;
    const char *rbuf;
    const smtpcore_server_event *ev;
    size_t in_used;
    size_t nrecs;
    size_t out_len;
    long long info[%d][4];
    smtpcore_server_event recs[%d];
    char arena[%d];
    char out[%d];
} pysc_srv_area;
long long pysc_server_pump(smtpcore_server *s, unsigned int mask, pysc_srv_area *a,
                           const char *in, size_t in_len);
long long pysc_server_read(smtpcore_server *s, pysc_srv_area *a, size_t in_len);
long long pysc_server_accepted(smtpcore_server *s, pysc_srv_area *a);
""" % (SERVER_PUMP_RECS, SERVER_PUMP_RECS, SERVER_PUMP_ARENA, SERVER_PUMP_OUT)

SERVER_PUMP_C = r"""
#define PYSC_SRV_RECS %d
#define PYSC_SRV_ARENA %d
#define PYSC_SRV_OUT %d

/* What the pump returns (>= 0; < 0 is an smtpcore_error), packed so that the binding
 * reads one integer instead of three struct fields: why it stopped and the session's
 * state then in the low bits, nrecs from bit 8, out_len from bit 16. */
#define PYSC_SRV_IDLE 0        /* needs input: no event, no output left */
#define PYSC_SRV_EVENT 1       /* *evp is an event for the host (not in the mask) */
#define PYSC_SRV_FULL 2        /* the output area is full: take it and call again */
#define PYSC_SRV_IN_MESSAGE 4  /* smtpcore_server_in_message() at IDLE */
#define PYSC_SRV_WANT_CLOSE 8  /* smtpcore_server_want_close() at IDLE */
#define PYSC_SRV_LEFT 16       /* the session did not take all of in[]: see in_used */
/* With PYSC_SRV_EVENT when the event is the end of a message: what the binding reads
 * of it, so that it reads no field of the event struct (a cdata access each). */
#define PYSC_SRV_END 32        /* the event for the host is SMTPCORE_SEV_MESSAGE_END */
#define PYSC_SRV_END_BDAT 64   /* ... its bdat */
#define PYSC_SRV_END_LONG 128  /* ... its long_lines */
/* The flags in mask sit above the event types (bits 0-20; a type from 27 on is never
 * taken) and below bit 30: a mask under 2**30 is one digit of a Python int, which cffi
 * converts on its short path (bit 31 took CPython's byte-array conversion, about 340
 * instructions per call). */
/* In mask: give the session's buffers back at IDLE (smtpcore_server_release_idle(); it
 * refuses while anything refers to them), unless a transaction is open then
 * (smtpcore_server_in_transaction()): its next command comes soon, and each release
 * costs a free and a malloc more. */
#define PYSC_SRV_RELEASE (1u << 29)
/* In mask: accept the event the last call left for the host (its hook accepted) before
 * anything else: the end of a message and its reply in one call instead of two. */
#define PYSC_SRV_ACCEPT (1u << 27)

/* info[][3] of a record. */
#define PYSC_SRV_PARAMS 1 /* MAIL/RCPT with ESMTP parameters: read them from recs[] */
#define PYSC_SRV_ESMTP 2  /* HELO: it was EHLO */

typedef struct pysc_srv_area {
    /* Set by the host once: the event types (bit 1 << type) recorded in recs[]. In the
     * area rather than an argument each call, as the event pointer: cffi converts every
     * argument of every call. */
    unsigned int keep;
    /* Set by the host once: pysc_server_read()'s mask and input buffer (the plaintext
     * runner's, shared by its connections), pysc_server_accepted()'s mask. */
    unsigned int rmask;
    unsigned int amask;
    const char *rbuf;
    /* The session's current event: for the host after PYSC_SRV_EVENT. */
    const smtpcore_server_event *ev;
    size_t in_used;  /* bytes of in[] the session took */
    size_t nrecs;    /* events recorded in recs[] */
    size_t out_len;  /* output bytes in out[] */
    /* Per record, what the binding reads of most: the event type (with the flags of
     * [3] from bit 8, so that one test finds a record without them), the offset and
     * length in arena[] of its main slice (MAIL/RCPT/HELO: the address; BODY: the
     * content), and PYSC_SRV_PARAMS / PYSC_SRV_ESMTP. Plain integers: the binding reads
     * them through one memoryview, much cheaper than a field of a cdata struct each. */
    long long info[PYSC_SRV_RECS][4];
    smtpcore_server_event recs[PYSC_SRV_RECS]; /* the whole events, slices in arena[] */
    char arena[PYSC_SRV_ARENA];
    char out[PYSC_SRV_OUT];
} pysc_srv_area;

/* Copies a slice into the arena (NULL stays NULL: the binding tells absent from empty). */
static smtpcore_str pysc_srv_keep(pysc_srv_area *a, size_t *used, smtpcore_str v)
{
    smtpcore_str r = {NULL, 0};
    if (v.ptr) {
        r.ptr = a->arena + *used;
        r.len = v.len;
        if (v.len)
            memcpy(a->arena + *used, v.ptr, v.len);
        *used += v.len;
    }
    return r;
}

/* Takes ev: records it when its type is in keep, and accepts it when it awaits an
 * answer. 0 when recs[] or the arena has no room for it, and then nothing is done: the
 * host reads the event itself. */
static int pysc_srv_take(smtpcore_server *s, pysc_srv_area *a, size_t *used, unsigned int keep,
                     const smtpcore_server_event *ev, int *rc)
{
    int t = ev->type;
    *rc = SMTPCORE_OK;
    if (!(keep & (1u << t))) {
        if (ev->answer_required)
            *rc = smtpcore_server_accept(s);
        return 1;
    }
    int addr = t == SMTPCORE_SEV_MAIL || t == SMTPCORE_SEV_RCPT || t == SMTPCORE_SEV_HELO;
    size_t need = addr ? ev->address.len : 0;
    if (t == SMTPCORE_SEV_MAIL)
        need += ev->mail.envid.len + ev->mail.auth.len;
    else if (t == SMTPCORE_SEV_RCPT)
        need += ev->rcpt.orcpt.len;
    else if (t == SMTPCORE_SEV_BODY)
        need = ev->data.len;
    if (a->nrecs == PYSC_SRV_RECS || need > PYSC_SRV_ARENA - *used)
        return 0;
    if (ev->answer_required)
        *rc = smtpcore_server_accept(s);
    long long *info = a->info[a->nrecs];
    smtpcore_server_event *r = &a->recs[a->nrecs++];
    *r = *ev;
    info[0] = t;
    info[1] = (long long)*used;
    info[2] = 0;
    info[3] = 0;
    /* Only the slices the binding reads for these types survive, as copies. */
    smtpcore_str none = {NULL, 0};
    r->line = none;
    r->message = none;
    r->address = addr ? pysc_srv_keep(a, used, ev->address) : none;
    if (addr)
        info[2] = (long long)ev->address.len;
    if (t == SMTPCORE_SEV_MAIL) {
        const smtpcore_mail_params *m = &ev->mail;
        if (m->has_size || m->body || m->smtputf8 || m->ret || m->envid.ptr || m->auth.ptr)
            info[3] = PYSC_SRV_PARAMS;
        r->mail.envid = pysc_srv_keep(a, used, ev->mail.envid);
        r->mail.auth = pysc_srv_keep(a, used, ev->mail.auth);
    } else if (t == SMTPCORE_SEV_RCPT) {
        if (ev->rcpt.notify || ev->rcpt.orcpt.ptr)
            info[3] = PYSC_SRV_PARAMS;
        r->rcpt.orcpt = pysc_srv_keep(a, used, ev->rcpt.orcpt);
    } else if (t == SMTPCORE_SEV_BODY) {
        r->data = pysc_srv_keep(a, used, ev->data);
        info[2] = (long long)ev->data.len;
    } else if (t == SMTPCORE_SEV_HELO && ev->esmtp) {
        info[3] = PYSC_SRV_ESMTP;
    }
    info[0] |= info[3] << 8;
    return 1;
}

/* Offers in[*taken, in_len) to the session; the bytes it takes are counted in *taken
 * (all of them once the session is over: input after it is void). */
static int pysc_srv_offer(smtpcore_server *s, const char *in, size_t in_len, size_t *taken)
{
    size_t k = 0;
    int rc = smtpcore_server_receive(s, in + *taken, in_len - *taken, &k);
    if (rc == SMTPCORE_ERR_CLOSED) {
        k = in_len - *taken;
        rc = SMTPCORE_OK;
    }
    *taken += k;
    return rc < 0 ? rc : (int)(k != 0);
}

static long long pysc_srv_done(const pysc_srv_area *a, long long st, size_t in_len)
{
    return st | (a->in_used < in_len ? PYSC_SRV_LEFT : 0) | ((long long)a->nrecs << 8) |
           ((long long)a->out_len << 16);
}

/* PYSC_SRV_EVENT and what the host reads of the event ev. */
static long long pysc_srv_event(const smtpcore_server_event *ev)
{
    if (ev->type != SMTPCORE_SEV_MESSAGE_END)
        return PYSC_SRV_EVENT;
    return PYSC_SRV_EVENT | PYSC_SRV_END | (ev->bdat ? PYSC_SRV_END_BDAT : 0) |
           (ev->long_lines ? PYSC_SRV_END_LONG : 0);
}

/* Offers in[0, in_len) (a->in_used: what the session took; the host keeps the rest),
 * then reads events until the session needs input, the output area is full, or an
 * event whose type is not in mask (bit 1 << type) comes: that one is left in a->ev,
 * unanswered, for the host. Events of the mask are accepted when they await an answer,
 * and recorded in a->recs when their type is in a->keep too (the ones the host reads).
 * Output is moved to a->out. With PYSC_SRV_ACCEPT in mask the event left for the host
 * by the last call is accepted first (in_len is then 0). */
long long pysc_server_pump(smtpcore_server *s, unsigned int mask, pysc_srv_area *a,
                           const char *in, size_t in_len)
{
    unsigned int keep = a->keep;
    const smtpcore_server_event **evp = &a->ev;
    size_t used = 0, taken = 0;
    int rc = SMTPCORE_OK;
    a->in_used = a->nrecs = a->out_len = 0;
    if (mask & PYSC_SRV_ACCEPT) {
        rc = smtpcore_server_accept(s);
        if (rc < 0)
            return rc;
    }
    if (in_len) {
        rc = pysc_srv_offer(s, in, in_len, &taken);
        a->in_used = taken;
        if (rc < 0)
            return rc;
    }
    for (;;) {
        rc = smtpcore_server_next_event(s, evp);
        if (rc < 0)
            return rc;
        const smtpcore_server_event *ev = *evp;
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            size_t n = smtpcore_server_output(s, &p);
            if (n) {
                size_t room = PYSC_SRV_OUT - a->out_len;
                if (n > room)
                    n = room;
                memcpy(a->out + a->out_len, p, n);
                a->out_len += n;
                rc = smtpcore_server_consume(s, n);
                if (rc < 0)
                    return rc;
                if (a->out_len == PYSC_SRV_OUT)
                    return pysc_srv_done(a, PYSC_SRV_FULL, in_len);
                continue;
            }
            if (taken < in_len) {
                /* The session may have room again: offer the rest. */
                rc = pysc_srv_offer(s, in, in_len, &taken);
                a->in_used = taken;
                if (rc < 0)
                    return rc;
                if (rc)
                    continue;
            }
            int st = PYSC_SRV_IDLE
                     | (smtpcore_server_in_message(s) ? PYSC_SRV_IN_MESSAGE : 0)
                     | (smtpcore_server_want_close(s) ? PYSC_SRV_WANT_CLOSE : 0);
            if ((mask & PYSC_SRV_RELEASE) && !smtpcore_server_in_transaction(s))
                (void)smtpcore_server_release_idle(s, NULL);
            return pysc_srv_done(a, st, in_len);
        }
        if ((unsigned)ev->type >= 27 || !(mask & (1u << ev->type)) ||
            !pysc_srv_take(s, a, &used, keep, ev, &rc))
            return pysc_srv_done(a, pysc_srv_event(ev), in_len);
        if (rc < 0)
            return rc;
    }
}

/* pysc_server_pump(s, a->rmask, a, a->rbuf, in_len): a read of the plaintext runner,
 * whose other arguments never change. cffi converts each argument of each call (about
 * 100 instructions for the two), and there are four reads per message. */
long long pysc_server_read(smtpcore_server *s, pysc_srv_area *a, size_t in_len)
{
    return pysc_server_pump(s, a->rmask, a, a->rbuf, in_len);
}

/* pysc_server_pump(s, a->amask, a, NULL, 0), amask with PYSC_SRV_ACCEPT: the hook of the
 * event the last call left for the host accepted it (once per message: its end). */
long long pysc_server_accepted(smtpcore_server *s, pysc_srv_area *a)
{
    return pysc_server_pump(s, a->amask, a, NULL, 0);
}

/* cffi gives up the GIL around every C call and takes it back after (about 340
 * instructions, a fifth of a call's cost), and has no per-function switch. The three
 * pump entry points keep it: they only run the engine (no I/O, nothing that waits, no
 * callback into Python) on bounded work (one read of at most the runner's 64 KiB
 * buffer, output up to the 16 KiB area), microseconds, and they are called once per
 * read of the asyncio server, where no other thread waits for the GIL anyway. Every
 * other function of the module keeps cffi's behaviour. The wrappers cffi generates
 * after this text use these two macros; __func__ names the wrapper
 * (_cffi_f_<function>), and the comparisons fold at compile time. */
#ifndef PYPY_VERSION
static inline int pysc_keeps_gil(const char *wrapper)
{
    return strcmp(wrapper, "_cffi_f_pysc_server_read") == 0 ||
           strcmp(wrapper, "_cffi_f_pysc_server_accepted") == 0 ||
           strcmp(wrapper, "_cffi_f_pysc_server_pump") == 0;
}
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS \
    { PyThreadState *_save = pysc_keeps_gil(__func__) ? NULL : PyEval_SaveThread();
#define Py_END_ALLOW_THREADS \
    if (_save) PyEval_RestoreThread(_save); }
#endif
""" % (SERVER_PUMP_RECS, SERVER_PUMP_ARENA, SERVER_PUMP_OUT)


def make_ffibuilder():
    root = source_dir()
    gen_include = os.path.join(build_dir(), "gen-include")
    _generate_version_header(root, gen_include)
    with open(os.path.join(root, "bindings", "cdef", "smtpcore_cdef.h"), encoding="utf-8") as f:
        cdef = f.read()
    builder = FFI()
    builder.cdef(cdef + CLIENT_PUMP_CDEF + SERVER_PUMP_CDEF)
    builder.set_source(
        "smtpcore._smtpcore",
        "#include <limits.h>\n#include <string.h>\n#include <smtpcore/smtpcore.h>\n"
        + CLIENT_PUMP_C + SERVER_PUMP_C,
        include_dirs=[gen_include, os.path.join(root, "core", "include"),
                      os.path.join(root, "core", "src")],
        define_macros=[("BUILDING_SMTPCORE", None)],
        extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-O2"],
    )
    return builder


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
