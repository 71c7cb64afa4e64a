/* The handlers of trmd, one file per resource; wired in routes.c. */
#ifndef TRM_HANDLERS_H
#define TRM_HANDLERS_H

#include "trm/app.h"
#include "trm/http.h"

void trm_handle_healthz(struct trm_app *app, struct trm_request *req, struct trm_response *res);
void trm_handle_readyz(struct trm_app *app, struct trm_request *req, struct trm_response *res);

#endif
