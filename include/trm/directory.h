/* The old name of directory_store.h, kept only for service/federation/delivery.c (the
 * federation work in flight edits that file): include trm/directory_store.h, and delete this
 * once delivery.c does. */
#ifndef TRM_DIRECTORY_H
#define TRM_DIRECTORY_H

#include "trm/directory_store.h"

#endif
