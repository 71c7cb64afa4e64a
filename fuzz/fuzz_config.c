/* The configuration parser and the key-file parser. */
#include "fuzz_common.h"

#include "trm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trm_config c;
    char err[512];
    trm_config_defaults(&c);
    trm_config_parse(&c, (const char *)data, size, "fuzz", err, sizeof err);
    struct trm_keyring *kr = NULL;
    if (sodium_init() >= 0 && trm_keyring_parse(&kr, (const char *)data, size, err, sizeof err))
        trm_keyring_free(kr);
    return 0;
}
