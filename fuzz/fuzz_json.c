/* The declarative JSON validators: a case body (with every person category) and a SOP
 * document, from arbitrary bytes. */
#include "fuzz_common.h"

#include "trm/cases.h"
#include "trm/json_spec.h"
#include "trm/sop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL)
        return 0;
    json_t *errors = json_array();
    trm_json_check(doc, trm_person_spec, "", errors);
    struct trm_sop *sop = trm_sop_parse(doc, errors);
    if (sop) {
        /* A valid SOP: every transition can be checked against empty facts. */
        struct trm_case_facts f = {0};
        for (int i = 0; i < sop->n_transitions; i++)
            trm_sop_check(sop, &sop->transitions[i], &f, TRM_ROLE_CASEWORKER, true, NULL, NULL);
        trm_sop_free(sop);
    }
    json_decref(errors);
    json_decref(doc);
    return 0;
}
