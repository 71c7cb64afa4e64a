/* Response building: JSON bodies, headers and RFC 9457 problems from the error table. */
#include "trm/http.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *code;
    unsigned status;
    const char *title;
} error_rows[] = {
#define TRM_ERROR_ROW(e, code, status, title) {code, status, title},
    TRM_ERROR_TABLE(TRM_ERROR_ROW)
#undef TRM_ERROR_ROW
};

const char *trm_error_code(enum trm_error e)
{
    return error_rows[e].code;
}

unsigned trm_error_status(enum trm_error e)
{
    return error_rows[e].status;
}

const char *trm_error_title(enum trm_error e)
{
    return error_rows[e].title;
}

const char *trm_request_header(const struct trm_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (trm_str_ieq(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

size_t trm_request_header_count(const struct trm_request *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        if (trm_str_ieq(req->headers[i].name, name))
            n++;
    return n;
}

const char *trm_request_query(const struct trm_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

void trm_response_init(struct trm_response *res)
{
    memset(res, 0, sizeof *res);
}

void trm_response_free(struct trm_response *res)
{
    free(res->body);
    res->body = NULL;
}

void trm_response_text(struct trm_response *res, unsigned status, const char *content_type,
                       char *body, size_t len)
{
    free(res->body);
    res->status = status;
    res->content_type = content_type;
    res->body = body ? body : calloc(1, 1);
    res->body_len = body ? len : 0;
}

const char *trm_response_header(const struct trm_response *res, const char *name)
{
    for (size_t i = 0; i < res->n_headers; i++)
        if (trm_str_ieq(res->headers[i].name, name))
            return res->headers[i].value;
    return NULL;
}

void trm_response_set_header(struct trm_response *res, const char *name, const char *value)
{
    for (size_t i = 0; i < res->n_headers; i++) {
        if (trm_str_ieq(res->headers[i].name, name)) {
            trm_strlcpy(res->headers[i].value, value, sizeof res->headers[i].value);
            return;
        }
    }
    if (res->n_headers == TRM_MAX_RESPONSE_HEADERS)
        return;
    trm_strlcpy(res->headers[res->n_headers].name, name, sizeof res->headers[0].name);
    trm_strlcpy(res->headers[res->n_headers].value, value, sizeof res->headers[0].value);
    res->n_headers++;
}

static void set_body(struct trm_response *res, unsigned status, const char *type, json_t *body)
{
    free(res->body);
    res->status = status;
    res->content_type = type;
    res->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    res->body_len = res->body ? strlen(res->body) : 0;
    json_decref(body);
}

void trm_response_json(struct trm_response *res, unsigned status, json_t *body)
{
    set_body(res, status, "application/json", body);
}

void trm_response_problem_ext(struct trm_response *res, const struct trm_request *req,
                              enum trm_error e, const char *detail, const char *member,
                              json_t *value)
{
    char type[96];
    snprintf(type, sizeof type, "%s%s", TRM_PROBLEM_TYPE_PREFIX, error_rows[e].code);
    json_t *p = json_object();
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(error_rows[e].title));
    json_object_set_new(p, "status", json_integer(error_rows[e].status));
    json_object_set_new(p, "detail", json_string(detail ? detail : error_rows[e].title));
    json_object_set_new(p, "code", json_string(error_rows[e].code));
    json_object_set_new(p, "request_id", json_string(req ? req->request_id : ""));
    if (member && value)
        json_object_set_new(p, member, value);
    else
        json_decref(value);
    set_body(res, error_rows[e].status, "application/problem+json", p);
}

void trm_response_problem(struct trm_response *res, const struct trm_request *req, enum trm_error e,
                          const char *detail)
{
    trm_response_problem_ext(res, req, e, detail, NULL, NULL);
}
