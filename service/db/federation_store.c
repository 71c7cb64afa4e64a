/* The federation store (see federation_store.h). */
#include "trm/federation_store.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
TRM_DB_STMT(stmt_identity_get, 0,
            "SELECT instance_id, country, coalesce(url, '') AS url FROM federation_instance "
            "WHERE id = 1");
TRM_DB_STMT(stmt_identity_set, 3,
            "INSERT INTO federation_instance (id, instance_id, country, url) "
            "VALUES (1, $1, $2, nullif($3, '')) ON CONFLICT (id) DO UPDATE SET "
            "instance_id = EXCLUDED.instance_id, country = EXCLUDED.country, url = EXCLUDED.url");
TRM_DB_STMT(stmt_peer_get, 1,
            "SELECT instance_id, country, url, encode(signing_key, 'hex') AS signing_key, "
            "encode(box_key, 'hex') AS box_key, active FROM federation_peers "
            "WHERE instance_id = $1");
TRM_DB_STMT(stmt_peer_put, 7,
            "INSERT INTO federation_peers (instance_id, country, url, signing_key, box_key, "
            "active, countries) VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), "
            "$6::boolean, (SELECT array_agg(DISTINCT c) FROM unnest(ARRAY[$2] || "
            "string_to_array(nullif($7, ''), ',')) c)) "
            "ON CONFLICT (instance_id) DO UPDATE SET country = EXCLUDED.country, "
            "url = EXCLUDED.url, signing_key = EXCLUDED.signing_key, box_key = EXCLUDED.box_key, "
            "active = EXCLUDED.active, countries = EXCLUDED.countries, "
            "directory_fetched_at = NULL, directory_failures = 0, directory_retry_at = NULL");
TRM_DB_STMT(stmt_peer_list, 0,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('instance_id', instance_id, 'country', "
            "country, 'url', url, 'signing_key', encode(signing_key, 'hex'), 'box_key', "
            "encode(box_key, 'hex'), 'active', active, 'countries', countries, "
            "'directory_fetched_at', directory_fetched_at, 'directory_failures', "
            "directory_failures, 'directory_retry_at', directory_retry_at, 'package_version', "
            "package_version) ORDER BY instance_id), "
            "'[]') FROM federation_peers");
TRM_DB_STMT(stmt_local_agencies, 0,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'name', name, 'country', "
            "country, 'kind', kind, 'active', active) ORDER BY country, name, id), '[]') "
            "FROM agencies WHERE instance_id IS NULL AND active AND NOT demo");
TRM_DB_STMT(stmt_context, 1, "SELECT trm_fed_context($1)");
TRM_DB_STMT(stmt_queue, 4, "SELECT trm_fed_queue($1, $2, $3::jsonb, decode($4, 'hex'))");
TRM_DB_STMT(stmt_link_case, 4, "SELECT trm_fed_link_case($1, $2, $3, $4)");
TRM_DB_STMT(stmt_seen, 1,
            "SELECT o_direction AS direction, encode(o_hash, 'hex') AS hash, "
            "o_receipt::text AS receipt FROM trm_fed_received($1) WHERE o_direction IS NOT NULL");
TRM_DB_STMT(stmt_receive_offer, 4,
            "SELECT trm_fed_receive_offer($1::jsonb, decode($2, 'hex'), decode($3, 'hex'), "
            "$4::jsonb)");
TRM_DB_STMT(stmt_receive_answer, 4,
            "SELECT trm_fed_receive_answer($1::jsonb, decode($2, 'hex'), decode($3, 'hex'), "
            "$4::jsonb)");
TRM_DB_STMT(stmt_claim, 2,
            "SELECT package_id, peer_instance, url, signing_key, package, package_hash, attempts "
            "FROM trm_fed_claim($1::integer, $2::integer)");
TRM_DB_STMT(stmt_delivered, 2, "SELECT trm_fed_delivered($1, $2::jsonb)");
TRM_DB_STMT(stmt_failed, 4, "SELECT trm_fed_failed($1, $2, $3::boolean, $4::integer)");
TRM_DB_STMT(stmt_dir_due, 1,
            "SELECT instance_id, url, signing_key FROM trm_fed_directory_due($1::integer)");
TRM_DB_STMT(stmt_dir_save, 2, "SELECT trm_fed_directory_store($1, $2::jsonb)");
TRM_DB_STMT(stmt_peer_version, 2, "SELECT trm_fed_peer_package_version($1, $2::integer)");
TRM_DB_STMT(stmt_dir_result, 3,
            "SELECT failures, retry_in_s FROM trm_fed_directory_result($1, $2::boolean, "
            "$3::integer)");
/* clang-format on */

static const struct trm_db_col identity_cols[] = {
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_identity, instance_id),
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_identity, country),
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_identity, url),
    {0},
};

static const struct trm_db_col peer_cols[] = {
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_peer, instance_id),
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_peer, country),
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_peer, url),
    TRM_DB_FIELD(TRM_DB_HEX, struct trm_fed_peer, signing_key),
    TRM_DB_FIELD(TRM_DB_HEX, struct trm_fed_peer, box_key),
    TRM_DB_FIELD(TRM_DB_BOOL, struct trm_fed_peer, active),
    {0},
};

enum trm_db_status trm_fed_identity_get(struct trm_db_conn *c, struct trm_fed_identity *out)
{
    return trm_db_get(c, &stmt_identity_get, NULL, identity_cols, out);
}

enum trm_db_status trm_fed_identity_set(struct trm_db_conn *c, const struct trm_fed_identity *id)
{
    const char *p[] = {id->instance_id, id->country, id->url};
    return trm_db_do(c, &stmt_identity_set, p);
}

enum trm_db_status trm_fed_peer_get(struct trm_db_conn *c, const char *instance_id,
                                    struct trm_fed_peer *out)
{
    const char *p[] = {instance_id};
    return trm_db_get(c, &stmt_peer_get, p, peer_cols, out);
}

enum trm_db_status trm_fed_peer_put(struct trm_db_conn *c, const struct trm_fed_peer *peer)
{
    char sk[2 * TRM_FED_KEY_BYTES + 1], bk[2 * TRM_FED_KEY_BYTES + 1];
    trm_hex_encode(peer->signing_key, TRM_FED_KEY_BYTES, sk);
    trm_hex_encode(peer->box_key, TRM_FED_KEY_BYTES, bk);
    const char *p[] = {peer->instance_id,        peer->country,  peer->url, sk, bk,
                       peer->active ? "t" : "f", peer->countries};
    return trm_db_do(c, &stmt_peer_put, p);
}

enum trm_db_status trm_fed_peer_list(struct trm_db_conn *c, json_t **out)
{
    return trm_db_json_cell(c, &stmt_peer_list, NULL, out);
}

enum trm_db_status trm_fed_local_agencies(struct trm_db_conn *c, json_t **out)
{
    return trm_db_json_cell(c, &stmt_local_agencies, NULL, out);
}

enum trm_db_status trm_fed_context(struct trm_db_conn *c, const char *referral_id, json_t **out)
{
    const char *p[] = {referral_id};
    return trm_db_json_cell(c, &stmt_context, p, out);
}

enum trm_db_status trm_fed_queue(struct trm_db_conn *c, const char *referral_id, const char *type,
                                 json_t *package, const uint8_t hash[TRM_FED_HASH_BYTES])
{
    char hex[2 * TRM_FED_HASH_BYTES + 1];
    char *text = json_dumps(package, JSON_COMPACT);
    if (text == NULL)
        return TRM_DB_ERROR;
    trm_hex_encode(hash, TRM_FED_HASH_BYTES, hex);
    const char *p[] = {referral_id, type, text, hex};
    enum trm_db_status s = trm_db_do(c, &stmt_queue, p);
    free(text);
    return s;
}

enum trm_db_status trm_fed_link_case(struct trm_db_conn *c, const char *referral_id,
                                     const char *case_id, const char *sealed_note,
                                     const char *note_category)
{
    const char *p[] = {referral_id, case_id, sealed_note, note_category};
    return trm_db_do(c, &stmt_link_case, p);
}

enum trm_db_status trm_fed_seen(struct trm_db_conn *c, const char *package_id, bool *found,
                                bool *incoming, uint8_t hash[TRM_FED_HASH_BYTES], json_t **receipt)
{
    const char *p[] = {package_id};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_seen, p, &s);
    struct seen {
        char direction[4];
        uint8_t hash[TRM_FED_HASH_BYTES];
        const char *receipt;
    } x = {0};
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_TEXT, struct seen, direction),
        TRM_DB_FIELD(TRM_DB_HEX, struct seen, hash),
        TRM_DB_FIELD(TRM_DB_STR, struct seen, receipt),
        {0},
    };
    enum trm_db_status got = s == TRM_DB_OK ? trm_db_one(r, cols, &x) : s;
    *found = got == TRM_DB_OK;
    *receipt = *found && x.receipt[0] ? json_loads(x.receipt, 0, NULL) : NULL;
    if (got == TRM_DB_ERROR)
        s = TRM_DB_ERROR;
    *incoming = strcmp(x.direction, "in") == 0;
    memcpy(hash, x.hash, TRM_FED_HASH_BYTES);
    PQclear(r);
    return s;
}

/* The words trm_fed_receive_offer and _answer return, one per outcome (in enum order). */
static const char *const received_words[] = {
    [TRM_FED_RECEIVED] = "ok",
    [TRM_FED_REFUSED_UNKNOWN_PEER] = "unknown_peer",
    [TRM_FED_REFUSED_SENDER_COUNTRY] = "sender_country",
    [TRM_FED_REFUSED_PURPOSE] = "purpose",
    [TRM_FED_REFUSED_RECIPIENT] = "recipient",
    [TRM_FED_REFUSED_SENDER] = "sender",
    [TRM_FED_REFUSED_DUPLICATE_REFERRAL] = "duplicate_referral",
    [TRM_FED_REFUSED_ACTION] = "action",
    [TRM_FED_REFUSED_NOT_FOUND] = "not_found",
    [TRM_FED_REFUSED_IN_REPLY_TO] = "in_reply_to",
    [TRM_FED_REFUSED_ANSWERED] = "answered",
    [TRM_FED_REFUSED_EXPIRED] = "expired",
};

const char *trm_fed_received_word(enum trm_fed_received r)
{
    return received_words[r];
}

enum trm_db_status trm_fed_receive(struct trm_db_conn *c, const struct trm_fed_package *pkg,
                                   json_t *receipt, enum trm_fed_received *received)
{
    const size_t n_words = sizeof received_words / sizeof received_words[0];
    *received = TRM_FED_RECEIVED;
    char hash[2 * TRM_FED_HASH_BYTES + 1], sig[2 * TRM_FED_SIG_BYTES + 1];
    char *doc = json_dumps(pkg->doc, JSON_COMPACT), *rec = json_dumps(receipt, JSON_COMPACT);
    enum trm_db_status s = TRM_DB_ERROR;
    if (doc && rec) {
        trm_hex_encode(pkg->hash, sizeof pkg->hash, hash);
        trm_hex_encode(pkg->signature, sizeof pkg->signature, sig);
        const char *p[] = {doc, hash, sig, rec};
        bool offer = strcmp(pkg->h.v[TRM_FED_TYPE], "offer") == 0;
        PGresult *r = trm_db_exec(c, offer ? &stmt_receive_offer : &stmt_receive_answer, p, &s);
        size_t i = 0;
        while (s == TRM_DB_OK && i < n_words && strcmp(PQgetvalue(r, 0, 0), received_words[i]))
            i++;
        if (s == TRM_DB_OK && i == n_words)
            s = TRM_DB_ERROR; /* the functions and this table disagree: a schema mismatch */
        if (s == TRM_DB_OK)
            *received = (enum trm_fed_received)i;
        PQclear(r);
    }
    free(doc);
    free(rec);
    return s;
}

enum trm_db_status trm_fed_claim(struct trm_db_conn *c, unsigned cap, unsigned lease_s,
                                 struct trm_fed_due *out, unsigned *n)
{
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%u", cap);
    snprintf(lease, sizeof lease, "%u", lease_s);
    const char *p[] = {lim, lease};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_claim, p, &s);
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_due, package_id),
        TRM_DB_COL(TRM_DB_TEXT, struct trm_fed_due, peer, "peer_instance"),
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_due, url),
        TRM_DB_FIELD(TRM_DB_HEX, struct trm_fed_due, signing_key),
        TRM_DB_COL(TRM_DB_HEX, struct trm_fed_due, hash, "package_hash"),
        TRM_DB_FIELD(TRM_DB_INT, struct trm_fed_due, attempts),
        {0},
    };
    static const struct trm_db_col package_col[] = {{"package", TRM_DB_STR, 0, sizeof(char *)},
                                                    {0}};
    *n = 0;
    for (int i = 0; s == TRM_DB_OK && i < PQntuples(r) && *n < cap; i++) {
        struct trm_fed_due *d = &out[*n];
        const char *package = NULL;
        if (!trm_db_row(r, i, cols, d) || !trm_db_row(r, i, package_col, &package) ||
            (d->package = strdup(package)) == NULL) {
            s = TRM_DB_ERROR;
            break;
        }
        (*n)++;
    }
    PQclear(r);
    return s;
}

enum trm_db_status trm_fed_delivered(struct trm_db_conn *c, const char *package_id, json_t *receipt)
{
    char *text = json_dumps(receipt, JSON_COMPACT);
    if (text == NULL)
        return TRM_DB_ERROR;
    const char *p[] = {package_id, text};
    enum trm_db_status s = trm_db_do(c, &stmt_delivered, p);
    free(text);
    return s;
}

enum trm_db_status trm_fed_failed(struct trm_db_conn *c, const char *package_id, const char *error,
                                  bool final, unsigned max_backoff_s)
{
    char max[16];
    snprintf(max, sizeof max, "%u", max_backoff_s);
    const char *p[] = {package_id, error, final ? "t" : "f", max};
    return trm_db_do(c, &stmt_failed, p);
}

enum trm_db_status trm_fed_directory_due(struct trm_db_conn *c, unsigned every_s,
                                         struct trm_fed_dir_due *out, unsigned cap, unsigned *n)
{
    char every[16];
    snprintf(every, sizeof every, "%u", every_s);
    const char *p[] = {every};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_dir_due, p, &s);
    static const struct trm_db_col cols[] = {
        TRM_DB_COL(TRM_DB_TEXT, struct trm_fed_dir_due, peer, "instance_id"),
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_fed_dir_due, url),
        TRM_DB_FIELD(TRM_DB_HEX, struct trm_fed_dir_due, signing_key),
        {0},
    };
    *n = 0;
    for (int i = 0; s == TRM_DB_OK && i < PQntuples(r) && *n < cap; i++)
        if (trm_db_row(r, i, cols, &out[*n])) /* a peer whose key does not decode is skipped */
            (*n)++;
    PQclear(r);
    return s;
}

enum trm_db_status trm_fed_directory_save(struct trm_db_conn *c, const char *peer, json_t *items,
                                          int package_version)
{
    char *text = json_dumps(items, JSON_COMPACT), version[16];
    if (text == NULL)
        return TRM_DB_ERROR;
    snprintf(version, sizeof version, "%d", package_version);
    const char *p[] = {peer, text}, *v[] = {peer, version}, *ok[] = {peer, "t", "0"};
    /* The directory, the peer's package version and the end of any backoff, with COMMIT, in
     * one round trip. */
    struct trm_db_call calls[] = {
        {&stmt_dir_save, p, NULL}, {&stmt_peer_version, v, NULL}, {&stmt_dir_result, ok, NULL}};
    trm_db_commit_with_next(c);
    enum trm_db_status s = trm_db_exec_batch(c, calls, 3);
    for (int i = 0; i < 3; i++)
        PQclear(calls[i].result);
    free(text);
    return s;
}

enum trm_db_status trm_fed_directory_failed(struct trm_db_conn *c, const char *peer, unsigned max_s,
                                            unsigned *failures, unsigned *retry_in_s)
{
    char max[16];
    snprintf(max, sizeof max, "%u", max_s);
    const char *p[] = {peer, "f", max};
    struct result {
        unsigned failures, retry_in_s;
    } x = {0};
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_UINT, struct result, failures),
        TRM_DB_FIELD(TRM_DB_UINT, struct result, retry_in_s),
        {0},
    };
    enum trm_db_status s = trm_db_get(c, &stmt_dir_result, p, cols, &x);
    *failures = x.failures;
    *retry_in_s = x.retry_in_s;
    return s == TRM_DB_NOT_FOUND ? TRM_DB_OK : s;
}
