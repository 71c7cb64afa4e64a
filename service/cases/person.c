/* The person's data: which categories and fields exist, how each is sealed (its JSON text,
 * under the case's data key) and opened, and which blind indexes it feeds. */
#include "trm/cases.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const trm_case_categories[] = {
    "identity", "contact", "health", "narrative", "exploitation_details", NULL};
const char *const trm_case_sexes[] = {"female", "male", "other", "unknown", NULL};
const char *const trm_case_age_bands[] = {"0-8",   "9-17",  "18-20", "21-23",   "24-26", "27-29",
                                          "30-38", "39-47", "48+",   "unknown", NULL};
const char *const trm_case_exploitation_forms[] = {"sexual",
                                                   "labour",
                                                   "forced_criminality",
                                                   "begging",
                                                   "domestic_servitude",
                                                   "forced_marriage",
                                                   "organ_removal",
                                                   "other",
                                                   NULL};
static const char *const document_types[] = {
    "passport", "id_card", "residence_permit", "travel_document", "birth_certificate",
    "other",    NULL};

static const struct trm_field document_spec[] = {
    TRM_F_ENUM("type", NULL, document_types, TRM_REQUIRED),
    TRM_F_TEXT("number", NULL, 64, TRM_REQUIRED),
    TRM_F_COUNTRY("country", NULL),
    TRM_F_END,
};
static const struct trm_field identity_spec[] = {
    TRM_F_TEXT("full_name", NULL, TRM_PERSON_NAME_MAX, .nullable = true),
    TRM_F_STRINGS("aliases", NULL, 20, .nullable = true),
    TRM_F_DATE("date_of_birth", NULL, .nullable = true),
    TRM_F_OBJECTS("documents", NULL, 10, document_spec, .nullable = true),
    TRM_F_END,
};
static const struct trm_field contact_spec[] = {
    TRM_F_TEXT("phone", NULL, 40, .nullable = true),
    TRM_F_TEXT("address", NULL, TRM_SHORT_TEXT_MAX, .nullable = true),
    TRM_F_TEXT("current_location", NULL, TRM_SHORT_TEXT_MAX, .nullable = true),
    TRM_F_END,
};
static const struct trm_field health_spec[] = {
    TRM_F_TEXT("notes", NULL, TRM_TEXT_MAX, .nullable = true),
    TRM_F_STRINGS("vulnerabilities", NULL, 20, .nullable = true),
    TRM_F_END,
};
static const struct trm_field narrative_spec[] = {
    TRM_F_TEXT("statement", NULL, 20000, .nullable = true),
    TRM_F_END,
};
static const struct trm_field exploitation_spec[] = {
    TRM_F_TEXT("recruitment", NULL, TRM_TEXT_MAX, .nullable = true),
    TRM_F_STRINGS("means_of_control", NULL, 20, .nullable = true),
    TRM_F_STRINGS("places", NULL, 20, .nullable = true),
    TRM_F_STRINGS("dates", NULL, 20, .nullable = true),
    TRM_F_END,
};
const struct trm_field trm_person_spec[] = {
    TRM_F_OBJECT("identity", NULL, identity_spec),
    TRM_F_OBJECT("contact", NULL, contact_spec),
    TRM_F_OBJECT("health", NULL, health_spec),
    TRM_F_OBJECT("narrative", NULL, narrative_spec),
    TRM_F_OBJECT("exploitation_details", NULL, exploitation_spec),
    TRM_F_END,
};

/* The canonical category and field name strings (static storage). */
static bool field_names(const char *category, const char *field, const char **cat_out,
                        const char **field_out)
{
    for (const struct trm_field *c = trm_person_spec; c->name; c++) {
        if (strcmp(c->name, category) != 0)
            continue;
        for (const struct trm_field *f = c->fields; f->name; f++) {
            if (strcmp(f->name, field) == 0) {
                *cat_out = c->name;
                *field_out = f->name;
                return true;
            }
        }
    }
    return false;
}

static void add_index(struct trm_sealed_person *sp, const struct trm_keyring *kr,
                      enum trm_blind_kind kind, const char *value, unsigned bits)
{
    if (sp->n_index == sizeof sp->index_values / sizeof sp->index_values[0])
        return;
    char *norm = trm_normalize(value);
    if (norm == NULL || norm[0] == '\0') {
        free(norm);
        return;
    }
    sp->index_kinds[sp->n_index] = kind;
    sp->index_values[sp->n_index++] = trm_blind_index(kr, kind, norm, bits);
    sodium_memzero(norm, strlen(norm));
    free(norm);
}

/* Name, name with birth year, and each document number. */
static void index_identity(struct trm_sealed_person *sp, const struct trm_keyring *kr,
                           json_t *identity, unsigned bits)
{
    const char *name = json_string_value(json_object_get(identity, "full_name"));
    const char *dob = json_string_value(json_object_get(identity, "date_of_birth"));
    if (name) {
        add_index(sp, kr, TRM_BLIND_NAME, name, bits);
        if (dob) {
            char with_year[260];
            snprintf(with_year, sizeof with_year, "%s|%.4s", name, dob);
            add_index(sp, kr, TRM_BLIND_NAME_BIRTH_YEAR, with_year, bits);
            sodium_memzero(with_year, sizeof with_year);
        }
    }
    size_t i;
    json_t *doc;
    json_array_foreach(json_object_get(identity, "documents"), i, doc)
    {
        const char *number = json_string_value(json_object_get(doc, "number"));
        if (number)
            add_index(sp, kr, TRM_BLIND_DOCUMENT, number, bits);
    }
}

bool trm_person_seal(const struct trm_keyring *kr, const unsigned char *dek, const char *case_id,
                     unsigned dek_version, json_t *person, unsigned bits,
                     struct trm_sealed_person *out)
{
    memset(out, 0, sizeof *out);
    const char *cat_name;
    json_t *cat;
    json_object_foreach(person, cat_name, cat)
    {
        const char *field_name;
        json_t *value;
        json_object_foreach(cat, field_name, value)
        {
            const char *c, *f;
            if (json_is_null(value) || !field_names(cat_name, field_name, &c, &f) ||
                out->n == sizeof out->fields / sizeof out->fields[0])
                continue;
            /* A field that cannot be sealed fails the whole request: never drop it. */
            char *hex = trm_seal_json(dek, case_id, c, f, dek_version, value);
            if (hex == NULL)
                return false;
            out->fields[out->n++] = (struct trm_sealed_field){c, f, hex};
        }
        if (strcmp(cat_name, "identity") == 0)
            index_identity(out, kr, cat, bits);
    }
    return true;
}

void trm_sealed_person_free(struct trm_sealed_person *sp)
{
    for (size_t i = 0; i < sp->n; i++)
        free(sp->fields[i].hex);
    sp->n = 0;
}

static bool allowed_category(const char *category, const char *const *allowed)
{
    if (allowed == NULL)
        return true;
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(allowed[i], category) == 0)
            return true;
    return false;
}

/* Opens one "category.field" into person. */
static bool open_field(json_t *person, const unsigned char *dek, const char *case_id,
                       unsigned dek_version, const char *name, const char *hex,
                       const char *const *allowed)
{
    char category[48];
    const char *dot = strchr(name, '.');
    if (dot == NULL || (size_t)(dot - name) >= sizeof category)
        return false;
    memcpy(category, name, (size_t)(dot - name));
    category[dot - name] = '\0';
    if (!allowed_category(category, allowed))
        return true;
    json_t *value = trm_open_json(dek, case_id, category, dot + 1, dek_version, hex);
    if (value == NULL)
        return false;
    json_t *cat = json_object_get(person, category);
    if (cat == NULL) {
        cat = json_object();
        json_object_set_new(person, category, cat);
    }
    json_object_set_new(cat, dot + 1, value);
    return true;
}

json_t *trm_person_open(const unsigned char *dek, const char *case_id, unsigned dek_version,
                        json_t *sealed_fields, const char *const *allowed)
{
    json_t *person = json_object();
    const char *name;
    json_t *hex;
    json_object_foreach(sealed_fields, name, hex)
    {
        if (!open_field(person, dek, case_id, dek_version, name, json_string_value(hex), allowed)) {
            json_decref(person);
            return NULL;
        }
    }
    return person;
}

size_t trm_person_search_index(const struct trm_keyring *kr, const char *full_name, long birth_year,
                               const char *document_number, unsigned bits, int *kinds,
                               uint32_t *values)
{
    struct trm_sealed_person sp = {0};
    if (full_name) {
        add_index(&sp, kr, TRM_BLIND_NAME, full_name, bits);
        if (birth_year > 0) {
            char with_year[260];
            snprintf(with_year, sizeof with_year, "%s|%04ld", full_name, birth_year);
            add_index(&sp, kr, TRM_BLIND_NAME_BIRTH_YEAR, with_year, bits);
            sodium_memzero(with_year, sizeof with_year);
        }
    }
    if (document_number)
        add_index(&sp, kr, TRM_BLIND_DOCUMENT, document_number, bits);
    for (size_t i = 0; i < sp.n_index; i++) {
        kinds[i] = sp.index_kinds[i];
        values[i] = sp.index_values[i];
    }
    return sp.n_index;
}
