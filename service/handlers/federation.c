/* /v1/federation: what other trm instances talk to. The identity (public keys) is public;
 * the agency directory needs a request signed by a registered peer; the inbox takes
 * packages that carry their own signature. None of them uses bearer tokens: peers are
 * instances, not users. */
#include "handlers.h"

#include "trm/federation.h"
#include "trm/federation_ops.h"
#include "trm/federation_store.h"
#include "trm/handover.h"
#include "trm/http_util.h"
#include "trm/util.h"

#include <string.h>

struct identity_args {
    struct trm_fed_identity me;
    json_t *agencies; /* NULL: not asked */
    bool want_agencies;
};

static void identity_free(void *state)
{
    struct identity_args *x = state;
    json_decref(x->agencies);
}

static enum trm_db_status identity_tx(struct trm_db_conn *c, void *arg)
{
    struct identity_args *x = arg;
    enum trm_db_status st = trm_fed_identity_get(c, &x->me);
    if (st == TRM_DB_OK && x->want_agencies) {
        json_decref(x->agencies);
        x->agencies = NULL;
        st = trm_fed_local_agencies(c, &x->agencies);
    }
    return st;
}

static const struct trm_outcome identity_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_FEDERATION_DISABLED,
             "This instance has no federation identity (trmctl instance init)."),
    TRM_WHEN_END,
};

/* Reads of one row each, for peers: no transaction. */
static const struct trm_tx identity_read = {
    .fn = identity_tx, .outcomes = identity_outcomes, .single_statements = true};

TRM_HANDLER(trm_handle_federation_identity)
{
    struct identity_args *x = trm_handler_state(req, sizeof *x, identity_free);
    uint8_t sign_pk[TRM_FED_KEY_BYTES], box_pk[TRM_FED_KEY_BYTES];
    char sign_hex[2 * TRM_FED_KEY_BYTES + 1], box_hex[2 * TRM_FED_KEY_BYTES + 1], key_id[17];
    if (x == NULL || !trm_handler_tx(app, req, res, &identity_read, x))
        return;
    const struct trm_keyring *kr = trm_app_keys(app);
    if (!trm_fed_box_public(kr, box_pk)) {
        trm_response_problem(res, req, TRM_E_FEDERATION_DISABLED,
                             "The key file has no box key (trmctl instance init).");
        return;
    }
    trm_signing_public(kr, sign_pk, key_id);
    trm_hex_encode(sign_pk, sizeof sign_pk, sign_hex);
    trm_hex_encode(box_pk, sizeof box_pk, box_hex);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "instance_id", x->me.instance_id, "country",
                  x->me.country, "signing_key", sign_hex, "box_key", box_hex, "key_id", key_id,
                  "url", x->me.url[0] ? json_string(x->me.url) : json_null());
    trm_response_json(res, 200, body);
}

TRM_HANDLER(trm_handle_federation_agencies)
{
    char why[160];
    if (!trm_fed_request_verify(app, req->method, req->path,
                                trm_request_header(req, "Trm-Instance"),
                                trm_request_header(req, "Trm-Time"),
                                trm_request_header(req, "Trm-Signature"), why, sizeof why)) {
        trm_response_problem(res, req, TRM_E_PEER_UNAUTHENTICATED, why);
        return;
    }
    struct identity_args *x = trm_handler_state(req, sizeof *x, identity_free);
    if (x == NULL)
        return;
    x->want_agencies = true;
    if (!trm_handler_tx(app, req, res, &identity_read, x))
        return;
    /* package_versions: the package versions we read (a peer sends version 2 or 3 only
     * then). */
    json_t *body = json_pack("{s:s, s:O, s:[i,i,i]}", "instance_id", x->me.instance_id, "items",
                             x->agencies, "package_versions", 1, 2, TRM_FED_VERSION_MAX);
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (text == NULL)
        return;
    /* The answer is signed for this request: the exact body, us, them, their Trm-Time. */
    uint8_t sig[TRM_FED_SIG_BYTES];
    char sig_hex[2 * TRM_FED_SIG_BYTES + 1];
    trm_fed_sign_directory(trm_app_keys(app), text, strlen(text), x->me.instance_id,
                           trm_request_header(req, "Trm-Instance"),
                           trm_request_header(req, "Trm-Time"), sig);
    trm_hex_encode(sig, sizeof sig, sig_hex);
    trm_response_text(res, 200, "application/json", text, strlen(text));
    trm_response_set_header(res, "Trm-Signature", sig_hex);
}

static const enum trm_error inbox_errors[] = {
    [TRM_FED_IN_INVALID] = TRM_E_INVALID_PACKAGE,
    [TRM_FED_IN_UNKNOWN_PEER] = TRM_E_UNKNOWN_PEER,
    [TRM_FED_IN_BAD_SIGNATURE] = TRM_E_BAD_SIGNATURE,
    [TRM_FED_IN_MISDIRECTED] = TRM_E_MISDIRECTED,
    [TRM_FED_IN_EXPIRED] = TRM_E_PACKAGE_EXPIRED,
    [TRM_FED_IN_REPLAYED] = TRM_E_PACKAGE_REPLAYED,
    [TRM_FED_IN_REFUSED] = TRM_E_PACKAGE_REFUSED,
    [TRM_FED_IN_DISABLED] = TRM_E_FEDERATION_DISABLED,
    [TRM_FED_IN_UNAVAILABLE] = TRM_E_SERVICE_UNAVAILABLE,
    [TRM_FED_IN_ERROR] = TRM_E_INTERNAL,
};

/* The body is a package (docs/federation.md), checked by the federation module; the
 * transaction that stores it is the module's too (it checks the sender first). */
TRM_HANDLER(trm_handle_federation_inbox)
{
    json_error_t e;
    json_t *doc = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL) {
        trm_response_problem(res, req, TRM_E_MALFORMED_JSON, "The body is not a JSON package.");
        return;
    }
    trm_request_keep(req, doc);
    json_t *receipt = NULL;
    char why[200] = "";
    enum trm_fed_inbox_result r = trm_fed_inbox(app, doc, &receipt, why, sizeof why);
    if (r == TRM_FED_IN_OK) {
        trm_response_json(res, 200, receipt);
        return;
    }
    trm_response_problem(res, req, inbox_errors[r], why[0] ? why : "The package was not stored.");
    if (r == TRM_FED_IN_UNAVAILABLE)
        trm_response_set_header(res, "Retry-After", "2");
}
