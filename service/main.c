/* trmd: wiring only. Reads the configuration, opens the database pool, starts the HTTP
 * server and waits for SIGINT or SIGTERM, then drains requests and closes the pool. */
#include "trm/app.h"
#include "trm/codes.h"
#include "trm/web.h"
#include "trm/build_info.h"
#include "trm/config.h"
#include "trm/db.h"
#include "trm/federation_ops.h"
#include "trm/keyring.h"
#include "trm/log.h"
#include "trm/maintenance.h"
#include "trm/periodic.h"
#include "trm/server.h"
#include "trm/webhook.h"

#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: trmd [--config FILE] | --check-config-sample FILE | --version\n");
    return 2;
}

/* Enough file descriptors for every allowed connection and the database pool, so a flood
 * of connections meets the connection limit, not EMFILE. */
static void raise_fd_limit(const struct trm_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)(cfg->max_connections * 2 + cfg->db_pool_size + 128);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Key material and decrypted personal data must never land in a core file. */
static void forbid_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static int load_config(struct trm_config *cfg, const char *path)
{
    char err[512];
    trm_config_defaults(cfg);
    if (path && !trm_config_load_file(cfg, path, err, sizeof err)) {
        fprintf(stderr, "trmd: %s\n", err);
        return -1;
    }
    if (!trm_config_apply_env(cfg, err, sizeof err)) {
        fprintf(stderr, "trmd: %s\n", err);
        return -1;
    }
    enum trm_log_level lvl = TRM_LOG_INFO;
    trm_log_level_parse(cfg->log_level, &lvl);
    trm_log_set_level(lvl);
    return 0;
}

static void maintenance_round(void *app)
{
    trm_maintenance_run_once(app);
}

static void federation_round(void *app)
{
    trm_fed_worker_run_once(app);
}

static void webhook_round(void *app)
{
    trm_webhook_worker_run_once(app);
}

/* The pool found trmd's database role too powerful after start (the database was down at
 * start): stop like on SIGTERM; serve() then says why. */
static void stop_self(void)
{
    kill(getpid(), SIGTERM);
}

static int refuse_role(struct trm_db_pool *db)
{
    fprintf(stderr,
            "trmd: refusing to run: %s; connect as trm_app, which owns nothing and cannot "
            "bypass row-level security (docs/deploy.md)\n",
            trm_db_pool_refusal(db));
    return 1;
}

static int serve(struct trm_config *cfg)
{
    struct trm_app app = {.config = cfg};
    char err[512];
    struct trm_keyring_source *keys = NULL;
    struct trm_server *srv = NULL;
    struct trm_metrics_server *metrics = NULL;
    int rc = 1;
    if (!trm_keyring_source_open(&keys, cfg->key_file, err, sizeof err)) {
        fprintf(stderr, "trmd: %s\n", err);
        goto out;
    }
    app.keys = keys;
    app.authn_cache =
        trm_authn_cache_new((unsigned)cfg->auth_cache_entries, (unsigned)cfg->auth_cache_s);
    struct trm_db_pool_options po = {
        .conninfo = cfg->database_url,
        .size = (unsigned)cfg->db_pool_size,
        .acquire_timeout_ms = (unsigned)cfg->db_acquire_timeout_ms,
        .connect_timeout_s = (unsigned)cfg->db_connect_timeout_s,
        .statement_timeout_ms = (unsigned)cfg->statement_timeout_ms,
        .tx_max_retries = (unsigned)cfg->tx_max_retries,
        .application_name = "trmd",
        .transaction_pooling = strcmp(cfg->db_transaction_pooling, "on") == 0,
        .refuse_powerful_role = true,
        .role_refused = stop_self,
    };
    /* Block the stop signals in every thread; this one waits for them below. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (trm_db_pool_open(&app.db, &po) != 0) {
        fprintf(stderr, "trmd: cannot create the database pool\n");
        goto out;
    }
    /* The role is checked on the first connection: now, unless the database is down. */
    struct trm_db_conn *first = trm_db_acquire(app.db);
    if (first)
        trm_db_release(app.db, first);
    if (trm_db_pool_refusal(app.db)) {
        rc = refuse_role(app.db);
        goto out;
    }
    if (!trm_codes_load(&app.codes, cfg->codes_dir, err, sizeof err)) {
        fprintf(stderr, "trmd: codes_dir: %s\n", err);
        goto out;
    }
    if (!trm_web_load(&app.web, cfg->web_dir, err, sizeof err)) {
        fprintf(stderr, "trmd: web_dir: %s\n", err);
        goto out;
    }
    if (err[0] != '\0')
        trm_log(TRM_LOG_WARN, "console_missing", "%s", err);
    if (trm_server_start(&srv, &app, err, sizeof err) != 0) {
        fprintf(stderr, "trmd: %s\n", err);
        goto out;
    }
    if (cfg->metrics_listen[0] != '\0' &&
        trm_metrics_server_start(&metrics, &app, srv, err, sizeof err) != 0) {
        fprintf(stderr, "trmd: %s\n", err);
        goto out;
    }
    trm_log_fields(TRM_LOG_INFO, "started",
                   json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:i}", "version", TRM_VERSION,
                             "listen", cfg->listen, "port", (int)trm_server_port(srv),
                             "metrics_port", (int)trm_metrics_server_port(metrics), "schema",
                             TRM_SCHEMA_VERSION, "console", trm_web_build(app.web), "console_files",
                             (int)trm_web_file_count(app.web)));
    struct trm_periodic *maintenance =
        trm_periodic_start(cfg->maintenance_interval_ms, maintenance_round, &app);
    struct trm_periodic *federation =
        trm_periodic_start(cfg->federation_interval_ms, federation_round, &app);
    struct trm_periodic *webhooks =
        trm_periodic_start(cfg->webhook_interval_ms, webhook_round, &app);
    int sig = 0;
    sigwait(&stop, &sig);
    trm_log(TRM_LOG_INFO, "stopping", "signal %d: finishing requests in flight", sig);
    atomic_store(&app.stopping, true);
    trm_metrics_server_stop(metrics); /* it reads the server's connection count */
    metrics = NULL;
    trm_server_stop(srv, 10000);
    trm_periodic_stop(maintenance);
    trm_periodic_stop(federation);
    trm_periodic_stop(webhooks);
    rc = trm_db_pool_refusal(app.db) ? refuse_role(app.db) : 0;
out:
    trm_metrics_server_stop(metrics);
    trm_db_pool_close(app.db);
    trm_authn_cache_free(app.authn_cache);
    trm_keyring_source_close(keys);
    trm_web_free(app.web);
    trm_codes_free(app.codes);
    if (srv == NULL)
        return rc;
    /* What benchmarks divide: round trips to PostgreSQL per request. */
    trm_log_fields(TRM_LOG_INFO, "stopped",
                   json_pack("{s:I, s:I}", "requests", (json_int_t)trm_app_requests_handled(),
                             "db_round_trips", (json_int_t)trm_db_round_trips()));
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check-config-sample") == 0 && i + 1 < argc) {
            char err[512];
            if (!trm_config_check_sample(argv[i + 1], err, sizeof err)) {
                fprintf(stderr, "trmd: %s\n", err);
                return 1;
            }
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("trmd %s (schema %d)\n", TRM_VERSION, TRM_SCHEMA_VERSION);
            return 0;
        } else {
            return usage();
        }
    }
    forbid_core_dumps();
    if (sodium_init() < 0) {
        fprintf(stderr, "trmd: libsodium failed to initialise\n");
        return 1;
    }
    /* Before any thread: libcurl's global set-up is not thread-safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "trmd: libcurl failed to initialise\n");
        return 1;
    }
    struct trm_config cfg;
    if (load_config(&cfg, config_path) != 0)
        return 1;
    raise_fd_limit(&cfg);
    return serve(&cfg);
}
