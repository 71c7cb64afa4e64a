/* Opaque cursors (decoded and verified) and sealed fields (opened) from arbitrary bytes:
 * neither may crash, and a forged one must not verify. */
#include "fuzz_common.h"

#include <string.h>

#include "trm/crypto.h"
#include "trm/http_util.h"
#include "trm/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trm_keyring_source *src = fuzz_keyring_source();
    const struct trm_keyring *kr = trm_keyring_source_get(src);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    json_t *payload = trm_http_cursor_decode(kr, text);
    json_decref(payload);
    static unsigned char *dek;
    if (dek == NULL)
        dek = trm_dek_new();
    uint8_t *out = malloc(size + 1);
    if (trm_field_open(dek, "case", "identity", "full_name", 1, data, size, out))
        abort(); /* nothing sealed this: it cannot open */
    uint8_t unwrapped[TRM_DEK_BYTES];
    (void)trm_dek_unwrap(kr, "case", trm_keyring_current_kek_id(kr), data, size, unwrapped);
    free(out);
    free(text);
    return 0;
}
