/* The exported handover-log verifier (trmctl verify-log) over arbitrary NDJSON. */
#include "fuzz_common.h"

#include <string.h>

#include "trm/handover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pk[TRM_SIGN_PUBLIC_BYTES] = {1, 2, 3};
    /* Without a key, checkpoints are matched against the chain unsigned: that reaches the
     * checkpoints that wait for their entries, which a forged signature never would. */
    struct trm_chain_check check = {.public_key = size % 4 < 2 ? pk : NULL,
                                    .allow_unsigned_tail = size % 2};
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
    trm_chain_finish(&check);
    trm_chain_free(&check);
    return 0;
}
