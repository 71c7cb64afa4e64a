/* POST /v1/cases/{id}/subject-access: the person's right of access (GDPR Art. 15; Directive
 * 2016/680 Art. 14). A coordinator of the agency owning the case, giving a reason, gets one
 * bundle of everything trm holds about the person: the case's statistical fields, the
 * personal data opened, consents, assessments, screenings, guardians, the timeline with its
 * notes, the handover log's entries (recipients and dates), the access log (who read what,
 * when, why) and the documents, each with its content. JSON, or with Accept: text/html a
 * printable page in the person's language where labels exist (en, sv, tl), which lists the
 * documents without their content. The export is itself an access-log entry (purpose
 * subject_access; one more for each document's content) and a timeline entry, in the
 * transaction that reads the bundle.
 *
 * The documents' content (up to case_documents_max_bytes) is never held whole: the JSON
 * answer is streamed (a trm_body_source, as a document's content is) with each content as
 * base64 read chunk by chunk, each chunk in its own transaction as the caller, through one
 * document reader aimed at one document after the other. Its length is known before the
 * first byte (the rest of the bundle is written first; base64 has a fixed length), so the
 * answer carries a Content-Length; a chunk that cannot be read cuts the answer off. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/assessment_store.h"
#include "trm/cases.h"
#include "trm/consent_store.h"
#include "trm/crypto.h"
#include "trm/document_store.h"
#include "trm/documents.h"
#include "trm/event_store.h"
#include "trm/guardian_store.h"
#include "trm/handover_store.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/screening_store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAGE 500 /* timeline and handover entries read at a time */

static const char *const reasons[] = {"requested_by_person", "requested_by_representative",
                                      "supervisory_authority", "other", NULL};
static const char *const languages[] = {"en", "sv", "tl", NULL};

struct subject_access {
    char id[TRM_UUID_STR_LEN + 1];
    const char *reason, *language, *agency_id, *request_id;
    struct trm_keyring_source *keys;
    bool html;
    json_t *bundle;
    json_t *labels; /* the indicator sets' labels in the language: {"code:version": {...}} */
    /* The documents, metadata opened, each with "sealed_key" and "chunks" (for the content);
     * and for the JSON answer with documents, the case's key that opens their keys. */
    json_t *documents;
    unsigned char *dek;
    unsigned dek_version;
};

static void subject_access_free(void *state)
{
    struct subject_access *x = state;
    json_decref(x->bundle);
    json_decref(x->labels);
    json_decref(x->documents);
    trm_dek_free(x->dek);
}

static bool listed(json_t *words, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v) if (strcmp(json_string_value(v), w) == 0) return true;
    return false;
}

/* Opens the sealed member of each item (bound to label and the item's id_member) into into
 * ("": merged into the item); the sealed member goes. The categories opened go to opened. */
static void open_items(json_t *items, const unsigned char *dek, const char *case_id,
                       unsigned version, const char *label, const char *sealed_member,
                       const char *id_member, const char *category_member, const char *into,
                       json_t *opened)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *hex = json_string_value(json_object_get(it, sealed_member));
        const char *name = json_string_value(json_object_get(it, id_member));
        json_t *v =
            dek && hex && name ? trm_open_json(dek, case_id, label, name, version, hex) : NULL;
        if (v && into[0] == '\0' && json_is_object(v))
            json_object_update(it, v);
        else if (v)
            json_object_set(it, into, v);
        const char *cat = json_string_value(json_object_get(it, category_member));
        if (v && cat && !listed(opened, cat))
            json_array_append_new(opened, json_string(cat));
        json_decref(v);
        json_object_del(it, sealed_member);
    }
}

/* Every page of a list read in pages of PAGE after the key `key` of the last item. */
static enum trm_db_status all_events(struct trm_db_conn *c, const char *case_id, json_t *out)
{
    long after = 0;
    for (;;) {
        json_t *page = NULL;
        enum trm_db_status st = trm_case_events(c, case_id, after, PAGE, &page);
        if (st != TRM_DB_OK)
            return st;
        size_t n = json_array_size(page);
        after = (long)json_integer_value(json_object_get(json_array_get(page, n - 1), "id"));
        json_array_extend(out, page);
        json_decref(page);
        if (n < PAGE)
            return TRM_DB_OK;
    }
}

static enum trm_db_status all_handovers(struct trm_db_conn *c, const char *case_id, json_t *out)
{
    struct trm_handover_filter f = {.case_id = case_id, .limit = PAGE};
    for (;;) {
        json_t *page = NULL;
        enum trm_db_status st = trm_handover_list(c, &f, &page);
        if (st != TRM_DB_OK)
            return st;
        size_t n = json_array_size(page);
        f.after_seq = json_integer_value(json_object_get(json_array_get(page, n - 1), "seq"));
        json_array_extend(out, page);
        json_decref(page);
        if (n < PAGE)
            return TRM_DB_OK;
    }
}

/* The records with sealed parts, opened with the case's key. */
static enum trm_db_status opened_records(struct trm_db_conn *c, struct subject_access *x,
                                         const unsigned char *dek, unsigned version, json_t *opened)
{
    json_t *b = x->bundle, *list = NULL, *timeline = json_array();
    json_object_set_new(b, "timeline", timeline);
    enum trm_db_status st = trm_assessment_list(c, x->id, &list);
    if (st == TRM_DB_OK) {
        open_items(list, dek, x->id, version, "assessments", "sealed", "id", "category", "details",
                   opened);
        json_object_set_new(b, "assessments", list);
        list = NULL;
        st = trm_screening_list(c, x->id, &list);
    }
    if (st == TRM_DB_OK) {
        open_items(list, dek, x->id, version, "notes", "note_sealed", "id", "category", "note",
                   opened);
        json_object_set_new(b, "screenings", list);
        list = NULL;
        st = trm_guardian_list(c, x->id, &list);
    }
    if (st == TRM_DB_OK) {
        open_items(list, dek, x->id, version, "guardians", "sealed", "id", "category", "", opened);
        json_object_set_new(b, "guardians", list);
        list = NULL;
        st = all_events(c, x->id, timeline);
    }
    if (st == TRM_DB_OK)
        open_items(timeline, dek, x->id, version, "notes", "sealed_note", "note_id",
                   "note_category", "note", opened);
    json_decref(list);
    return st;
}

/* Whether a stored document's size and number of chunks go together. */
static bool chunks_fit(json_t *doc)
{
    json_int_t chunks = json_integer_value(json_object_get(doc, "chunks"));
    json_int_t size = json_integer_value(json_object_get(doc, "size"));
    return chunks > 0 && size > 0 && (chunks - 1) * (json_int_t)TRM_DOC_CHUNK_BYTES < size &&
           size <= chunks * (json_int_t)TRM_DOC_CHUNK_BYTES;
}

/* Every document of the case the caller sees (all of them: the owner holds every category),
 * oldest first, with its file name and SHA-256 opened. For the JSON answer, which carries
 * their content, each content read is an access-log entry of its own (its category, purpose
 * subject_access), as GET .../content logs one, and the categories go to logged; for the
 * page, which shows only the names, the categories go to opened. */
static enum trm_db_status documents_of(struct trm_db_conn *c, struct subject_access *x,
                                       const unsigned char *dek, unsigned version, json_t *logged,
                                       json_t *opened)
{
    char after_at[40] = "", after_id[TRM_UUID_STR_LEN + 1] = "";
    for (;;) {
        json_t *page = NULL;
        enum trm_db_status st = trm_document_list_sealed(
            c, x->id, after_at[0] ? after_at : NULL, after_id[0] ? after_id : NULL, PAGE, &page);
        if (st != TRM_DB_OK)
            return st;
        size_t i, n = json_array_size(page);
        json_t *d;
        json_array_foreach(page, i, d)
        {
            const char *did = json_string_value(json_object_get(d, "id"));
            const char *cat = json_string_value(json_object_get(d, "category"));
            json_t *meta =
                did && cat && chunks_fit(d)
                    ? trm_document_meta_open(dek, x->id, did, version,
                                             json_string_value(json_object_get(d, "sealed_meta")))
                    : NULL;
            if (meta == NULL) {
                json_decref(page);
                return TRM_DB_ERROR; /* its key is the case's: it opens, or the store is broken */
            }
            json_object_update(d, meta);
            json_decref(meta);
            json_object_del(d, "sealed_meta");
            if (x->html) {
                if (!listed(opened, cat))
                    json_array_append_new(opened, json_string(cat));
                continue;
            }
            json_t *cats = json_pack("[s]", cat);
            st = trm_access_log_add(c, x->id, cats, "subject_access", x->request_id);
            json_decref(cats);
            if (st != TRM_DB_OK) {
                json_decref(page);
                return st;
            }
            if (!listed(logged, cat))
                json_array_append_new(logged, json_string(cat));
        }
        json_t *last = json_array_get(page, n - 1);
        if (last) {
            trm_strlcpy(after_at, json_string_value(json_object_get(last, "uploaded_at")),
                        sizeof after_at);
            trm_strlcpy(after_id, json_string_value(json_object_get(last, "id")), sizeof after_id);
        }
        json_array_extend(x->documents, page);
        json_decref(page);
        if (n < PAGE)
            return TRM_DB_OK;
    }
}

/* Why the export is refused besides the common reasons. */
enum { NOT_OWNER = TRM_WHY_OWN, UNREADABLE };

static enum trm_db_status bundle_tx(struct trm_db_conn *c, void *arg)
{
    struct subject_access *x = arg;
    json_decref(x->bundle);
    json_decref(x->labels);
    json_decref(x->documents);
    trm_dek_free(x->dek);
    x->bundle = x->labels = NULL;
    x->dek = NULL;
    x->documents = json_array();
    struct trm_case_record rec;
    /* Reads (and logs, purpose subject_access) every category of the case's fields. */
    enum trm_db_status st = trm_case_read(c, x->id, x->request_id, "subject_access", NULL, &rec);
    if (st != TRM_DB_OK)
        return st;
    if (strcmp(rec.summary.owner_agency_id, x->agency_id) != 0) {
        trm_case_record_free(&rec);
        return trm_refuse(x, NOT_OWNER, NULL);
    }
    json_t *person = trm_case_record_open(x->keys, &rec, NULL);
    unsigned char *dek = rec.has_key ? trm_case_record_dek(x->keys, &rec) : NULL;
    if (person == NULL || (rec.has_key && dek == NULL)) {
        json_decref(person);
        trm_dek_free(dek);
        trm_case_record_free(&rec);
        return trm_refuse(x, UNREADABLE, NULL);
    }
    /* The categories the case read logged, and those the other records opened. */
    json_t *logged = json_array(), *opened = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(person, k, v) json_array_append_new(logged, json_string(k));
    x->bundle = json_pack("{s:s, s:s, s:o, s:o}", "reason", x->reason, "language", x->language,
                          "case", trm_case_summary_json(&rec.summary), "person", person);
    json_t *list = NULL;
    st = trm_consent_list(c, x->id, &list);
    if (st == TRM_DB_OK) {
        json_object_set_new(x->bundle, "consents", list);
        st = opened_records(c, x, dek, rec.dek_version, opened);
    }
    /* An erased case has no key, and no documents: they went with it. */
    if (st == TRM_DB_OK && dek)
        st = documents_of(c, x, dek, rec.dek_version, logged, opened);
    if (st == TRM_DB_OK && !x->html && json_array_size(x->documents) > 0) {
        x->dek = dek; /* the answer opens the documents' keys with it as it is sent */
        x->dek_version = rec.dek_version;
    } else {
        trm_dek_free(dek);
    }
    trm_case_record_free(&rec);
    json_t *handovers = json_array(), *extra = json_array();
    json_object_set_new(x->bundle, "handovers", handovers);
    if (st == TRM_DB_OK)
        st = all_handovers(c, x->id, handovers);
    /* The export in the access log: what the case read did not log yet (an entry even when
     * nothing personal is left, so the export is always there), and on the timeline. */
    size_t i;
    json_array_foreach(opened, i, v) if (!listed(logged, json_string_value(v)))
        json_array_append(extra, v);
    if (st == TRM_DB_OK && (json_array_size(extra) > 0 || json_array_size(logged) == 0))
        st = trm_access_log_add(c, x->id, extra, "subject_access", x->request_id);
    json_t *details = json_pack("{s:s, s:s}", "reason", x->reason, "language", x->language);
    if (st == TRM_DB_OK)
        st = trm_case_event_add(c, x->id, "subject_access", details);
    json_decref(details);
    json_decref(logged);
    json_decref(opened);
    json_decref(extra);
    list = NULL;
    if (st == TRM_DB_OK)
        st = trm_access_log_for_case(c, x->id, &list);
    if (st == TRM_DB_OK) {
        json_object_set_new(x->bundle, "access_log", list);
        st = trm_screening_labels(c, x->id, x->language, &x->labels);
    }
    return st;
}

static const struct trm_outcome outcomes[] = {
    TRM_WHEN_REFUSED(NOT_OWNER, TRM_E_NOT_FOUND,
                     "No such case in your agency: only the owning agency answers a subject "
                     "access request."),
    TRM_WHEN_REFUSED(UNREADABLE, TRM_E_INTERNAL,
                     "The case's personal data could not be decrypted."),
    TRM_WHEN_END,
};

/* ---- The printable page ------------------------------------------------------------- */

struct html {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct html *h, const char *s, size_t n)
{
    if (h->failed)
        return;
    if (h->len + n + 1 > h->cap) {
        size_t cap = (h->cap + n + 1) * 2;
        char *p = realloc(h->p, cap);
        if (p == NULL) {
            h->failed = true;
            return;
        }
        h->p = p;
        h->cap = cap;
    }
    memcpy(h->p + h->len, s, n);
    h->len += n;
    h->p[h->len] = '\0';
}

static void puts_(struct html *h, const char *s)
{
    put(h, s, strlen(s));
}

/* Text as HTML: & < > " ' escaped (the page has no script; every value is text). */
static void text(struct html *h, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            puts_(h, "&amp;");
            break;
        case '<':
            puts_(h, "&lt;");
            break;
        case '>':
            puts_(h, "&gt;");
            break;
        case '"':
            puts_(h, "&quot;");
            break;
        case '\'':
            puts_(h, "&#39;");
            break;
        default:
            put(h, s, 1);
        }
    }
}

/* The labels of the page: en, sv, tl (the console's words where it has them). */
enum label {
    L_TITLE,
    L_INTRO,
    L_CASE,
    L_PERSON,
    L_CONSENTS,
    L_ASSESSMENTS,
    L_SCREENINGS,
    L_GUARDIANS,
    L_TIMELINE,
    L_HANDOVERS,
    L_ACCESS,
    L_DOCUMENTS,
    L_DOCUMENTS_NOTE,
    L_NONE,
    L_COUNT
};
static const char *const label_text[3][L_COUNT] = {
    {"Your data in trm", "Everything trm holds about you, as of this export.", "Case",
     "Personal data", "Consents", "Assessments", "Screenings (identification indicators)",
     "Guardians", "Timeline", "Handovers (recipients and dates)",
     "Access log (who read what, when, why)", "Documents",
     "The documents themselves are in the JSON export of this request.", "none"},
    {"Dina uppgifter i trm", "Allt som trm har om dig när detta utdrag gjordes.", "Ärende",
     "Personuppgifter", "Samtycken", "Bedömningar", "Screeningar (identifieringsindikatorer)",
     "Gode män och vårdnadshavare", "Tidslinje", "Överlämningar (mottagare och datum)",
     "Åtkomstlogg (vem läste vad, när och varför)", "Dokument",
     "Själva dokumenten finns i JSON-utdraget av denna begäran.", "inga"},
    {"Ang iyong datos sa trm", "Lahat ng hawak ng trm tungkol sa iyo sa oras ng export na ito.",
     "Kaso", "Personal na datos", "Mga pahintulot", "Mga pagtatasa",
     "Mga screening (mga indikasyon ng pagkakakilanlan)", "Mga tagapag-alaga", "Timeline",
     "Mga paglilipat (mga tatanggap at petsa)",
     "Access log (sino ang nagbasa ng ano, kailan, bakit)", "Mga dokumento",
     "Ang mismong mga dokumento ay nasa JSON na export ng kahilingang ito.", "wala"},
};
/* The categories of personal data, as the console names them. */
static const char *const category_names[] = {
    "identity", "contact", "health", "narrative", "exploitation_details", NULL};
static const char *const category_text[3][5] = {
    {"Identity", "Contact", "Health", "Narrative", "Exploitation details"},
    {"Identitet", "Kontakt", "Hälsa", "Berättelse", "Detaljer om exploateringen"},
    {"Pagkakakilanlan", "Contact", "Kalusugan", "Salaysay", "Mga detalye ng pagsasamantala"},
};

/* The kinds of documents (trm_document_kinds' order). */
static const char *const kind_text[3][5] = {
    {"Consent form", "Identity document", "Medical document", "Court document", "Other"},
    {"Samtyckesblankett", "Identitetshandling", "Medicinskt intyg", "Domstolshandling", "Övrigt"},
    {"Form ng pahintulot", "Dokumento ng pagkakakilanlan", "Medikal na dokumento",
     "Dokumento ng korte", "Iba pa"},
};

static size_t lang_index(const char *language)
{
    for (size_t i = 0; languages[i]; i++)
        if (strcmp(languages[i], language) == 0)
            return i;
    return 0;
}

static void value(struct html *h, json_t *v, size_t lang);

static void object(struct html *h, json_t *o, size_t lang)
{
    if (json_object_size(o) == 0) {
        puts_(h, "<i>");
        text(h, label_text[lang][L_NONE]);
        puts_(h, "</i>");
        return;
    }
    puts_(h, "<table>");
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        puts_(h, "<tr><th>");
        const char *name = k;
        for (size_t c = 0; category_names[c]; c++)
            if (strcmp(category_names[c], k) == 0)
                name = category_text[lang][c];
        text(h, name);
        puts_(h, "</th><td>");
        value(h, v, lang);
        puts_(h, "</td></tr>");
    }
    puts_(h, "</table>");
}

static void value(struct html *h, json_t *v, size_t lang)
{
    char number[40];
    if (json_is_object(v)) {
        object(h, v, lang);
    } else if (json_is_array(v)) {
        if (json_array_size(v) == 0) {
            puts_(h, "<i>");
            text(h, label_text[lang][L_NONE]);
            puts_(h, "</i>");
            return;
        }
        puts_(h, "<ul>");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            puts_(h, "<li>");
            value(h, e, lang);
            puts_(h, "</li>");
        }
        puts_(h, "</ul>");
    } else if (json_is_string(v)) {
        text(h, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
        puts_(h, number);
    } else if (json_is_real(v)) {
        snprintf(number, sizeof number, "%g", json_real_value(v));
        puts_(h, number);
    } else if (json_is_boolean(v)) {
        puts_(h, json_is_true(v) ? "&#10003;" : "&#10007;");
    } else {
        puts_(h, "&ndash;");
    }
}

/* The screenings with their observed indicators named in the language, where the set has
 * labels for it. */
static json_t *labelled_screenings(json_t *screenings, json_t *labels)
{
    json_t *out = json_deep_copy(screenings);
    size_t i;
    json_t *s;
    json_array_foreach(out, i, s)
    {
        char key[128];
        /* The sets' codes are checked words: never NULL in a stored screening. */
        snprintf(key, sizeof key, "%s:%lld", json_string_value(json_object_get(s, "indicator_set")),
                 (long long)json_integer_value(json_object_get(s, "indicator_set_version")));
        json_t *names = json_object_get(json_object_get(labels, key), "indicators");
        json_t *observed = json_object_get(s, "observed");
        size_t j;
        json_t *code;
        json_array_foreach(observed, j, code)
        {
            json_t *name = json_object_get(names, json_string_value(code));
            if (json_is_string(name))
                json_array_set_new(
                    observed, j,
                    json_sprintf("%s (%s)", json_string_value(name), json_string_value(code)));
        }
    }
    return out;
}

/* A word named in the language, "Name (word)", when words[i] is it and names has a name. */
static json_t *named(json_t *word, const char *const *words, const char *const *names, size_t n)
{
    const char *w = json_string_value(word);
    for (size_t i = 0; w && i < n && words[i]; i++)
        if (strcmp(words[i], w) == 0)
            return json_sprintf("%s (%s)", names[i], w);
    return json_incref(word);
}

/* The documents as the page lists them: their metadata, kind and category named in the
 * language; nothing of the content. */
static json_t *listed_documents(json_t *documents, size_t lang)
{
    json_t *out = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(documents, i, d)
    {
        json_t *o = json_deep_copy(d);
        json_object_del(o, "sealed_key");
        json_object_del(o, "chunks");
        json_object_del(o, "case_id");
        json_object_set_new(
            o, "kind", named(json_object_get(d, "kind"), trm_document_kinds, kind_text[lang], 5));
        json_object_set_new(
            o, "category",
            named(json_object_get(d, "category"), category_names, category_text[lang], 5));
        json_array_append_new(out, o);
    }
    return out;
}

static char *render(const struct subject_access *x)
{
    size_t lang = lang_index(x->language);
    const char *const *l = label_text[lang];
    struct html h = {0};
    puts_(&h, "<!DOCTYPE html>\n<html lang=\"");
    text(&h, x->language);
    puts_(&h, "\"><head><meta charset=\"utf-8\"><title>");
    text(&h, l[L_TITLE]);
    puts_(&h, "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
              "collapse;margin:.2em 0}th,td{border:1px solid #999;padding:.2em .4em;text-align:"
              "left;vertical-align:top}th{background:#eee}h2{page-break-after:avoid}"
              "ul{margin:0;padding-left:1.2em}</style></head><body><h1>");
    text(&h, l[L_TITLE]);
    puts_(&h, "</h1><p>");
    text(&h, l[L_INTRO]);
    puts_(&h, "</p>");
    static const struct {
        enum label label;
        const char *member;
    } sections[] = {{L_CASE, "case"},
                    {L_PERSON, "person"},
                    {L_CONSENTS, "consents"},
                    {L_ASSESSMENTS, "assessments"},
                    {L_SCREENINGS, "screenings"},
                    {L_GUARDIANS, "guardians"},
                    {L_TIMELINE, "timeline"},
                    {L_HANDOVERS, "handovers"},
                    {L_ACCESS, "access_log"}};
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        puts_(&h, "<h2>");
        text(&h, l[sections[s].label]);
        puts_(&h, "</h2>");
        json_t *v = json_object_get(x->bundle, sections[s].member);
        json_t *shown =
            sections[s].label == L_SCREENINGS ? labelled_screenings(v, x->labels) : json_incref(v);
        value(&h, shown, lang);
        json_decref(shown);
    }
    puts_(&h, "<h2>");
    text(&h, l[L_DOCUMENTS]);
    puts_(&h, "</h2><p>");
    text(&h, l[L_DOCUMENTS_NOTE]);
    puts_(&h, "</p>");
    json_t *docs = listed_documents(x->documents, lang);
    value(&h, docs, lang);
    json_decref(docs);
    puts_(&h, "</body></html>\n");
    if (h.failed) {
        free(h.p);
        return NULL;
    }
    return h.p;
}

/* ---- The JSON answer with the documents' content ------------------------------------ */

/* Plain bytes encoded at a time (a multiple of 3) and their base64. */
#define RAW_BYTES (48 * 1024)
#define B64_BYTES (RAW_BYTES / 3 * 4)

struct doc_part {
    char id[TRM_UUID_STR_LEN + 1];
    char *sealed_key; /* hex */
    uint32_t chunks;
    uint64_t size;
};

/* The answer as it is sent: texts[0], content 0, texts[1], content 1, ..., texts[n]. The
 * texts are the bundle without its last brace, then each document's metadata up to its
 * "content", then the closing. */
struct bundle_stream {
    size_t n, part; /* part: 2t is texts[t], 2i + 1 the content of document i */
    char **texts;
    size_t *text_lens;
    struct doc_part *docs;
    char case_id[TRM_UUID_STR_LEN + 1];
    unsigned char *dek;
    unsigned dek_version;
    struct trm_doc_reader *reader;
    unsigned long long sent;
    size_t off;       /* into the text */
    uint64_t raw_pos; /* into the content */
    size_t have, b64_len, b64_off;
    uint8_t raw[RAW_BYTES];
    char b64[B64_BYTES + 1];
};

static void bundle_stream_free(void *state)
{
    struct bundle_stream *s = state;
    if (s == NULL)
        return;
    for (size_t t = 0; s->texts && t <= s->n; t++)
        free(s->texts[t]);
    for (size_t i = 0; s->docs && i < s->n; i++)
        free(s->docs[i].sealed_key);
    free(s->texts);
    free(s->text_lens);
    free(s->docs);
    trm_dek_free(s->dek);
    trm_doc_reader_free(s->reader);
    sodium_memzero(s->raw, sizeof s->raw);
    sodium_memzero(s->b64, sizeof s->b64);
    free(s);
}

/* The key of document i, opened with the case's. */
static unsigned char *document_key(const struct bundle_stream *s, size_t i)
{
    return trm_document_key_open(s->dek, s->case_id, s->docs[i].id, s->dek_version,
                                 s->docs[i].sealed_key);
}

/* Starts the content of document i (the reader is aimed at the first when it is made). */
static bool begin_content(struct bundle_stream *s, size_t i)
{
    s->raw_pos = 0;
    s->have = s->b64_len = s->b64_off = 0;
    if (i == 0)
        return true;
    unsigned char *key = document_key(s, i);
    if (key == NULL)
        return false;
    trm_doc_reader_retarget(s->reader, s->docs[i].id, key, s->docs[i].chunks, s->docs[i].size);
    return true;
}

/* Reads the next plain bytes of document d and encodes them: whole groups of three, all of
 * them at the end. */
static bool encode_next(struct bundle_stream *s, const struct doc_part *d)
{
    while (s->have < RAW_BYTES && s->raw_pos < d->size) {
        long k = trm_doc_reader_read(s->reader, s->raw_pos, (char *)s->raw + s->have,
                                     RAW_BYTES - s->have);
        if (k <= 0)
            return false;
        s->raw_pos += (uint64_t)k;
        s->have += (size_t)k;
    }
    size_t take = s->raw_pos == d->size ? s->have : s->have / 3 * 3;
    sodium_bin2base64(s->b64, sizeof s->b64, s->raw, take, sodium_base64_VARIANT_ORIGINAL);
    s->b64_len = (take + 2) / 3 * 4;
    s->b64_off = 0;
    memmove(s->raw, s->raw + take, s->have - take);
    s->have -= take;
    return true;
}

static long bundle_read(void *state, unsigned long long pos, char *buf, size_t max)
{
    struct bundle_stream *s = state;
    if (pos != s->sent) /* libmicrohttpd reads forward */
        return -1;
    size_t n = 0;
    while (n < max && s->part <= 2 * s->n) {
        size_t k;
        if (s->part % 2 == 0) {
            size_t t = s->part / 2;
            k = s->text_lens[t] - s->off;
            k = k < max - n ? k : max - n;
            memcpy(buf + n, s->texts[t] + s->off, k);
            s->off += k;
            if (s->off == s->text_lens[t]) {
                s->off = 0;
                if (++s->part < 2 * s->n && !begin_content(s, t))
                    return -1;
            }
        } else if (s->b64_off < s->b64_len) {
            k = s->b64_len - s->b64_off;
            k = k < max - n ? k : max - n;
            memcpy(buf + n, s->b64 + s->b64_off, k);
            s->b64_off += k;
        } else if (s->raw_pos == s->docs[s->part / 2].size) {
            s->part++;
            k = 0;
        } else {
            if (!encode_next(s, &s->docs[s->part / 2]))
                return -1;
            k = 0;
        }
        n += k;
    }
    s->sent += n;
    return (long)n;
}

/* A JSON value as compact text without its last character (an object's closing brace). */
static char *open_object(json_t *o, size_t *len)
{
    char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    *len = t ? strlen(t) : 0;
    if (*len > 0)
        t[--*len] = '\0';
    return t;
}

/* Texts a, b and c one after the other, malloc'd (NULL when memory runs out). */
static char *joined(const char *a, const char *b, const char *c, size_t *len)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *t = malloc(la + lb + lc + 1);
    if (t) {
        memcpy(t, a, la);
        memcpy(t + la, b, lb);
        memcpy(t + la + lb, c, lc + 1);
        *len = la + lb + lc;
    }
    return t;
}

/* The answer's stream (n > 0 documents): the texts written, the documents' keys and sizes
 * kept, the case's key taken from x, the reader made as the caller (it copies ctx) and aimed
 * at the first document; *size: the answer's length. NULL when memory runs out or a key does
 * not open. */
static struct bundle_stream *bundle_stream_new(struct subject_access *x, struct trm_db_pool *pool,
                                               const struct trm_db_context *ctx,
                                               unsigned long long *size)
{
    size_t n = json_array_size(x->documents), len = 0;
    struct bundle_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->n = n;
    s->texts = calloc(n + 1, sizeof *s->texts);
    s->text_lens = calloc(n + 1, sizeof *s->text_lens);
    s->docs = calloc(n, sizeof *s->docs);
    trm_strlcpy(s->case_id, x->id, sizeof s->case_id);
    s->dek = x->dek;
    s->dek_version = x->dek_version;
    x->dek = NULL;
    char *bundle = open_object(x->bundle, &len);
    bool ok = s->texts && s->text_lens && s->docs && bundle;
    unsigned long long total = 0;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *d = json_array_get(x->documents, i);
        struct doc_part *p = &s->docs[i];
        trm_strlcpy(p->id, json_string_value(json_object_get(d, "id")), sizeof p->id);
        const char *sealed_key = json_string_value(json_object_get(d, "sealed_key"));
        p->sealed_key = sealed_key ? strdup(sealed_key) : NULL;
        p->chunks = (uint32_t)json_integer_value(json_object_get(d, "chunks"));
        p->size = (uint64_t)json_integer_value(json_object_get(d, "size"));
        json_t *shown = json_deep_copy(d);
        json_object_del(shown, "sealed_key");
        json_object_del(shown, "chunks");
        char *meta = open_object(shown, &len);
        json_decref(shown);
        /* The bundle's members, then the documents: the first opens the list, each later
         * one closes the content before it. */
        if (meta && i == 0) {
            char *first = joined(bundle, ",\"documents\":[", meta, &len);
            s->texts[0] = first ? joined(first, ",\"content\":\"", "", &s->text_lens[0]) : NULL;
            free(first);
        } else if (meta) {
            s->texts[i] = joined("\"},", meta, ",\"content\":\"", &s->text_lens[i]);
        }
        free(meta);
        ok = p->sealed_key && s->texts[i];
        total += s->text_lens[i] + (p->size + 2) / 3 * 4;
    }
    if (ok) {
        s->texts[n] = joined("\"}]}", "", "", &s->text_lens[n]);
        ok = s->texts[n] != NULL;
        total += s->text_lens[n];
    }
    free(bundle);
    unsigned char *key = ok ? document_key(s, 0) : NULL;
    s->reader =
        key ? trm_doc_reader_new(pool, ctx, s->docs[0].id, key, s->docs[0].chunks, s->docs[0].size)
            : NULL;
    if (s->reader == NULL) {
        bundle_stream_free(s);
        return NULL;
    }
    *size = total;
    return s;
}

static void bundle_release(void *state)
{
    bundle_stream_free(state);
}

static bool wants_html(const struct trm_request *req)
{
    const char *accept = trm_request_header(req, "Accept");
    return accept && strncasecmp(accept, "text/html", 9) == 0;
}

TRM_HANDLER(trm_handle_case_subject_access)
{
    static const struct trm_tx tx = {.fn = bundle_tx, .outcomes = outcomes};
    struct subject_access *x = trm_handler_state(req, sizeof *x, subject_access_free);
    if (x == NULL)
        return;
    x->language = "en";
    const struct trm_field spec[] = {
        TRM_F_ENUM("reason", &x->reason, reasons, TRM_REQUIRED),
        TRM_F_ENUM("language", &x->language, languages),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->id) || !trm_handler_body(req, res, spec, NULL))
        return;
    x->agency_id = req->principal->agency_id;
    x->request_id = req->request_id;
    x->keys = app->keys;
    x->html = wants_html(req);
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    if (!x->html && json_array_size(x->documents) == 0) {
        json_object_set(x->bundle, "documents", x->documents);
        trm_response_json(res, 200, json_incref(x->bundle));
        return;
    }
    if (!x->html) {
        /* The response reads the documents after this request's frame is gone: the reader
         * copies the context. */
        struct trm_db_context ctx;
        trm_principal_db_context(req->principal, &ctx);
        struct trm_body_source src = {0, bundle_read, bundle_release, NULL};
        src.state = bundle_stream_new(x, app->db, &ctx, &src.size);
        if (src.state == NULL) {
            trm_response_problem(res, req, TRM_E_INTERNAL, "The documents could not be read.");
            return;
        }
        trm_response_source(res, 200, "application/json", &src);
        return;
    }
    char *page = render(x);
    if (page == NULL) {
        trm_response_problem(res, req, TRM_E_INTERNAL, "The page could not be written.");
        return;
    }
    trm_response_text(res, 200, "text/html; charset=utf-8", page, strlen(page));
    /* A page of values only: nothing runs, nothing is fetched. */
    trm_response_set_header(res, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'");
}
