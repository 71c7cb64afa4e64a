/* The federation store: this instance's identity, registered peers, the outbox and inbox of
 * packages, and the peer directories (sql/migrations/0010_federation.sql). Functions taking
 * a connection run in the caller's transaction. */
#ifndef TRM_FEDERATION_STORE_H
#define TRM_FEDERATION_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "trm/db.h"
#include "trm/federation.h"
#include "trm/util.h"

struct trm_fed_identity {
    char instance_id[TRM_FED_INSTANCE_MAX + 1];
    char country[3];
    char url[512];
};

struct trm_fed_peer {
    char instance_id[TRM_FED_INSTANCE_MAX + 1];
    char country[3];
    char url[512];
    uint8_t signing_key[TRM_FED_KEY_BYTES];
    uint8_t box_key[TRM_FED_KEY_BYTES];
    bool active;
    /* The countries its agencies may be in, comma-separated ("": its own country only). */
    char countries[160];
};

/* NOT_FOUND until `trmctl instance init` has run. */
enum trm_db_status trm_fed_identity_get(struct trm_db_conn *c, struct trm_fed_identity *out);
/* Sets the identity (owner role: trmctl). */
enum trm_db_status trm_fed_identity_set(struct trm_db_conn *c, const struct trm_fed_identity *id);
enum trm_db_status trm_fed_peer_get(struct trm_db_conn *c, const char *instance_id,
                                    struct trm_fed_peer *out);
/* Registers or updates a peer (owner role: trmctl). */
enum trm_db_status trm_fed_peer_put(struct trm_db_conn *c, const struct trm_fed_peer *p);
/* Every peer as JSON objects (public keys hex). */
enum trm_db_status trm_fed_peer_list(struct trm_db_conn *c, json_t **out);
/* Our own active agencies, for a peer's directory ({id, name, country, kind, active}). */
enum trm_db_status trm_fed_local_agencies(struct trm_db_conn *c, json_t **out);

/* What building a package for the referral needs (see trm_fed_context in SQL); NOT_FOUND
 * for a referral within this instance. */
enum trm_db_status trm_fed_context(struct trm_db_conn *c, const char *referral_id, json_t **out);
/* Queues a signed package in the outbox with its 'send' handover entry. */
enum trm_db_status trm_fed_queue(struct trm_db_conn *c, const char *referral_id, const char *type,
                                 json_t *package, const uint8_t hash[TRM_FED_HASH_BYTES]);
/* Links an accepted incoming offer to the local case it became, with the offer's note sealed
 * under that case's key (hex; NULL: none) and its category. The offer's sealed payload is
 * dropped from the stored package: the person now lives in the case only. */
enum trm_db_status trm_fed_link_case(struct trm_db_conn *c, const char *referral_id,
                                     const char *case_id, const char *sealed_note,
                                     const char *note_category);

/* A package seen before: *found, whether it came in (or went out), its hash and our receipt
 * (NULL for an outgoing one). */
enum trm_db_status trm_fed_seen(struct trm_db_conn *c, const char *package_id, bool *found,
                                bool *incoming, uint8_t hash[TRM_FED_HASH_BYTES], json_t **receipt);
/* What storing a verified incoming package came to (trm_fed_receive_offer and _answer in
 * SQL: stored, or why this instance refuses it). */
enum trm_fed_received {
    TRM_FED_RECEIVED,
    TRM_FED_REFUSED_UNKNOWN_PEER,       /* the sender is not a registered, active peer */
    TRM_FED_REFUSED_SENDER_COUNTRY,     /* the sending agency is in a country the peer may not */
    TRM_FED_REFUSED_PURPOSE,            /* not a purpose code */
    TRM_FED_REFUSED_RECIPIENT,          /* no such active agency of ours */
    TRM_FED_REFUSED_SENDER,             /* the sending agency is not the peer's */
    TRM_FED_REFUSED_DUPLICATE_REFERRAL, /* that referral id was offered before */
    TRM_FED_REFUSED_ACTION,             /* not an answer this offer can get */
    TRM_FED_REFUSED_NOT_FOUND,          /* no offer between these agencies */
    TRM_FED_REFUSED_IN_REPLY_TO,        /* it answers another package than the offer's */
    TRM_FED_REFUSED_ANSWERED,           /* the offer was answered already */
    TRM_FED_REFUSED_EXPIRED,            /* the offer has expired */
};
/* The word SQL says for it (what a refusal's problem names). */
const char *trm_fed_received_word(enum trm_fed_received r);
/* Stores a verified incoming package (offer or answer) with our receipt; *received says
 * whether it was stored or why it was refused. */
enum trm_db_status trm_fed_receive(struct trm_db_conn *c, const struct trm_fed_package *p,
                                   json_t *receipt, enum trm_fed_received *received);

/* A package due for delivery. */
struct trm_fed_due {
    char package_id[TRM_UUID_STR_LEN + 1];
    char peer[TRM_FED_INSTANCE_MAX + 1];
    char url[512];
    uint8_t signing_key[TRM_FED_KEY_BYTES];
    uint8_t hash[TRM_FED_HASH_BYTES];
    char *package; /* wire JSON, malloc'd */
    int attempts;
};
/* Claims up to cap due packages for lease_s seconds; free each package with free(). */
enum trm_db_status trm_fed_claim(struct trm_db_conn *c, unsigned cap, unsigned lease_s,
                                 struct trm_fed_due *out, unsigned *n);
/* Records a checked receipt: the package is delivered, and the receipt is logged. */
enum trm_db_status trm_fed_delivered(struct trm_db_conn *c, const char *package_id,
                                     json_t *receipt);
/* Records a failed attempt (final: the peer refused it for good). */
enum trm_db_status trm_fed_failed(struct trm_db_conn *c, const char *package_id, const char *error,
                                  bool final, unsigned max_backoff_s);

struct trm_fed_dir_due {
    char peer[TRM_FED_INSTANCE_MAX + 1];
    char url[512];
    uint8_t signing_key[TRM_FED_KEY_BYTES];
};
/* Peers whose directory was never fetched or is older than every_s. */
enum trm_db_status trm_fed_directory_due(struct trm_db_conn *c, unsigned every_s,
                                         struct trm_fed_dir_due *out, unsigned cap, unsigned *n);
/* Stores a peer's directory (validated items) and the highest package version it reads,
 * ending any backoff; commits. */
enum trm_db_status trm_fed_directory_save(struct trm_db_conn *c, const char *peer, json_t *items,
                                          int package_version);
/* Records a failed fetch: the peer is asked again after 1, 2, 4, ... seconds (at most max_s).
 * Writes the failures in a row and the seconds until the next attempt. */
enum trm_db_status trm_fed_directory_failed(struct trm_db_conn *c, const char *peer, unsigned max_s,
                                            unsigned *failures, unsigned *retry_in_s);

#endif
