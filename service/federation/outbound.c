/* Packages this instance sends: an offer of a case to a peer's agency (the consented
 * categories, opened with the case key and sealed to the peer), and the answers to offers
 * that crossed instances. Both are built and queued inside the user's transaction, so an
 * offer or answer and its package are written together or not at all. Accepting an incoming
 * offer turns its payload into a local case with its own data key. */
#include "trm/federation_ops.h"
#include "trm/cases.h"
#include "trm/federation.h"
#include "trm/federation_store.h"
#include "trm/referral_store.h"
#include "trm/log.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *ctx_str(json_t *ctx, const char *key)
{
    const char *v = json_string_value(json_object_get(ctx, key));
    return v ? v : "";
}

static bool ctx_key(json_t *ctx, const char *name, uint8_t out[TRM_FED_KEY_BYTES])
{
    const char *hex = ctx_str(ctx, name);
    return strlen(hex) == 2 * TRM_FED_KEY_BYTES && trm_hex_decode(hex, out, TRM_FED_KEY_BYTES);
}

const char *trm_fed_block_name(enum trm_fed_block block)
{
    return block == TRM_FED_PEER_INACTIVE         ? "peer_inactive"
           : block == TRM_FED_NOT_SET_UP          ? "federation_disabled"
           : block == TRM_FED_DOCUMENTS_TOO_LARGE ? "documents_too_large"
                                                  : "travels";
}

/* Whether the referral can travel now; *block names the reason when not. */
static bool ready(json_t *ctx, const struct trm_keyring *kr, enum trm_fed_block *block)
{
    uint8_t pk[TRM_FED_KEY_BYTES];
    if (*ctx_str(ctx, "instance_id") == '\0' || !trm_fed_box_public(kr, pk))
        *block = TRM_FED_NOT_SET_UP;
    else if (!json_is_true(json_object_get(ctx, "peer_active")))
        *block = TRM_FED_PEER_INACTIVE;
    else
        return true;
    return false;
}

/* Whether the peer's directory said it reads version-2 packages (the case reference). */
static bool peer_reads_v2(json_t *ctx)
{
    return json_integer_value(json_object_get(ctx, "peer_package_version")) >= 2;
}

/* Whether it reads version-3 packages (an offer's documents in its payload). */
static bool peer_reads_v3(json_t *ctx)
{
    return json_integer_value(json_object_get(ctx, "peer_package_version")) >= 3;
}

/* The header fields shared by offers and answers, from the context. */
static void header_common(struct trm_fed_header *h, json_t *ctx, const char *package_id,
                          const char *type, const char *created_at)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; i < TRM_FED__NFIELDS; i++)
        h->v[i] = "";
    h->v[TRM_FED_PACKAGE_ID] = package_id;
    h->v[TRM_FED_TYPE] = type;
    h->v[TRM_FED_SENDER_INSTANCE] = ctx_str(ctx, "instance_id");
    h->v[TRM_FED_SENDER_AGENCY_ID] = ctx_str(ctx, "local_agency_id");
    h->v[TRM_FED_SENDER_AGENCY_NAME] = ctx_str(ctx, "local_agency_name");
    h->v[TRM_FED_SENDER_AGENCY_KIND] = ctx_str(ctx, "local_agency_kind");
    h->v[TRM_FED_SENDER_COUNTRY] = ctx_str(ctx, "local_country");
    h->v[TRM_FED_RECIPIENT_INSTANCE] = ctx_str(ctx, "peer_instance");
    h->v[TRM_FED_RECIPIENT_AGENCY_ID] = ctx_str(ctx, "remote_agency_id");
    h->v[TRM_FED_REFERRAL_ID] = ctx_str(ctx, "referral_id");
    h->v[TRM_FED_KIND] = ctx_str(ctx, "kind");
    h->v[TRM_FED_CATEGORIES] = ctx_str(ctx, "categories");
    h->v[TRM_FED_LEGAL_BASIS] = ctx_str(ctx, "legal_basis");
    h->v[TRM_FED_HANDLING_CODE] = ctx_str(ctx, "handling_code");
    h->v[TRM_FED_CREATED_AT] = created_at;
}

static enum trm_db_status sign_and_queue(struct trm_db_conn *c, const struct trm_keyring *kr,
                                         const struct trm_fed_header *h, const uint8_t *payload,
                                         size_t len, const char *type)
{
    uint8_t hash[TRM_FED_HASH_BYTES];
    json_t *wire = trm_fed_package_build(kr, h, payload, len, hash);
    if (wire == NULL)
        return TRM_DB_ERROR;
    enum trm_db_status st = trm_fed_queue(c, h->v[TRM_FED_REFERRAL_ID], type, wire, hash);
    json_decref(wire);
    return st;
}

/* The offered categories of the case, opened with its key, the offer's note, and for a peer
 * that reads version 3 the documents of the offered categories: {"package_id", "person",
 * "note"?, "note_category"?, "documents"?}. The read is written to the access log (purpose
 * federation_offer) with the categories opened, and only those are read; the documents'
 * content is logged as federation_documents. REFUSED with *block when it does not fit. */
static char *offer_payload(struct trm_db_conn *c, struct trm_keyring_source *keys, json_t *ctx,
                           const char *package_id, const char *note, const char *request_id,
                           struct trm_case_summary *summary, enum trm_db_status *st,
                           enum trm_fed_block *block)
{
    struct trm_case_record rec = {0};
    const char *allowed[TRM_CASE_CATEGORIES + 1] = {0};
    char cats[128];
    trm_strlcpy(cats, ctx_str(ctx, "categories"), sizeof cats);
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(cats, ",", &save); t && n < TRM_CASE_CATEGORIES;
         t = strtok_r(NULL, ",", &save))
        allowed[n++] = t;
    *st = trm_case_read(c, ctx_str(ctx, "case_id"), request_id, "federation_offer", allowed, &rec);
    if (*st != TRM_DB_OK)
        return NULL;
    *summary = rec.summary;
    json_t *person = n == 0 ? json_object() : trm_case_record_open(keys, &rec, allowed);
    trm_case_record_free(&rec);
    json_t *docs = NULL;
    bool too_large = false;
    if (person != NULL && n > 0 && peer_reads_v3(ctx))
        *st = trm_fed_documents_pack(c, keys, ctx_str(ctx, "case_id"), allowed, request_id, &docs,
                                     &too_large);
    char *text = NULL;
    if (person != NULL && *st == TRM_DB_OK) {
        json_t *payload = json_pack("{s:s, s:o}", "package_id", package_id, "person", person);
        person = NULL;
        if (note)
            json_object_set_new(payload, "note", json_string(note));
        if (note)
            json_object_set_new(payload, "note_category",
                                json_string(ctx_str(ctx, "note_category")));
        if (docs)
            json_object_set(payload, "documents", docs);
        text = json_dumps(payload, JSON_COMPACT);
        json_decref(payload);
        /* With its box, the payload must fit what a receiver takes. */
        if (text &&
            strlen(text) + crypto_box_NONCEBYTES + crypto_box_MACBYTES > TRM_FED_PAYLOAD_MAX) {
            sodium_memzero(text, strlen(text));
            free(text);
            text = NULL;
            too_large = true;
        }
    }
    json_decref(person);
    json_decref(docs);
    if (too_large) {
        *block = TRM_FED_DOCUMENTS_TOO_LARGE;
        *st = TRM_DB_REFUSED;
        return NULL;
    }
    if (*st == TRM_DB_OK && text == NULL)
        *st = TRM_DB_ERROR;
    return text;
}

/* "{labour,sexual}" (an array as PostgreSQL prints it) to "labour,sexual". */
static void array_words(const char *pg, char *out, size_t cap)
{
    trm_strlcpy(out, pg[0] == '{' ? pg + 1 : pg, cap);
    out[strcspn(out, "}")] = '\0';
}

enum trm_db_status trm_fed_offer_outbound(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                          const char *referral_id, const char *note,
                                          const char *request_id, enum trm_fed_block *block)
{
    *block = TRM_FED_TRAVELS;
    json_t *ctx = NULL;
    enum trm_db_status st = trm_fed_context(c, referral_id, &ctx);
    if (st != TRM_DB_OK)
        return st;
    const struct trm_keyring *kr = trm_keyring_source_get(keys);
    uint8_t peer_box[TRM_FED_KEY_BYTES];
    char package_id[TRM_UUID_STR_LEN + 1], now[32], forms[200];
    struct trm_case_summary summary;
    char *plain = NULL;
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    if (!ready(ctx, kr, block) || !ctx_key(ctx, "peer_box_key", peer_box)) {
        st = TRM_DB_REFUSED;
        goto out;
    }
    trm_uuid_v4(package_id);
    plain = offer_payload(c, keys, ctx, package_id, note, request_id, &summary, &st, block);
    if (plain == NULL)
        goto out;
    if (!trm_fed_seal(kr, peer_box, plain, strlen(plain), &sealed, &sealed_len)) {
        st = TRM_DB_ERROR;
        goto out;
    }
    trm_time_rfc3339(time(NULL), now);
    array_words(summary.forms, forms, sizeof forms);
    struct trm_fed_header h;
    header_common(&h, ctx, package_id, "offer", now);
    h.v[TRM_FED_CASE_ID] = ctx_str(ctx, "case_id");
    h.v[TRM_FED_PURPOSE] = ctx_str(ctx, "purpose");
    h.v[TRM_FED_URGENCY] = ctx_str(ctx, "urgency");
    h.v[TRM_FED_CONSENT_ID] = ctx_str(ctx, "consent_id");
    h.v[TRM_FED_SEX] = summary.sex;
    h.v[TRM_FED_AGE_BAND] = summary.age_band;
    h.v[TRM_FED_CITIZENSHIP] = summary.citizenship;
    h.v[TRM_FED_EXPLOITATION_FORMS] = forms;
    h.v[TRM_FED_IDENTIFIED_MONTH] = summary.identified_month;
    h.v[TRM_FED_EXPIRES_AT] = ctx_str(ctx, "expires_at");
    if (peer_reads_v2(ctx)) {
        h.version = peer_reads_v3(ctx) ? 3 : 2;
        h.v[TRM_FED_CASE_REFERENCE] = summary.reference;
    }
    st = sign_and_queue(c, kr, &h, sealed, sealed_len, "offer");
out:
    if (plain) {
        sodium_memzero(plain, strlen(plain));
        free(plain);
    }
    free(sealed);
    json_decref(ctx);
    return st;
}

/* The payload of the incoming offer this referral came in, opened: {"person", "note"?}. */
static json_t *open_offer(json_t *ctx, const struct trm_keyring *kr)
{
    struct trm_fed_package pkg;
    uint8_t peer_box[TRM_FED_KEY_BYTES];
    char why[160];
    if (!ctx_key(ctx, "peer_box_key", peer_box) ||
        !trm_fed_package_parse(json_object_get(ctx, "offer_package"), &pkg, why, sizeof why))
        return NULL;
    json_t *payload = NULL;
    char *plain = pkg.payload ? trm_fed_open(kr, peer_box, pkg.payload, pkg.payload_len) : NULL;
    if (plain != NULL) {
        payload = json_loads(plain, JSON_REJECT_DUPLICATES, NULL);
        sodium_memzero(plain, strlen(plain));
        free(plain);
    }
    json_t *person = json_object_get(payload, "person");
    json_t *errors = json_array();
    bool ok = json_is_object(person) &&
              json_equal(json_object_get(payload, "package_id"),
                         json_object_get(json_object_get(pkg.doc, "header"), "package_id")) &&
              trm_json_check(person, trm_person_spec, "/person", errors);
    json_decref(errors);
    if (!ok) {
        json_decref(payload);
        payload = NULL;
    }
    trm_fed_package_free(&pkg);
    return payload;
}

enum trm_db_status trm_fed_offer_interpreter(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                             const char *referral_id, const char *request_id,
                                             json_t **out)
{
    json_t *ctx = NULL;
    *out = NULL;
    enum trm_db_status st = trm_fed_context(c, referral_id, &ctx);
    if (st != TRM_DB_OK)
        return st == TRM_DB_NOT_FOUND ? TRM_DB_OK : st;
    json_t *payload = json_is_true(json_object_get(ctx, "incoming"))
                          ? open_offer(ctx, trm_keyring_source_get(keys))
                          : NULL;
    json_t *extract =
        trm_person_interpreter(json_object_get(json_object_get(payload, "person"), "contact"));
    bool logged = false;
    if (extract)
        st = trm_referral_interpreter_logged(c, referral_id, request_id, &logged);
    if (logged)
        *out = json_incref(extract);
    json_decref(extract);
    json_decref(payload);
    json_decref(ctx);
    return st;
}

/* The statistical fields of the local case come from the offer's header. */
static json_t *offer_header(json_t *ctx)
{
    return json_object_get(json_object_get(ctx, "offer_package"), "header");
}

static json_t *forms_array(const char *words)
{
    json_t *arr = json_array();
    char buf[200];
    char *save = NULL;
    trm_strlcpy(buf, words, sizeof buf);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_string(t));
    return arr;
}

/* The note that came with an offer, sealed under the new local case's key as the referral's
 * note (the recipient opens it like one written here). */
static enum trm_db_status seal_received_note(struct trm_db_conn *c, const struct trm_keyring *kr,
                                             const unsigned char *dek, const char *case_id,
                                             json_t *ctx, json_t *payload, char **hex)
{
    (void)c;
    (void)kr;
    json_t *note = json_object_get(payload, "note");
    char name[80];
    *hex = NULL;
    if (!json_is_string(note))
        return TRM_DB_OK;
    snprintf(name, sizeof name, "%s.note", ctx_str(ctx, "referral_id"));
    *hex = trm_seal_json(dek, case_id, "referrals", name, TRM_CASE_FIRST_DEK_VERSION, note);
    return *hex ? TRM_DB_OK : TRM_DB_ERROR;
}

/* Accepting an incoming offer: a local case of our agency, under our country's SOP, with
 * its own data key and exactly the payload's categories. */
static enum trm_db_status create_local_case(struct trm_db_conn *c, const struct trm_keyring *kr,
                                            json_t *ctx, unsigned bits,
                                            char case_id[TRM_UUID_STR_LEN + 1], char reference[24])
{
    json_t *payload = open_offer(ctx, kr), *hdr = offer_header(ctx);
    if (payload == NULL) {
        trm_log(TRM_LOG_ERROR, "federation_payload_unusable",
                "the payload of an accepted offer does not open or is not a person");
        return TRM_DB_ERROR;
    }
    struct trm_case_sealed_new sealed;
    trm_uuid_v4(case_id);
    enum trm_db_status st = TRM_DB_ERROR;
    json_t *forms = forms_array(json_string_value(json_object_get(hdr, "exploitation_forms")));
    if (trm_case_seal_new(kr, case_id, json_object_get(payload, "person"), bits, true, &sealed)) {
        struct trm_case_new n = {
            case_id,
            ctx_str(ctx, "local_country"),
            json_string_value(json_object_get(hdr, "sex")),
            json_string_value(json_object_get(hdr, "age_band")),
            json_string_value(json_object_get(hdr, "citizenship")),
            json_string_value(json_object_get(hdr, "identified_month")),
            forms,
            sealed.kek_id,
            sealed.wrapped,
            &sealed.person,
            bits,
            NULL, /* the region and sector are of the sending country's lists */
            NULL,
        };
        struct trm_case_summary summary;
        st = trm_case_insert(c, &n, &summary);
        if (st == TRM_DB_OK)
            trm_strlcpy(reference, summary.reference, 24);
        char *note = NULL;
        if (st == TRM_DB_OK)
            st = seal_received_note(c, kr, sealed.dek, case_id, ctx, payload, &note);
        if (st == TRM_DB_OK)
            st = trm_fed_link_case(c, ctx_str(ctx, "referral_id"), case_id, note,
                                   json_string_value(json_object_get(payload, "note_category")));
        free(note);
        /* The documents that came with it (checked when the offer arrived) become the local
         * case's, under its key: before the acceptance leaves, so a transfer's sender erases
         * its own only once they are here. */
        json_t *docs = json_object_get(payload, "documents");
        if (st == TRM_DB_OK && docs != NULL) {
            const char *cats[TRM_CASE_CATEGORIES + 1] = {0};
            char words[128];
            char *save = NULL;
            size_t k = 0;
            trm_strlcpy(words, json_string_value(json_object_get(hdr, "categories")), sizeof words);
            for (char *t = strtok_r(words, ",", &save); t && k < TRM_CASE_CATEGORIES;
                 t = strtok_r(NULL, ",", &save))
                cats[k++] = t;
            st = trm_fed_documents_store(c, sealed.dek, TRM_CASE_FIRST_DEK_VERSION, case_id, docs,
                                         cats);
        }
    }
    trm_case_sealed_new_free(&sealed);
    json_decref(forms);
    json_decref(payload);
    return st;
}

/* An answer's reason, sealed to the peer: {"package_id", "reason"} (NULL: no payload). */
static bool answer_payload(const struct trm_keyring *kr, json_t *ctx, const char *package_id,
                           const char *reason, uint8_t **sealed, size_t *len)
{
    uint8_t peer_box[TRM_FED_KEY_BYTES];
    *sealed = NULL;
    *len = 0;
    if (reason == NULL)
        return true;
    json_t *payload = json_pack("{s:s, s:s}", "package_id", package_id, "reason", reason);
    char *text = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    bool ok = text && ctx_key(ctx, "peer_box_key", peer_box) &&
              trm_fed_seal(kr, peer_box, text, strlen(text), sealed, len);
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    return ok;
}

enum trm_db_status trm_fed_answer_outbound(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                           const char *referral_id, const char *action,
                                           const char *reason, unsigned index_bits,
                                           char new_case_id[TRM_UUID_STR_LEN + 1],
                                           enum trm_fed_block *block)
{
    json_t *ctx = NULL;
    new_case_id[0] = '\0';
    *block = TRM_FED_TRAVELS;
    enum trm_db_status st = trm_fed_context(c, referral_id, &ctx);
    if (st == TRM_DB_NOT_FOUND)
        return TRM_DB_OK; /* within this instance: nothing travels */
    if (st != TRM_DB_OK)
        return st;
    const struct trm_keyring *kr = trm_keyring_source_get(keys);
    char package_id[TRM_UUID_STR_LEN + 1], now[32], reference[24] = "";
    if (!ready(ctx, kr, block)) {
        st = TRM_DB_REFUSED;
    } else {
        st = TRM_DB_OK;
        if (strcmp(action, "accept") == 0 && json_is_true(json_object_get(ctx, "incoming")))
            st = create_local_case(c, kr, ctx, index_bits, new_case_id, reference);
        if (st == TRM_DB_OK) {
            struct trm_fed_header h;
            trm_uuid_v4(package_id);
            trm_time_rfc3339(time(NULL), now);
            header_common(&h, ctx, package_id, "answer", now);
            h.v[TRM_FED_ACTION] = action;
            h.v[TRM_FED_IN_REPLY_TO] = ctx_str(ctx, "package_id");
            /* An acceptance names the case the offer became here (not personal data). */
            h.v[TRM_FED_CASE_ID] = new_case_id;
            if (reference[0] && peer_reads_v2(ctx)) {
                h.version = 2;
                h.v[TRM_FED_CASE_REFERENCE] = reference;
            }
            uint8_t *sealed = NULL;
            size_t len = 0;
            st = answer_payload(kr, ctx, package_id, reason, &sealed, &len)
                     ? sign_and_queue(c, kr, &h, sealed, len, "answer")
                     : TRM_DB_ERROR;
            free(sealed);
        }
    }
    json_decref(ctx);
    return st;
}

/* Queues one answer package per referral id of ids (action as named), skipping peers that
 * cannot be told now (logged). */
static enum trm_db_status tell_each(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                    json_t *ids, const char *action)
{
    size_t i;
    json_t *v;
    enum trm_db_status st = TRM_DB_OK;
    json_array_foreach(ids, i, v)
    {
        char no_case[TRM_UUID_STR_LEN + 1];
        enum trm_fed_block block;
        st = trm_fed_answer_outbound(c, keys, json_string_value(v), action, NULL, 0, no_case,
                                     &block);
        if (st == TRM_DB_REFUSED) {
            trm_log(TRM_LOG_WARN, "federation_consent_end_not_sent", "referral %s (%s): %s",
                    json_string_value(v), action, trm_fed_block_name(block));
            st = TRM_DB_OK;
        }
        if (st != TRM_DB_OK)
            break;
    }
    return st;
}

enum trm_db_status trm_fed_consent_ended(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                         json_t *crossing)
{
    enum trm_db_status st = tell_each(c, keys, json_object_get(crossing, "withdrawn"), "withdraw");
    return st == TRM_DB_OK
               ? tell_each(c, keys, json_object_get(crossing, "ended"), "consent_withdrawal")
               : st;
}
