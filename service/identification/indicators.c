/* Indicator sets and the ILO/EC combination rule (see identification.h and
 * docs/identification.md). A set is refused with every problem named by JSON pointer. */
#include "trm/identification.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const trm_ind_dimension_codes[] = {"deceptive_recruitment",
                                               "coercive_recruitment",
                                               "recruitment_abuse_of_vulnerability",
                                               "exploitation",
                                               "coercion_at_destination",
                                               "abuse_of_vulnerability_at_destination",
                                               NULL};
const char *const trm_ind_element_names[] = {"recruitment", "exploitation", "coercion", NULL};
const char *const trm_ind_strength_names[] = {"strong", "medium", "weak", NULL};
/* The element each dimension belongs to, in the order of trm_ind_dimension_codes. */
static const enum trm_ind_element dimension_element[] = {TRM_IND_RECRUITMENT, TRM_IND_RECRUITMENT,
                                                         TRM_IND_RECRUITMENT, TRM_IND_EXPLOITATION,
                                                         TRM_IND_COERCION,    TRM_IND_COERCION};

static int index_of(const char *const *list, const char *v)
{
    for (int i = 0; v && list[i]; i++)
        if (strcmp(list[i], v) == 0)
            return i;
    return -1;
}

static void problem(json_t *errors, const char *message, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(json_t *errors, const char *message, const char *fmt, ...)
{
    char pointer[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pointer, sizeof pointer, fmt, ap);
    va_end(ap);
    json_array_append_new(errors, json_pack("{s:s, s:s}", "pointer", pointer, "message", message));
}

static bool code_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= TRM_IND_CODE)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

static bool text_ok(json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    return s && s[0] && strlen(s) <= max;
}

/* The indicator of code in the set, or NULL; *dim gets its dimension. */
static const struct trm_ind_dimension *find_indicator(const struct trm_indicator_set *set,
                                                      const char *code, size_t *at)
{
    for (size_t d = 0; d < set->n_dimensions; d++)
        for (size_t i = 0; i < set->dimensions[d].n_indicators; i++)
            if (strcmp(set->dimensions[d].indicators[i], code) == 0) {
                *at = i;
                return &set->dimensions[d];
            }
    return NULL;
}

static void parse_indicators(struct trm_indicator_set *set, struct trm_ind_dimension *dim,
                             size_t di, json_t *list, json_t *errors)
{
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > TRM_IND_MAX_INDICATORS) {
        problem(errors, "a dimension lists 1 to 40 indicators", "/dimensions/%zu/indicators", di);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *code = json_string_value(json_object_get(item, "code"));
        int strength =
            index_of(trm_ind_strength_names, json_string_value(json_object_get(item, "strength")));
        size_t at;
        if (!json_is_object(item) || json_object_size(item) != 2 || !code_ok(code)) {
            problem(errors,
                    "an indicator is {\"code\", \"strength\"}, its code of lower-case "
                    "letters, digits, - and _",
                    "/dimensions/%zu/indicators/%zu", di, i);
            continue;
        }
        if (strength < 0) {
            problem(errors, "strength is strong, medium or weak",
                    "/dimensions/%zu/indicators/%zu/strength", di, i);
            continue;
        }
        if (find_indicator(set, code, &at)) {
            problem(errors, "duplicate indicator code", "/dimensions/%zu/indicators/%zu/code", di,
                    i);
            continue;
        }
        snprintf(dim->indicators[dim->n_indicators], TRM_IND_CODE, "%s", code);
        dim->strengths[dim->n_indicators++] = (enum trm_ind_strength)strength;
    }
}

static void parse_dimensions(struct trm_indicator_set *set, json_t *list, json_t *errors)
{
    if (!json_is_array(list) || json_array_size(list) != TRM_IND_MAX_DIMENSIONS) {
        problem(errors, "the six dimensions of the publication, in its order", "/dimensions");
        return;
    }
    size_t di;
    json_t *d;
    json_array_foreach(list, di, d)
    {
        const char *code = json_string_value(json_object_get(d, "code"));
        const char *element = json_string_value(json_object_get(d, "element"));
        if (!json_is_object(d) || json_object_size(d) != 3) {
            problem(errors, "a dimension is {\"code\", \"element\", \"indicators\"}",
                    "/dimensions/%zu", di);
            continue;
        }
        if (!code || strcmp(code, trm_ind_dimension_codes[di]) != 0) {
            problem(errors, "not the dimension expected here (docs/identification.md)",
                    "/dimensions/%zu/code", di);
            continue;
        }
        if (index_of(trm_ind_element_names, element) != (int)dimension_element[di]) {
            problem(errors, "not the element this dimension belongs to", "/dimensions/%zu/element",
                    di);
            continue;
        }
        struct trm_ind_dimension *dim = &set->dimensions[set->n_dimensions++];
        snprintf(dim->code, sizeof dim->code, "%s", code);
        dim->element = dimension_element[di];
        parse_indicators(set, dim, di, json_object_get(d, "indicators"), errors);
    }
}

static bool language_ok(const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && s[i] >= 'a' && s[i] <= 'z')
        i++;
    if (i < 2 || i > 3)
        return false;
    return i == n || (n == i + 3 && s[i] == '-' && s[i + 1] >= 'A' && s[i + 1] <= 'Z' &&
                      s[i + 2] >= 'A' && s[i + 2] <= 'Z');
}

/* {"<name>": "label"} where each name is one list allows (known returns true). */
static void check_label_map(const struct trm_indicator_set *set, json_t *map, const char *lang,
                            const char *member,
                            bool (*known)(const struct trm_indicator_set *, const char *),
                            json_t *errors)
{
    const char *name;
    json_t *v;
    if (!json_is_object(map)) {
        problem(errors, "an object of labels", "/labels/%s/%s", lang, member);
        return;
    }
    json_object_foreach(map, name, v)
    {
        if (!known(set, name))
            problem(errors, "names nothing the set declares", "/labels/%s/%s/%s", lang, member,
                    name);
        else if (!text_ok(v, 300))
            problem(errors, "a label is a text of 1 to 300 bytes", "/labels/%s/%s/%s", lang, member,
                    name);
    }
}

static bool known_dimension(const struct trm_indicator_set *set, const char *name)
{
    (void)set;
    return index_of(trm_ind_dimension_codes, name) >= 0;
}

static bool known_element(const struct trm_indicator_set *set, const char *name)
{
    (void)set;
    return index_of(trm_ind_element_names, name) >= 0;
}

static bool known_strength(const struct trm_indicator_set *set, const char *name)
{
    (void)set;
    return index_of(trm_ind_strength_names, name) >= 0;
}

static bool known_indicator(const struct trm_indicator_set *set, const char *name)
{
    size_t at;
    return find_indicator(set, name, &at) != NULL;
}

static void check_labels(const struct trm_indicator_set *set, json_t *labels, json_t *errors)
{
    const char *lang, *key;
    json_t *words, *v;
    if (labels == NULL)
        return;
    if (!json_is_object(labels) || json_object_size(labels) > 32) {
        problem(errors, "labels map at most 32 language tags to words", "/labels");
        return;
    }
    json_object_foreach(labels, lang, words)
    {
        if (!language_ok(lang) || !json_is_object(words)) {
            problem(errors, "a language tag (en, sv, tl, en-GB) and an object", "/labels/%s", lang);
            continue;
        }
        json_object_foreach(words, key, v)
        {
            if (strcmp(key, "title") == 0) {
                if (!text_ok(v, 300))
                    problem(errors, "a label is a text of 1 to 300 bytes", "/labels/%s/title",
                            lang);
            } else if (strcmp(key, "dimensions") == 0) {
                check_label_map(set, v, lang, key, known_dimension, errors);
            } else if (strcmp(key, "elements") == 0) {
                check_label_map(set, v, lang, key, known_element, errors);
            } else if (strcmp(key, "strengths") == 0) {
                check_label_map(set, v, lang, key, known_strength, errors);
            } else if (strcmp(key, "indicators") == 0) {
                check_label_map(set, v, lang, key, known_indicator, errors);
            } else {
                problem(errors, "unknown member", "/labels/%s/%s", lang, key);
            }
        }
    }
}

static void check_header(struct trm_indicator_set *set, json_t *doc, json_t *errors)
{
    static const char *const members[] = {
        "code",         "version", "title",      "source", "population",
        "exploitation", "rule",    "dimensions", "labels", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (index_of(members, key) < 0)
            problem(errors, "unknown member", "/%s", key);
    }
    const char *code = json_string_value(json_object_get(doc, "code"));
    json_t *version = json_object_get(doc, "version");
    const char *population = json_string_value(json_object_get(doc, "population"));
    const char *exploitation = json_string_value(json_object_get(doc, "exploitation"));
    const char *rule = json_string_value(json_object_get(doc, "rule"));
    if (!code_ok(code))
        problem(errors, "a code of lower-case letters, digits, - and _", "/code");
    else
        snprintf(set->code, sizeof set->code, "%s", code);
    if (!json_is_integer(version) || json_integer_value(version) < 1 ||
        json_integer_value(version) > 1000000)
        problem(errors, "a version from 1", "/version");
    else
        set->version = (long)json_integer_value(version);
    if (!text_ok(json_object_get(doc, "title"), 300))
        problem(errors, "a title of 1 to 300 bytes", "/title");
    if (!text_ok(json_object_get(doc, "source"), 500))
        problem(errors, "the publication the set follows, 1 to 500 bytes", "/source");
    if (!population || (strcmp(population, "adults") && strcmp(population, "children")))
        problem(errors, "adults or children", "/population");
    else
        set->children = strcmp(population, "children") == 0;
    if (!exploitation || (strcmp(exploitation, "labour") && strcmp(exploitation, "sexual")))
        problem(errors, "labour or sexual", "/exploitation");
    if (!rule || strcmp(rule, "ilo-ec-2009") != 0)
        problem(errors, "the combination rule: ilo-ec-2009 (the only one known)", "/rule");
}

struct trm_indicator_set *trm_indicator_set_parse(json_t *doc, json_t *errors)
{
    if (!json_is_object(doc)) {
        problem(errors, "an indicator set is a JSON object", "%s", "");
        return NULL;
    }
    struct trm_indicator_set *set = calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    size_t before = json_array_size(errors);
    check_header(set, doc, errors);
    parse_dimensions(set, json_object_get(doc, "dimensions"), errors);
    check_labels(set, json_object_get(doc, "labels"), errors);
    if (json_array_size(errors) > before) {
        free(set);
        return NULL;
    }
    return set;
}

void trm_indicator_set_free(struct trm_indicator_set *set)
{
    free(set);
}

const char *trm_ind_dimension_rule(unsigned strong, unsigned medium, unsigned weak)
{
    if (strong >= 2)
        return "a";
    if (strong >= 1 && medium + weak >= 1)
        return "b";
    if (medium >= 3)
        return "c";
    if (medium >= 2 && weak >= 1)
        return "d";
    return NULL;
}

/* Counts the observed indicators per dimension and strength; false with errors. */
static bool count_observed(const struct trm_indicator_set *set, json_t *observed,
                           unsigned counts[][3], json_t *errors)
{
    size_t before = json_array_size(errors), i, j;
    json_t *v;
    if (!json_is_array(observed) || json_array_size(observed) > 256) {
        problem(errors, "a list of at most 256 indicator codes", "/observed");
        return false;
    }
    json_array_foreach(observed, i, v)
    {
        const char *code = json_string_value(v);
        size_t at;
        const struct trm_ind_dimension *dim = code ? find_indicator(set, code, &at) : NULL;
        if (dim == NULL) {
            problem(errors, "not an indicator of this set", "/observed/%zu", i);
            continue;
        }
        bool repeated = false;
        for (j = 0; j < i; j++)
            repeated = repeated || json_equal(json_array_get(observed, j), v);
        if (repeated) {
            problem(errors, "listed twice", "/observed/%zu", i);
            continue;
        }
        counts[dim - set->dimensions][dim->strengths[at]]++;
    }
    return json_array_size(errors) == before;
}

/* Why, in words: which elements are met, which missing. */
static json_t *why(const struct trm_indicator_set *set, const bool element[3], bool presumed)
{
    char text[512];
    const char *coercion = set->children ? "not required for a child" : NULL;
    snprintf(text, sizeof text,
             "%s Recruitment: %s. Exploitation: %s. Coercion: %s. (ILO/EC 2009 rule: %s.)",
             presumed ? "The indicators point to trafficking."
                      : "The indicators do not (yet) "
                        "point to trafficking.",
             element[0] ? "positive" : "no positive dimension",
             element[1] ? "positive" : "not positive",
             coercion     ? coercion
             : element[2] ? "positive"
                          : "no positive dimension",
             set->children ? "a recruitment dimension and exploitation positive"
                           : "a recruitment dimension, exploitation and a coercion dimension "
                             "positive");
    return json_string(text);
}

json_t *trm_ind_assess(const struct trm_indicator_set *set, json_t *observed, json_t *errors)
{
    unsigned counts[TRM_IND_MAX_DIMENSIONS][3] = {{0}};
    if (!count_observed(set, observed, counts, errors))
        return NULL;
    json_t *dims = json_object();
    bool element[3] = {false, false, false};
    for (size_t d = 0; d < set->n_dimensions; d++) {
        const char *clause = trm_ind_dimension_rule(counts[d][0], counts[d][1], counts[d][2]);
        element[set->dimensions[d].element] = element[set->dimensions[d].element] || clause;
        json_object_set_new(dims, set->dimensions[d].code,
                            json_pack("{s:b, s:i, s:i, s:i, s:o}", "positive", clause != NULL,
                                      "strong", counts[d][0], "medium", counts[d][1], "weak",
                                      counts[d][2], "clause",
                                      clause ? json_string(clause) : json_null()));
    }
    bool presumed = element[0] && element[1] && (set->children || element[2]);
    return json_pack("{s:o, s:{s:b, s:b, s:b}, s:b, s:o}", "dimensions", dims, "elements",
                     "recruitment", element[0], "exploitation", element[1], "coercion", element[2],
                     "presumed_victim", presumed, "why", why(set, element, presumed));
}
