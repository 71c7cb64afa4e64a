/* Small helpers: UUIDs, hex, base64url, time and string utilities. */
#include "trm/util.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void trm_uuid_v4(char out[TRM_UUID_STR_LEN + 1])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[33];
    trm_hex_encode(b, sizeof b, hex);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool trm_uuid_parse(const char *s, char out[TRM_UUID_STR_LEN + 1])
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < TRM_UUID_STR_LEN; i++) {
        char c = s[i];
        bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash ? c != '-' : hexval((unsigned char)c) < 0)
            return false;
        if (out)
            out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    if (s[TRM_UUID_STR_LEN] != '\0')
        return false;
    if (out)
        out[TRM_UUID_STR_LEN] = '\0';
    return true;
}

void trm_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

bool trm_hex_decode(const char *in, uint8_t *out, size_t outlen)
{
    for (size_t i = 0; i < outlen; i++) {
        int hi = hexval((unsigned char)in[2 * i]);
        if (hi < 0)
            return false;
        int lo = hexval((unsigned char)in[2 * i + 1]);
        if (lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return in[2 * outlen] == '\0';
}

size_t trm_b64url_len(size_t len)
{
    return sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
}

void trm_b64url_encode(const uint8_t *in, size_t len, char *out)
{
    sodium_bin2base64(out, trm_b64url_len(len) + 1, in, len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

long trm_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, cap, in, inlen, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    if (end != in + inlen)
        return -1;
    return (long)n;
}

void trm_time_rfc3339(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double trm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

bool trm_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (cap == 0)
        return false;
    if (n >= cap) {
        memcpy(dst, src, cap - 1);
        dst[cap - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

bool trm_str_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool trm_parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || *s == '\0')
        return false;
    /* strtol accepts leading blanks and '+': we want exactly digits with an optional '-'. */
    const char *p = (*s == '-') ? s + 1 : s;
    if (*p < '0' || *p > '9')
        return false;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool trm_str_in(const char *v, const char *const *list)
{
    for (size_t i = 0; v && list[i]; i++)
        if (strcmp(v, list[i]) == 0)
            return true;
    return false;
}
