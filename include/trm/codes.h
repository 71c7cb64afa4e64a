/* Code lists of the statistical fields a case may carry in clear: the region where the person
 * was identified (NUTS 3 for EU and EFTA countries, a documented list for others) and the
 * economic sector of labour exploitation (NACE Rev. 2 sections). They are data: tab-separated
 * files in config/codes/ (regions.tsv, sectors.tsv), read by trmd at start (codes_dir). */
#ifndef TRM_CODES_H
#define TRM_CODES_H

#include <stdbool.h>
#include <stddef.h>

struct trm_codes;

/* Reads regions.tsv and sectors.tsv from dir. Lines starting with # are comments; the first
 * other line is the header. False with a message naming the file and line. */
bool trm_codes_load(struct trm_codes **out, const char *dir, char *err, size_t errlen);
/* The same from the two files' texts (tests, fuzzing). */
bool trm_codes_parse(struct trm_codes **out, const char *regions, const char *sectors, char *err,
                     size_t errlen);
void trm_codes_free(struct trm_codes *codes);

enum trm_region_check {
    TRM_REGION_OK,
    TRM_REGION_UNKNOWN,       /* not in the list */
    TRM_REGION_OTHER_COUNTRY, /* a region of another country */
    TRM_REGION_NO_LIST,       /* no region of this country is listed */
};
enum trm_region_check trm_codes_region(const struct trm_codes *codes, const char *country,
                                       const char *code);
bool trm_codes_sector(const struct trm_codes *codes, const char *code);
/* How many regions and sectors are listed; how many regions of one country. */
size_t trm_codes_regions(const struct trm_codes *codes);
size_t trm_codes_country_regions(const struct trm_codes *codes, const char *country);
size_t trm_codes_sectors(const struct trm_codes *codes);

#endif
