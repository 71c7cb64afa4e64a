/* The exported handover-log verifier (trmctl verify-log) over arbitrary NDJSON. */
#include "fuzz_common.h"

#include <string.h>

#include "trm/handover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pk[TRM_SIGN_PUBLIC_BYTES] = {1, 2, 3};
    struct trm_chain_check check = {.public_key = pk};
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '\n')
            continue;
        json_t *item = json_loadb((const char *)data + start, i - start, 0, NULL);
        if (item) {
            trm_chain_feed(&check, item);
            json_decref(item);
        }
        start = i + 1;
    }
    return 0;
}
