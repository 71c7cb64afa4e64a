/* The webhook store (see webhook_store.h). */
#include "trm/webhook_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
TRM_DB_STMT(stmt_claim, 2,
            "SELECT id, agency_id, url, sealed_secret, body, attempts, lease "
            "FROM trm_webhook_claim($1::integer, $2::integer)");
TRM_DB_STMT(stmt_renew, 3,
            "SELECT trm_webhook_renew($1, $2::timestamptz, $3::integer) AS lease");
TRM_DB_STMT(stmt_outcome, 5,
            "SELECT trm_webhook_outcome($1, $2, $3::boolean, $4::integer, $5::integer) AS status");
TRM_DB_STMT(stmt_put, 4,
            "SELECT trm_webhook_put($1, $2, $3, $4::boolean) AS outcome");
TRM_DB_STMT(stmt_status, 1, "SELECT trm_webhook_status($1)");
TRM_DB_STMT(stmt_delete, 1, "SELECT trm_webhook_delete($1) AS deleted");
/* clang-format on */

/* The value of a named column of row i ("" for NULL); NULL when the column is missing. */
static const char *col(const PGresult *r, int i, const char *name)
{
    int c = PQfnumber(r, name);
    return c < 0 ? NULL : PQgetvalue(r, i, c);
}

void trm_webhook_due_free(struct trm_webhook_due *d)
{
    free(d->sealed_secret);
    free(d->body);
    d->sealed_secret = d->body = NULL;
}

static bool due_from_row(const PGresult *r, int i, struct trm_webhook_due *d)
{
    const char *id = col(r, i, "id"), *agency = col(r, i, "agency_id"), *url = col(r, i, "url");
    const char *secret = col(r, i, "sealed_secret"), *body = col(r, i, "body");
    const char *attempts = col(r, i, "attempts"), *lease = col(r, i, "lease");
    long n = 0;
    memset(d, 0, sizeof *d);
    if (!id || !agency || !url || !secret || !body || !attempts || !lease ||
        !trm_parse_long(attempts, 0, 1000000000L, &n) || !trm_strlcpy(d->id, id, sizeof d->id) ||
        !trm_strlcpy(d->agency_id, agency, sizeof d->agency_id) ||
        !trm_strlcpy(d->url, url, sizeof d->url) || !trm_strlcpy(d->lease, lease, sizeof d->lease))
        return false;
    d->attempts = (int)n;
    d->sealed_secret = strdup(secret);
    d->body = strdup(body);
    if (d->sealed_secret && d->body)
        return true;
    trm_webhook_due_free(d);
    return false;
}

enum trm_db_status trm_webhook_claim(struct trm_db_conn *c, unsigned cap, unsigned lease_s,
                                     struct trm_webhook_due *out, unsigned *n)
{
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%u", cap);
    snprintf(lease, sizeof lease, "%u", lease_s);
    const char *p[] = {lim, lease};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_claim, p, &s);
    *n = 0;
    for (int i = 0; s == TRM_DB_OK && i < PQntuples(r) && *n < cap; i++) {
        if (!due_from_row(r, i, &out[*n])) {
            s = TRM_DB_ERROR;
            break;
        }
        (*n)++;
    }
    PQclear(r);
    if (s != TRM_DB_OK) {
        for (unsigned i = 0; i < *n; i++)
            trm_webhook_due_free(&out[i]);
        *n = 0;
    }
    return s;
}

enum trm_db_status trm_webhook_renew(struct trm_db_conn *c, struct trm_webhook_due *d,
                                     unsigned lease_s, bool *kept)
{
    char lease[16];
    snprintf(lease, sizeof lease, "%u", lease_s);
    const char *p[] = {d->id, d->lease, lease};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_renew, p, &s);
    const char *until = s == TRM_DB_OK && PQntuples(r) == 1 ? col(r, 0, "lease") : NULL;
    *kept = until && until[0] && trm_strlcpy(d->lease, until, sizeof d->lease);
    PQclear(r);
    return s;
}

enum trm_db_status trm_webhook_outcome(struct trm_db_conn *c, const char *id, const char *error,
                                       bool posted, unsigned max_backoff_s, unsigned give_up_s,
                                       bool *given_up)
{
    char max[16], give_up[16];
    snprintf(max, sizeof max, "%u", max_backoff_s);
    snprintf(give_up, sizeof give_up, "%u", give_up_s);
    const char *p[] = {id, error, posted ? "true" : "false", max, give_up};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_outcome, p, &s);
    const char *status = s == TRM_DB_OK && PQntuples(r) == 1 ? col(r, 0, "status") : NULL;
    *given_up = status && strcmp(status, "failed") == 0;
    PQclear(r);
    return s;
}

enum trm_db_status trm_webhook_put(struct trm_db_conn *c, const char *agency_id, const char *url,
                                   const char *sealed_hex, bool active,
                                   enum trm_webhook_put *outcome)
{
    static const struct {
        const char *word;
        enum trm_webhook_put outcome;
    } words[] = {{"ok", TRM_WEBHOOK_SET},
                 {"updated", TRM_WEBHOOK_UPDATED},
                 {"secret_needed", TRM_WEBHOOK_SECRET_NEEDED},
                 {"not_found", TRM_WEBHOOK_NO_AGENCY}};
    const char *p[] = {agency_id, url, sealed_hex, active ? "true" : "false"};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_put, p, &s);
    const char *w = s == TRM_DB_OK && PQntuples(r) == 1 ? col(r, 0, "outcome") : NULL;
    if (s == TRM_DB_OK)
        s = TRM_DB_ERROR; /* a word this store does not know: a schema mismatch */
    for (size_t i = 0; w && i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(w, words[i].word) == 0) {
            *outcome = words[i].outcome;
            s = TRM_DB_OK;
        }
    }
    PQclear(r);
    return s;
}

enum trm_db_status trm_webhook_status(struct trm_db_conn *c, const char *agency_id, json_t **out)
{
    const char *p[] = {agency_id};
    return trm_db_json_cell(c, &stmt_status, p, out);
}

enum trm_db_status trm_webhook_delete(struct trm_db_conn *c, const char *agency_id)
{
    const char *p[] = {agency_id};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_delete, p, &s);
    const char *deleted = s == TRM_DB_OK && PQntuples(r) == 1 ? col(r, 0, "deleted") : NULL;
    if (s == TRM_DB_OK && (deleted == NULL || strcmp(deleted, "t") != 0))
        s = TRM_DB_NOT_FOUND;
    PQclear(r);
    return s;
}
