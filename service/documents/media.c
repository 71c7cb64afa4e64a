/* Document kinds and media types, and the check that content is of its declared type (see
 * documents.h): magic bytes for PDF, JPEG and PNG, UTF-8 throughout for plain text. */
#include "trm/documents.h"
#include <string.h>
#include <strings.h>

const char *const trm_document_kinds[] = {
    "consent_form", "identity_document", "medical", "court", "other", NULL};
const char *const trm_document_delete_reasons[] = {
    "uploaded_in_error", "superseded", "requested_by_person", "court_order", "other", NULL};

const char *trm_document_category_for(const char *kind)
{
    /* A consent form and an identity document name the person; a medical paper is health;
     * court papers tell of the crime and who is behind it. */
    static const struct {
        const char *kind, *category;
    } rows[] = {
        {"consent_form", "identity"},
        {"identity_document", "identity"},
        {"medical", "health"},
        {"court", "exploitation_details"},
    };
    for (size_t i = 0; kind && i < sizeof rows / sizeof rows[0]; i++)
        if (strcmp(kind, rows[i].kind) == 0)
            return rows[i].category;
    return NULL;
}

static const char *const media_names[] = {"application/pdf", "image/jpeg", "image/png",
                                          "text/plain"};

const char *trm_media_name(enum trm_media m)
{
    return media_names[m];
}

/* The value of a charset parameter among ";"-separated parameters, unquoted, into out
 * (false when there is none). */
static bool charset_of(const char *params, char *out, size_t cap)
{
    for (const char *p = params; p && *p;) {
        p += strspn(p, "; \t");
        size_t len = strcspn(p, ";");
        if (len > 8 && strncasecmp(p, "charset=", 8) == 0) {
            const char *v = p + 8;
            size_t n = len - 8;
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                v++;
                n -= 2;
            }
            if (n >= cap)
                n = 0; /* no charset we take is that long */
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p += len;
    }
    return false;
}

bool trm_media_parse(const char *content_type, enum trm_media *out)
{
    if (content_type == NULL)
        return false;
    size_t n = strcspn(content_type, ";");
    while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
        n--;
    char charset[32];
    if (charset_of(content_type + strcspn(content_type, ";"), charset, sizeof charset) &&
        strcasecmp(charset, "utf-8") != 0 && strcasecmp(charset, "us-ascii") != 0)
        return false;
    for (size_t i = 0; i < sizeof media_names / sizeof media_names[0]; i++) {
        if (strlen(media_names[i]) == n && strncasecmp(content_type, media_names[i], n) == 0) {
            *out = (enum trm_media)i;
            return true;
        }
    }
    return false;
}

void trm_sniff_init(struct trm_sniff *s, enum trm_media media)
{
    memset(s, 0, sizeof *s);
    s->media = media;
}

/* The first bytes a type must start with (none for plain text). */
static const uint8_t *magic_of(enum trm_media m, size_t *len)
{
    static const uint8_t pdf[] = {'%', 'P', 'D', 'F', '-'};
    static const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF};
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    switch (m) {
    case TRM_MEDIA_PDF:
        return *len = sizeof pdf, pdf;
    case TRM_MEDIA_JPEG:
        return *len = sizeof jpeg, jpeg;
    case TRM_MEDIA_PNG:
        return *len = sizeof png, png;
    case TRM_MEDIA_TEXT:
        break;
    }
    *len = 0;
    return NULL;
}

/* A byte of text: starts a character (setting what must follow) or continues one. */
static bool text_byte(struct trm_sniff *s, uint8_t b)
{
    if (s->need > 0) {
        if (b < s->lo || b > s->hi)
            return false;
        s->need--;
        s->lo = 0x80;
        s->hi = 0xBF;
        return true;
    }
    if (b < 0x80)
        return b >= 0x20 ? b != 0x7F : b == '\t' || b == '\n' || b == '\f' || b == '\r';
    s->lo = 0x80;
    s->hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        s->need = 1;
    else if (b >= 0xE0 && b <= 0xEF)
        s->need = 2;
    else if (b >= 0xF0 && b <= 0xF4)
        s->need = 3;
    else
        return false; /* a continuation byte first, an overlong lead, or past U+10FFFF */
    /* The second byte's range rules out overlong forms, surrogates and past U+10FFFF. */
    if (b == 0xE0)
        s->lo = 0xA0;
    else if (b == 0xED)
        s->hi = 0x9F;
    else if (b == 0xF0)
        s->lo = 0x90;
    else if (b == 0xF4)
        s->hi = 0x8F;
    return true;
}

void trm_sniff_feed(struct trm_sniff *s, const uint8_t *data, size_t len)
{
    size_t magic_len;
    const uint8_t *magic = magic_of(s->media, &magic_len);
    for (size_t i = 0; i < len && !s->bad; i++) {
        if (magic) {
            if (s->head_len >= magic_len)
                return; /* the rest of a binary type is not looked at */
            s->bad = data[i] != magic[s->head_len];
            s->head[s->head_len++] = data[i];
        } else {
            s->bad = !text_byte(s, data[i]);
            if (s->head_len < sizeof s->head)
                s->head[s->head_len++] = data[i];
        }
    }
}

bool trm_sniff_ok(const struct trm_sniff *s, bool at_end)
{
    size_t magic_len;
    (void)magic_of(s->media, &magic_len);
    if (s->bad)
        return false;
    return !at_end || (s->head_len >= magic_len && s->head_len > 0 && s->need == 0);
}
