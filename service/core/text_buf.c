/* A growing text buffer (see text_buf.h). */
#include "trm/text_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void trm_tb_add(struct trm_text_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void trm_tb_adds(struct trm_text_buf *b, const char *s)
{
    trm_tb_add(b, s, strlen(s));
}

void trm_tb_json_string(struct trm_text_buf *b, const char *s)
{
    if (s == NULL) {
        trm_tb_add(b, "null", 4);
        return;
    }
    trm_tb_add(b, "\"", 1);
    const char *run = s; /* bytes that need no escape, appended together */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        trm_tb_add(b, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        trm_tb_adds(b, esc);
        run = s + 1;
    }
    trm_tb_add(b, run, (size_t)(s - run));
    trm_tb_add(b, "\"", 1);
}

char *trm_tb_take(struct trm_text_buf *b)
{
    char *p = b->failed ? NULL : b->p;
    if (b->failed)
        free(b->p);
    if (p == NULL && !b->failed)
        p = calloc(1, 1); /* nothing appended: the empty text */
    *b = (struct trm_text_buf){0};
    return p;
}
