/* POST /v1/cases/{id}/subject-access: the person's right of access (GDPR Art. 15; Directive
 * 2016/680 Art. 14). A coordinator of the agency owning the case, giving a reason, gets one
 * bundle of everything trm holds about the person: the case's statistical fields, the
 * personal data opened, consents, assessments, screenings, guardians, the timeline with its
 * notes, the handover log's entries (recipients and dates) and the access log (who read
 * what, when, why). JSON, or with Accept: text/html a printable page in the person's language
 * where labels exist (en, sv, tl). The export is itself an access-log entry (purpose
 * subject_access) and a timeline entry, in the transaction that reads the bundle. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/cases.h"
#include "trm/consent_store.h"
#include "trm/event_store.h"
#include "trm/handover_store.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/screening_store.h"
#include "trm/assessment_store.h"
#include "trm/guardian_store.h"

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
    json_t *bundle;
    json_t *labels; /* the indicator sets' labels in the language: {"code:version": {...}} */
};

static void subject_access_free(void *state)
{
    struct subject_access *x = state;
    json_decref(x->bundle);
    json_decref(x->labels);
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

/* Why the export is refused besides the common reasons. */
enum { NOT_OWNER = TRM_WHY_OWN, UNREADABLE };

static enum trm_db_status bundle_tx(struct trm_db_conn *c, void *arg)
{
    struct subject_access *x = arg;
    json_decref(x->bundle);
    json_decref(x->labels);
    x->bundle = x->labels = NULL;
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
    trm_dek_free(dek);
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
    L_NONE,
    L_COUNT
};
static const char *const label_text[3][L_COUNT] = {
    {"Your data in trm", "Everything trm holds about you, as of this export.", "Case",
     "Personal data", "Consents", "Assessments", "Screenings (identification indicators)",
     "Guardians", "Timeline", "Handovers (recipients and dates)",
     "Access log (who read what, when, why)", "none"},
    {"Dina uppgifter i trm", "Allt som trm har om dig när detta utdrag gjordes.", "Ärende",
     "Personuppgifter", "Samtycken", "Bedömningar", "Screeningar (identifieringsindikatorer)",
     "Gode män och vårdnadshavare", "Tidslinje", "Överlämningar (mottagare och datum)",
     "Åtkomstlogg (vem läste vad, när och varför)", "inga"},
    {"Ang iyong datos sa trm", "Lahat ng hawak ng trm tungkol sa iyo sa oras ng export na ito.",
     "Kaso", "Personal na datos", "Mga pahintulot", "Mga pagtatasa",
     "Mga screening (mga indikasyon ng pagkakakilanlan)", "Mga tagapag-alaga", "Timeline",
     "Mga paglilipat (mga tatanggap at petsa)",
     "Access log (sino ang nagbasa ng ano, kailan, bakit)", "wala"},
};
/* The categories of personal data, as the console names them. */
static const char *const category_names[] = {
    "identity", "contact", "health", "narrative", "exploitation_details", NULL};
static const char *const category_text[3][5] = {
    {"Identity", "Contact", "Health", "Narrative", "Exploitation details"},
    {"Identitet", "Kontakt", "Hälsa", "Berättelse", "Detaljer om exploateringen"},
    {"Pagkakakilanlan", "Contact", "Kalusugan", "Salaysay", "Mga detalye ng pagsasamantala"},
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
        snprintf(key, sizeof key, "%s:%lld",
                 json_string_value(json_object_get(s, "indicator_set")),
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
    puts_(&h, "</body></html>\n");
    if (h.failed) {
        free(h.p);
        return NULL;
    }
    return h.p;
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
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    if (!wants_html(req)) {
        trm_response_json(res, 200, json_incref(x->bundle));
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
