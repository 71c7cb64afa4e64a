/* Identification indicators (docs/identification.md): indicator sets as data (the ILO/EC
 * Operational Indicators of Trafficking in Human Beings, 2009, for adults and children, labour
 * and sexual exploitation, in config/indicators/), and the publication's combination rule,
 * which turns the indicators observed in a screening into an assessment per dimension, per
 * element (recruitment, exploitation, coercion) and overall. Pure: no database, no HTTP. */
#ifndef TRM_IDENTIFICATION_H
#define TRM_IDENTIFICATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TRM_IND_MAX_DIMENSIONS 6
#define TRM_IND_MAX_INDICATORS 40 /* per dimension */
#define TRM_IND_CODE 64

enum trm_ind_strength { TRM_IND_STRONG, TRM_IND_MEDIUM, TRM_IND_WEAK };
/* The three elements of the definition; a dimension belongs to one. */
enum trm_ind_element { TRM_IND_RECRUITMENT, TRM_IND_EXPLOITATION, TRM_IND_COERCION };

struct trm_ind_dimension {
    char code[TRM_IND_CODE];
    enum trm_ind_element element;
    char indicators[TRM_IND_MAX_INDICATORS][TRM_IND_CODE];
    enum trm_ind_strength strengths[TRM_IND_MAX_INDICATORS];
    size_t n_indicators;
};

struct trm_indicator_set {
    char code[TRM_IND_CODE];
    long version;
    bool children; /* population "children": the coercion element is not required */
    struct trm_ind_dimension dimensions[TRM_IND_MAX_DIMENSIONS];
    size_t n_dimensions;
};

extern const char *const trm_ind_dimension_codes[]; /* the six, in the publication's order */
extern const char *const trm_ind_element_names[];   /* recruitment, exploitation, coercion */
extern const char *const trm_ind_strength_names[];  /* strong, medium, weak */

/* Parses and validates an indicator set document: code, version, title, source,
 * population (adults, children), exploitation (labour, sexual), rule ("ilo-ec-2009"), the six
 * dimensions each with its element and indicators (unique codes of lower-case letters,
 * digits and _, each with a strength), and optional labels per language naming only what
 * the set declares. Every problem goes to errors as {"pointer", "message"}; returns NULL
 * when there is any. */
struct trm_indicator_set *trm_indicator_set_parse(json_t *doc, json_t *errors);
void trm_indicator_set_free(struct trm_indicator_set *set);

/* The rule for one dimension (the publication's four clauses): positive with at least two
 * strong indicators, or one strong and one medium or weak, or three medium, or two medium
 * and one weak. Returns the clause met ("a" to "d"), or NULL. */
const char *trm_ind_dimension_rule(unsigned strong, unsigned medium, unsigned weak);

/* Assesses the observed indicator codes (a JSON array of strings) against the set: unknown
 * or repeated codes go to errors with pointers under /observed; otherwise returns
 * {"dimensions": {"<code>": {"positive", "strong", "medium", "weak", "clause"}},
 *  "elements": {"recruitment", "exploitation", "coercion"}, "presumed_victim", "why"},
 * where why says in words which elements are met or missing. NULL on any error. */
json_t *trm_ind_assess(const struct trm_indicator_set *set, json_t *observed, json_t *errors);

#endif
