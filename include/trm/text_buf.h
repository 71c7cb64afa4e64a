/* A growing text buffer, for answers written without building a JSON document first (the
 * case list, whose pages are most of what a caseworker's screen asks for). */
#ifndef TRM_TEXT_BUF_H
#define TRM_TEXT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct trm_text_buf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed: every later append does nothing */
};

void trm_tb_add(struct trm_text_buf *b, const char *s, size_t n);
void trm_tb_adds(struct trm_text_buf *b, const char *s);
/* s as a JSON string (RFC 8259: quoted; ", \ and control characters escaped; other bytes
 * as they are, so valid UTF-8 stays valid), or null when s is NULL. */
void trm_tb_json_string(struct trm_text_buf *b, const char *s);
/* The text, NUL-terminated, for the caller to free; NULL if an append failed. b is empty
 * again afterwards. */
char *trm_tb_take(struct trm_text_buf *b);

#endif
