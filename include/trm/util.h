/* Small helpers with no dependencies on the rest of trm: UUIDs, hex, base64url,
 * time formatting and bounded string copies. */
#ifndef TRM_UTIL_H
#define TRM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TRM_UUID_STR_LEN 36

/* Fills out (37 bytes) with a random version-4 UUID in lower case. */
void trm_uuid_v4(char out[TRM_UUID_STR_LEN + 1]);
/* True when s is a canonical UUID (8-4-4-4-12 hex, any case); copies it lower-cased to out
 * when out is not NULL. */
bool trm_uuid_parse(const char *s, char out[TRM_UUID_STR_LEN + 1]);

/* Lower-case hex of len bytes; out must hold 2*len+1 bytes. */
void trm_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly 2*outlen hex characters; false on any other input. */
bool trm_hex_decode(const char *in, uint8_t *out, size_t outlen);

/* base64url without padding; out must hold trm_b64url_len(len)+1 bytes. */
size_t trm_b64url_len(size_t len);
void trm_b64url_encode(const uint8_t *in, size_t len, char *out);
/* Decodes into out (at most cap bytes); returns the length or -1 on bad input. */
long trm_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

/* RFC 3339 UTC with Z and seconds precision; out holds at least 21 bytes. */
void trm_time_rfc3339(time_t t, char out[32]);
/* Monotonic clock in milliseconds, for durations. */
double trm_now_ms(void);

/* strlcpy-like: always terminates, returns false when truncated. */
bool trm_strlcpy(char *dst, const char *src, size_t cap);
/* Whether v (may be NULL) is one of the strings of a NULL-terminated list. */
bool trm_str_in(const char *v, const char *const *list);
/* Case-insensitive ASCII comparison. */
bool trm_str_ieq(const char *a, const char *b);
/* Parses a whole decimal integer in [min, max]; false on anything else. */
bool trm_parse_long(const char *s, long min, long max, long *out);

#endif
