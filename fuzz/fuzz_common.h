/* Shared by the fuzz harnesses: a throwaway key file and the libFuzzer entry point. */
#ifndef TRM_FUZZ_COMMON_H
#define TRM_FUZZ_COMMON_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "trm/keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A keyring from a fresh key file (created once per process). */
static inline struct trm_keyring_source *fuzz_keyring_source(void)
{
    static struct trm_keyring_source *src;
    if (src == NULL) {
        char path[64], err[256];
        if (sodium_init() < 0)
            abort();
        snprintf(path, sizeof path, "/tmp/trm-fuzz-%d.key", (int)getpid());
        unlink(path);
        if (!trm_keyring_create_file(path, err, sizeof err) ||
            !trm_keyring_source_open(&src, path, err, sizeof err))
            abort();
        unlink(path);
    }
    return src;
}

#endif
