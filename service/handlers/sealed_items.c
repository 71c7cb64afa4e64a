/* Opening the sealed parts of a list of a case's records (services' notes, plans' goals) for
 * the caller: the store gives a part's hex only to a caller who may open it (the writing
 * agency, or a holder of an active grant of its category), and this opens it with the case's
 * key, says "content_visible" either way, and writes the categories opened to the access log
 * in the same transaction. The hex never leaves. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/cases.h"

#include <string.h>

static bool has_word(json_t *words, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v) if (strcmp(json_string_value(v), w) == 0) return true;
    return false;
}

static void open_one(const struct trm_sealed_items *k, const unsigned char *dek, unsigned version,
                     json_t *item, json_t *opened)
{
    const char *cat = json_string_value(json_object_get(item, k->category_member));
    const char *hex = json_string_value(json_object_get(item, k->sealed_member));
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *v =
        dek && hex && id ? trm_open_json(dek, k->case_id, k->label, id, version, hex) : NULL;
    if (cat)
        json_object_set_new(item, "content_visible", json_boolean(v != NULL));
    if (v) {
        json_object_set(item, k->into, v);
        if (!has_word(opened, cat))
            json_array_append_new(opened, json_string(cat));
    }
    json_decref(v);
    json_object_del(item, k->sealed_member);
}

enum trm_db_status trm_open_sealed_items(struct trm_db_conn *c, const struct trm_sealed_items *k,
                                         json_t *items)
{
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    enum trm_db_status st;
    bool any = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) any =
        any || json_is_string(json_object_get(it, k->sealed_member));
    unsigned char *dek =
        any ? trm_case_dek(c, k->keys, k->case_id, NULL, &version, &outcome, &st) : NULL;
    if (any && dek == NULL && st != TRM_DB_REFUSED)
        return st;
    json_t *opened = json_array();
    json_array_foreach(items, i, it) open_one(k, dek, version, it, opened);
    trm_dek_free(dek);
    st = json_array_size(opened) > 0
             ? trm_access_log_add(c, k->case_id, opened, "case_view", k->request_id)
             : TRM_DB_OK;
    json_decref(opened);
    return st;
}
