/*
 * The two printf-style callbacks Cyrus's sasldb code calls through its sasl_utils_t (`log` and
 * `seterror`). Stable Rust cannot define a C-variadic function, and calling a non-variadic one
 * through a variadic pointer is undefined behaviour, so these two, and only these, are C.
 * Everything else of the sasldb glue is in plugin.rs.
 *
 * `conn` is the per-lookup `struct call` of plugin.rs (`Call`, same layout), or NULL when the
 * sasldb code logs without a connection (closing the database), which is ignored. The messages
 * name the file, the login and the realm, never the password.
 */
#include <stdarg.h>
#include <stdio.h>

#define MESSAGE_LEN 512

struct call {
    const char *path;
    char logged[MESSAGE_LEN];
    char error[MESSAGE_LEN];
};

void saslauthd_rs_sasldb_log(void *conn, int level, const char *fmt, ...)
{
    struct call *call = conn;
    va_list ap;
    (void)level;
    if (!call || !fmt) return;
    va_start(ap, fmt);
    vsnprintf(call->logged, sizeof call->logged, fmt, ap);
    va_end(ap);
}

void saslauthd_rs_sasldb_seterror(void *conn, unsigned flags, const char *fmt, ...)
{
    struct call *call = conn;
    va_list ap;
    (void)flags;
    if (!call || !fmt) return;
    va_start(ap, fmt);
    vsnprintf(call->error, sizeof call->error, fmt, ap);
    va_end(ap);
}
