/* Integration test harness: starts the real trmd against the PostgreSQL that scripts/test
 * provides, talks HTTP to it with libcurl (or raw bytes over TCP), and connects to the
 * database directly to check what was written. */
#ifndef TRM_TEST_HARNESS_H
#define TRM_TEST_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

struct trmd {
    pid_t pid;
    unsigned port;
    char log_path[512];
    char key_file[512];
};

/* A TRM_TEST_* variable; aborts the test when scripts/test did not set it. */
const char *h_env(const char *name);
/* A scratch file path unique to this process. */
void h_tmp_path(char *out, size_t len, const char *name);
/* The shared key file of this test run (created on first use). */
const char *h_key_file(void);

/* Starts trmd on a free port with extra NULL-terminated "KEY=value" environment entries;
 * waits until it answers /healthz. */
void h_trmd_start(struct trmd *t, const char *const *extra_env);
/* SIGTERM, wait; returns the exit status (0 is a clean stop). */
int h_trmd_stop(struct trmd *t);
bool h_trmd_alive(const struct trmd *t);
/* Reads trmd's whole log into a malloc'd string. */
char *h_trmd_log(const struct trmd *t);

struct h_resp {
    long status;
    char *body;
    size_t body_len;
    char *headers; /* raw header block */
    json_t *json;  /* parsed body, or NULL */
};

/* One request. headers: NULL-terminated "Name: value" lines. body may be NULL. */
void h_http(const struct trmd *t, const char *method, const char *path, const char *const *headers,
            const char *body, struct h_resp *out);
/* The value of a response header (case-insensitive), copied into buf; NULL when absent. */
const char *h_header(const struct h_resp *r, const char *name, char *buf, size_t len);
void h_resp_free(struct h_resp *r);
/* Asserts an RFC 9457 problem with this status and code. */
void h_assert_problem(const struct h_resp *r, long status, const char *code);

/* Sends raw bytes and reads until the server closes or timeout_ms passes; returns bytes read. */
size_t h_raw(unsigned port, const char *data, size_t len, char *out, size_t cap, int timeout_ms);

/* Connects with the connection string in the named TRM_TEST_* variable. */
PGconn *h_pg(const char *env_name);
/* Runs a command via the shell; returns its exit status. */
int h_sh(const char *cmd);

#endif
