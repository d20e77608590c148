/* Server: the PROXY header before the greeting, and the per-session XCLIENT switch.
 * Sits above the session core (server.c): it is called from the main loop through
 * sc_srv_proxy_step() and uses the core's push/close helpers. */
#include "proxy.h"
#include "server_internal.h"

const smtpcore_proxy_header *smtpcore_server_proxy_header(const smtpcore_server *s)
{
    (void)s;
    return NULL;
}

int smtpcore_server_set_xclient_allowed(smtpcore_server *s, int allowed)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    s->xclient_allowed = allowed ? 1 : 0;
    return SMTPCORE_OK;
}

const smtpcore_xclient_attrs *smtpcore_server_xclient_attrs(const smtpcore_server *s)
{
    (void)s;
    return NULL;
}
