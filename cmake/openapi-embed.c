/* Build helper: reads docs/openapi.yaml, converts it to JSON, and writes a C file holding
 * both (trm_openapi_yaml, trm_openapi_json: include/trm/openapi.h), so that trmd serves the
 * contract it was built with and needs no YAML library at run time.
 * usage: openapi-embed IN.yaml OUT.c
 * Scalars follow the JSON schema of YAML 1.2: a plain null, ~, true, false, integer or
 * float is that JSON value, anything else (and every quoted scalar) a string. Duplicate
 * keys fail the build. */
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static json_t *convert(yaml_document_t *doc, yaml_node_t *node, int depth);

static json_t *scalar(yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, len);
    if (len == 0 || strcmp(v, "null") == 0 || strcmp(v, "~") == 0)
        return json_null();
    if (strcmp(v, "true") == 0)
        return json_true();
    if (strcmp(v, "false") == 0)
        return json_false();
    regex_t integer, real;
    regcomp(&integer, "^-?(0|[1-9][0-9]*)$", REG_EXTENDED | REG_NOSUB);
    regcomp(&real, "^-?(0|[1-9][0-9]*)(\\.[0-9]*)?([eE][-+]?[0-9]+)?$", REG_EXTENDED | REG_NOSUB);
    json_t *out = NULL;
    if (regexec(&integer, v, 0, NULL, 0) == 0)
        out = json_integer(strtoll(v, NULL, 10));
    else if (regexec(&real, v, 0, NULL, 0) == 0)
        out = json_real(strtod(v, NULL));
    else
        out = json_stringn(v, len);
    regfree(&integer);
    regfree(&real);
    return out;
}

static json_t *mapping(yaml_document_t *doc, yaml_node_t *node, int depth)
{
    json_t *obj = json_object();
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k == NULL || k->type != YAML_SCALAR_NODE) {
            fprintf(stderr, "openapi-embed: a mapping key is not a scalar (line %zu)\n",
                    k ? k->start_mark.line + 1 : 0);
            exit(1);
        }
        const char *key = (const char *)k->data.scalar.value;
        if (json_object_get(obj, key) != NULL) {
            fprintf(stderr, "openapi-embed: duplicate key '%s' (line %zu)\n", key,
                    k->start_mark.line + 1);
            exit(1);
        }
        json_object_set_new(obj, key,
                            convert(doc, yaml_document_get_node(doc, p->value), depth + 1));
    }
    return obj;
}

static json_t *convert(yaml_document_t *doc, yaml_node_t *node, int depth)
{
    if (node == NULL || depth > 200) {
        fprintf(stderr, "openapi-embed: malformed or too deep document\n");
        exit(1);
    }
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return scalar(node);
    case YAML_SEQUENCE_NODE: {
        json_t *arr = json_array();
        for (yaml_node_item_t *i = node->data.sequence.items.start;
             i < node->data.sequence.items.top; i++)
            json_array_append_new(arr, convert(doc, yaml_document_get_node(doc, *i), depth + 1));
        return arr;
    }
    case YAML_MAPPING_NODE:
        return mapping(doc, node, depth);
    case YAML_NO_NODE:
        break;
    }
    fprintf(stderr, "openapi-embed: empty node\n");
    exit(1);
}

static void emit_array(FILE *out, const char *name, const unsigned char *data, size_t len)
{
    fprintf(out, "const char %s[] = {", name);
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%s0x%02x,", i % 16 == 0 ? "\n    " : "", data[i]);
    fprintf(out, "\n    0x00};\nconst size_t %s_len = %zu;\n", name, len);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: openapi-embed IN.yaml OUT.c\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        fprintf(stderr, "openapi-embed: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    static unsigned char text[4 << 20];
    size_t len = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, &doc) || yaml_document_get_root_node(&doc) == NULL) {
        fprintf(stderr, "openapi-embed: %s:%zu: %s\n", argv[1], parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "empty document");
        return 1;
    }
    json_t *root = convert(&doc, yaml_document_get_root_node(&doc), 0);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    char *json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    FILE *out = fopen(argv[2], "w");
    if (json == NULL || out == NULL) {
        fprintf(stderr, "openapi-embed: cannot write %s\n", argv[2]);
        return 1;
    }
    fprintf(out, "/* Generated from docs/openapi.yaml by cmake/openapi-embed.c: do not edit. */\n"
                 "#include <stddef.h>\n\n");
    emit_array(out, "trm_openapi_yaml", text, len);
    emit_array(out, "trm_openapi_json", (const unsigned char *)json, strlen(json));
    free(json);
    return fclose(out) == 0 ? 0 : 1;
}
