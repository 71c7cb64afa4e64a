/* Shared inside the auth module only. */
#ifndef TRM_AUTH_INTERNAL_H
#define TRM_AUTH_INTERNAL_H

#include "trm/auth.h"
#include "trm/directory_store.h"

/* The principal a looked-up token stands for. */
void trm_authn_fill_principal(struct trm_principal *p, const struct trm_token_row *row);

#endif
