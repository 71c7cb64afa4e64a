/* The federation inbox's parsing and checks over arbitrary bytes: package shape, header
 * fields, base64 payload, signature and receipt checks, and opening a sealed payload. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#include "trm/federation.h"
#include "trm/keyring.h"

static const char key_text[] =
    "kek k1 0101010101010101010101010101010101010101010101010101010101010101\n"
    "index 0202020202020202020202020202020202020202020202020202020202020202\n"
    "token 0303030303030303030303030303030303030303030303030303030303030303\n"
    "signing 0404040404040404040404040404040404040404040404040404040404040404\n"
    "box 0505050505050505050505050505050505050505050505050505050505050505\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct trm_keyring *kr;
    if (kr == NULL) {
        char err[128];
        if (sodium_init() < 0 ||
            !trm_keyring_parse(&kr, key_text, strlen(key_text), err, sizeof err))
            abort();
    }
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL)
        return 0;
    struct trm_fed_package p;
    char why[200];
    uint8_t pk[TRM_FED_KEY_BYTES];
    trm_fed_signing_public(kr, pk);
    if (trm_fed_package_parse(doc, &p, why, sizeof why)) {
        (void)trm_fed_verify_package(pk, p.hash, p.signature);
        if (p.payload) {
            uint8_t box[TRM_FED_KEY_BYTES];
            trm_fed_box_public(kr, box);
            free(trm_fed_open(kr, box, p.payload, p.payload_len));
        }
        trm_fed_package_free(&p);
    } else {
        static const uint8_t hash[TRM_FED_HASH_BYTES];
        (void)trm_fed_receipt_check(doc, pk, "00000000-0000-4000-8000-000000000000", hash, "ph.trm",
                                    why, sizeof why);
    }
    json_decref(doc);
    return 0;
}
