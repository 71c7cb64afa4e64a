/* Configuration of trmd and trmctl: one table of keys (name, type, bounds, default,
 * documentation) read from a `key = value` file and overridden by TRM_<KEY> environment
 * variables. config/trmd.conf documents every key; the build fails when one is missing. */
#ifndef TRM_CONFIG_H
#define TRM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct trm_config {
    char listen[128];          /* host:port trmd listens on */
    char metrics_listen[128];  /* host:port of GET /metrics (empty: none) */
    char database_url[1024];   /* libpq connection string (application role) */
    char key_file[1024];       /* master key file */
    char log_level[16];        /* debug, info, warn, error */
    long worker_threads;       /* HTTP worker threads */
    long max_connections;      /* concurrent HTTP connections */
    long connection_timeout_s; /* idle / slow client cut-off */
    long connection_memory_limit;
    long request_header_timeout_s; /* time a connection gets to start each request */
    long max_body_bytes;
    long max_headers;
    long document_max_bytes;       /* largest document (its content, streamed) */
    long case_documents_max_bytes; /* all of a case's documents together */
    long document_upload_max_s;    /* an upload not ended after this long is deleted */
    long db_pool_size;
    long db_acquire_timeout_ms;
    long db_connect_timeout_s;
    long statement_timeout_ms;
    long tx_max_retries;
    char db_transaction_pooling[8]; /* on: behind PgBouncer in transaction mode */
    long auth_failure_limit;        /* failed authentications per client and window */
    long auth_failure_window_s;     /* the rate-limit window */
    long auth_cache_s;              /* how long a verified token is remembered (0: never) */
    long auth_cache_entries;        /* how many verified tokens are remembered at most */
    char trusted_proxy[64];         /* address whose X-Forwarded-For is believed */
    long token_default_days;        /* expiry of tokens issued without expires_days */
    char web_dir[256];              /* the console's files (web/), served at / */
    char codes_dir[256];            /* code lists of regions and sectors (config/codes) */
    long session_idle_s;            /* a console session ends after this long unused */
    long session_max_s;             /* ... and this long after it opened */
    char session_cookie_secure[8];  /* auto (over TLS, told by the trusted proxy), on, off */
    long blind_index_bits;          /* width of the duplicate-search blind indexes */
    long checkpoint_every_entries;  /* sign a handover-log checkpoint after this many entries */
    long checkpoint_every_s;        /* ... or when the last one is this old */
    long maintenance_interval_ms;   /* how often trmd expires offers and signs checkpoints */
    long stats_k;                   /* smallest count published in statistics */
    long stats_rounding_base;       /* published counts rounded to this base (0: exact) */
    long federation_interval_ms;    /* how often the delivery worker looks at the outbox */
    long federation_retry_max_s;    /* longest wait between two delivery attempts */
    long federation_timeout_s;      /* HTTP timeout towards a peer */
    long federation_directory_refresh_s; /* how old a peer's cached directory may get */
    long federation_clock_skew_s;        /* allowed clock difference in a peer's signed request */
    long tasks_deadline_days;            /* SOP deadlines listed as tasks this far ahead */
    long tasks_consent_days;             /* consents ending within this are tasks */
    long tasks_offer_hours;              /* offers ending within this: task and notification */
    long tasks_plan_days;                /* plan reviews listed this far ahead */
    long tasks_rejected_days;            /* a refused delivery stays a task this long */
    long notification_keep_days;         /* notifications and webhook events kept this long */
    long webhook_interval_ms;            /* how often the webhook worker looks for events */
    long webhook_timeout_s;              /* HTTP timeout towards a webhook receiver */
    long webhook_retry_max_s;            /* longest wait between two attempts */
    long webhook_give_up_s;              /* an event undelivered this long is given up */
};

/* Sets every key to its documented default. */
void trm_config_defaults(struct trm_config *c);
/* Sets one key from its textual value; false with a message in err on an unknown key or a
 * value of the wrong type or out of bounds. */
bool trm_config_set(struct trm_config *c, const char *key, const char *value, char *err,
                    size_t errlen);
/* Parses `key = value` lines (# comments, blank lines); origin names the source in errors. */
bool trm_config_parse(struct trm_config *c, const char *text, size_t len, const char *origin,
                      char *err, size_t errlen);
bool trm_config_load_file(struct trm_config *c, const char *path, char *err, size_t errlen);
/* Applies TRM_<KEY> environment variables (upper-cased key names). */
bool trm_config_apply_env(struct trm_config *c, char *err, size_t errlen);
/* The keys, for documentation checks. */
size_t trm_config_key_count(void);
const char *trm_config_key_name(size_t i);
/* True when every key appears in the sample file as `key =` or `# key =`; names the first
 * missing key in err otherwise. */
bool trm_config_check_sample(const char *path, char *err, size_t errlen);

#endif
