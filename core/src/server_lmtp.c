/* Server: LMTP (RFC 2033) per-recipient replies after the end of a message. */
#include "server_internal.h"

int smtpcore_server_lmtp(const smtpcore_server *s)
{
    return s && s->cfg.lmtp ? 1 : 0;
}

size_t smtpcore_server_rcpt_unanswered(const smtpcore_server *s)
{
    (void)s;
    return 0;
}

int smtpcore_server_reply_rcpt(smtpcore_server *s, size_t index, int code, const char *enhanced,
                               const char *text)
{
    (void)index;
    (void)code;
    (void)enhanced;
    (void)text;
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (!s->cfg.lmtp)
        return SMTPCORE_ERR_INVALID_STATE;
    return SMTPCORE_ERR_NO_ANSWER_PENDING;
}
