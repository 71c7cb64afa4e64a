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
    unsigned metrics_port; /* GET /metrics (metrics_listen) */
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
/* Stops trmd cleanly and reads the counters it logs when it stops: requests answered and
 * round trips to PostgreSQL (each wait for the server's answers counts once). */
void h_trmd_stop_counts(struct trmd *t, long *requests, long *round_trips);
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
/* Like h_api, but returns false (instead of failing the test) when no answer came back:
 * for tests that kill trmd on purpose. */
bool h_api_try(const struct trmd *t, const char *token, const char *method, const char *path,
               const char *body, const char *const *extra_headers, struct h_resp *out);
/* Waits for a killed trmd to be gone. */
void h_trmd_reap(struct trmd *t);

/* The value of a response header (case-insensitive), copied into buf; NULL when absent. */
const char *h_header(const struct h_resp *r, const char *name, char *buf, size_t len);
void h_resp_free(struct h_resp *r);
/* Asserts an RFC 9457 problem with this status and code. */
void h_assert_problem(const struct h_resp *r, long status, const char *code);

/* Sends raw bytes and reads until the server closes or timeout_ms passes; returns bytes read. */
size_t h_raw(unsigned port, const char *data, size_t len, char *out, size_t cap, int timeout_ms);

/* Runs trmctl with the owner role and the test key file; stdout and stderr go to out. */
int h_trmctl(const char *args, char *out, size_t cap);
/* The same on the database of the named TRM_TEST_* variable, with another key file. */
int h_trmctl_with(const char *db_env, const char *key_file, const char *args, char *out,
                  size_t cap);
/* A fresh admin (own administration agency in country) and its token. */
void h_admin(char token[128], const char *country);
/* Authenticated request with a JSON body (may be NULL) and optional extra header lines. */
void h_api(const struct trmd *t, const char *token, const char *method, const char *path,
           const char *body, const char *const *extra_headers, struct h_resp *out);
/* Creates an agency over HTTP with a unique name; writes its id. */
void h_agency(const struct trmd *t, const char *admin, const char *country, const char *kind,
              char id[37]);
/* Creates a user over HTTP and issues a token; writes both. */
void h_user(const struct trmd *t, const char *admin, const char *agency_id, const char *role,
            bool cross_border, char user_id[37], char token[128]);
/* The string value of a member of r's JSON body, or NULL. */
const char *h_str(const struct h_resp *r, const char *member);
/* Fails unless the status is as expected, printing the body. */
void h_expect(const struct h_resp *r, long status, const char *what);

/* Connects with the connection string in the named TRM_TEST_* variable. */
PGconn *h_pg(const char *env_name);
/* Starts the stopped test database again (retrying a few times), failing the test with the
 * end of PostgreSQL's log when it will not start. */
void h_pg_start(void);

/* The first cell of a query (with at most one parameter) as the owner role, as a number. */
long h_count(const char *sql, const char *param);
/* The same on the database of the named TRM_TEST_* variable. */
long h_count_in(const char *db_env, const char *sql, const char *param);

/* Runs a command via the shell; returns its exit status. */
int h_sh(const char *cmd);

#endif
