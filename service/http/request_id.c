/* Request ids made by trmd, and trace ids taken from a traceparent header (see
 * trm/request_id.h). */
#include "trm/request_id.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

void trm_request_id_new(char out[TRM_REQUEST_ID_NEW_LEN + 1])
{
    uint8_t raw[TRM_REQUEST_ID_NEW_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    trm_hex_encode(raw, sizeof raw, out);
}

void trm_request_id_pick(const char *given, char *out, size_t max)
{
    size_t n = given ? strlen(given) : 0;
    bool ok = n >= 1 && n <= max;
    for (size_t i = 0; ok && i < n; i++) {
        char c = given[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    }
    if (ok)
        memcpy(out, given, n + 1);
    else
        trm_request_id_new(out);
}

/* n lower-case hex digits, not all zero. */
static bool hex_field(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        nonzero = nonzero || c != '0';
    }
    return nonzero;
}

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool trm_traceparent_trace_id(const char *tp, char out[TRM_TRACE_ID_LEN + 1])
{
    out[0] = '\0';
    if (tp == NULL)
        return false;
    while (*tp == ' ' || *tp == '\t')
        tp++;
    size_t len = strlen(tp);
    while (len > 0 && (tp[len - 1] == ' ' || tp[len - 1] == '\t'))
        len--;
    /* 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55; later versions may append "-..." fields. */
    if (len < 55 || !lower_hex(tp, 2) || strncmp(tp, "ff", 2) == 0 || tp[2] != '-' ||
        tp[35] != '-' || tp[52] != '-' || !lower_hex(tp + 53, 2))
        return false;
    if (strncmp(tp, "00", 2) == 0 ? len != 55 : len > 55 && tp[55] != '-')
        return false;
    if (!hex_field(tp + 3, TRM_TRACE_ID_LEN) || !hex_field(tp + 36, 16))
        return false;
    memcpy(out, tp + 3, TRM_TRACE_ID_LEN);
    out[TRM_TRACE_ID_LEN] = '\0';
    return true;
}
