/* The master key file and the keyring held in guarded memory. */
#include "trm/keyring.h"
#include "trm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEKS 64
#define MAX_KEY_FILE 65536

struct kek {
    char id[TRM_KEK_ID_MAX + 1];
    unsigned char *key; /* points into the guarded block */
};

struct trm_keyring {
    unsigned char *secrets; /* sodium_malloc'd: keks, index, token, signing, box */
    struct kek keks[MAX_KEKS];
    size_t n_keks;
    unsigned char *index_root, *token_key, *signing_seed, *box_secret;
};

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > TRM_KEK_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

void trm_keyring_free(struct trm_keyring *kr)
{
    if (kr == NULL)
        return;
    sodium_free(kr->secrets);
    free(kr);
}

/* One line: fills *slot (a key inside the guarded block) from hex. */
static bool take_key(const char *hex, unsigned char *slot)
{
    return hex != NULL && strlen(hex) == 2 * TRM_KEY_BYTES &&
           trm_hex_decode(hex, slot, TRM_KEY_BYTES);
}

bool trm_keyring_parse(struct trm_keyring **out, const char *text, size_t len, char *err,
                       size_t errlen)
{
    struct trm_keyring *kr = calloc(1, sizeof *kr);
    char *copy = sodium_malloc(len + 1);
    if (kr == NULL || copy == NULL) {
        free(kr);
        sodium_free(copy);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    kr->secrets = sodium_malloc((MAX_KEKS + 4) * TRM_KEY_BYTES);
    if (kr->secrets == NULL) {
        trm_keyring_free(kr);
        sodium_free(copy);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    unsigned char *fixed = kr->secrets + MAX_KEKS * TRM_KEY_BYTES;
    unsigned lineno = 0;
    bool ok = true;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); ok && line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *fsave = NULL;
        char *kind = strtok_r(line, " \t\r", &fsave);
        if (kind == NULL || kind[0] == '#')
            continue;
        char *a = strtok_r(NULL, " \t\r", &fsave), *b = strtok_r(NULL, " \t\r", &fsave);
        /* The single keys live after the KEKs in the guarded block. */
        static const char *const singles[] = {"index", "token", "signing", "box"};
        unsigned char **slots[] = {&kr->index_root, &kr->token_key, &kr->signing_seed,
                                   &kr->box_secret};
        unsigned char **single = NULL;
        size_t which = 0;
        for (size_t i = 0; i < 4; i++)
            if (strcmp(kind, singles[i]) == 0)
                single = slots[i], which = i;
        if (strcmp(kind, "kek") == 0) {
            if (kr->n_keks == MAX_KEKS || a == NULL || !valid_id(a) ||
                trm_keyring_kek(kr, a) != NULL) {
                ok = false;
            } else {
                struct kek *k = &kr->keks[kr->n_keks];
                k->key = kr->secrets + kr->n_keks * TRM_KEY_BYTES;
                ok = take_key(b, k->key);
                trm_strlcpy(k->id, a, sizeof k->id);
                kr->n_keks += ok;
            }
        } else if (single != NULL && *single == NULL) {
            *single = fixed + which * TRM_KEY_BYTES;
            ok = take_key(a, *single) && b == NULL;
        } else {
            ok = false;
        }
        if (!ok)
            snprintf(err, errlen, "key file line %u is not a valid key line", lineno);
    }
    sodium_free(copy);
    if (ok && (kr->n_keks == 0 || !kr->index_root || !kr->token_key || !kr->signing_seed)) {
        snprintf(err, errlen, "key file needs kek, index, token and signing lines");
        ok = false;
    }
    if (!ok) {
        trm_keyring_free(kr);
        return false;
    }
    sodium_mprotect_readonly(kr->secrets);
    *out = kr;
    return true;
}

bool trm_keyring_load(struct trm_keyring **out, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_KEY_FILE) {
        close(fd);
        snprintf(err, errlen, "%s: not a key file", path);
        return false;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) {
        close(fd);
        snprintf(err, errlen, "%s: key file must not be readable by others (chmod 600)", path);
        return false;
    }
    char *buf = sodium_malloc(MAX_KEY_FILE + 1);
    ssize_t n = buf ? read(fd, buf, MAX_KEY_FILE) : -1;
    close(fd);
    if (n < 0) {
        sodium_free(buf);
        snprintf(err, errlen, "%s: cannot read key file", path);
        return false;
    }
    bool ok = trm_keyring_parse(out, buf, (size_t)n, err, errlen);
    sodium_free(buf);
    return ok;
}

static void key_line(FILE *f, const char *kind, const char *id)
{
    unsigned char k[TRM_KEY_BYTES];
    char hex[2 * TRM_KEY_BYTES + 1];
    randombytes_buf(k, sizeof k);
    trm_hex_encode(k, sizeof k, hex);
    if (id)
        fprintf(f, "%s %s %s\n", kind, id, hex);
    else
        fprintf(f, "%s %s\n", kind, hex);
    sodium_memzero(k, sizeof k);
    sodium_memzero(hex, sizeof hex);
}

static void new_kek_id(char id[TRM_KEK_ID_MAX + 1])
{
    unsigned char r[4];
    char hex[9];
    randombytes_buf(r, sizeof r);
    trm_hex_encode(r, sizeof r, hex);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[16];
    strftime(date, sizeof date, "%Y%m%d", &tm);
    snprintf(id, TRM_KEK_ID_MAX + 1, "kek-%s-%s", date, hex);
}

bool trm_keyring_create_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create key file: %s", path, strerror(errno));
        return false;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        snprintf(err, errlen, "%s: cannot write key file", path);
        return false;
    }
    char id[TRM_KEK_ID_MAX + 1];
    new_kek_id(id);
    fprintf(f, "# trm master key file. Keep it secret (mode 0600) and back it up apart from\n"
               "# the database: without it, no personal data can be decrypted.\n");
    key_line(f, "index", NULL);
    key_line(f, "token", NULL);
    key_line(f, "signing", NULL);
    key_line(f, "box", NULL);
    key_line(f, "kek", id);
    bool ok = fflush(f) == 0 && fsync(fd) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        snprintf(err, errlen, "%s: cannot write key file", path);
    return ok;
}

/* Appends one fresh key line to the file, atomically (a temporary file and rename). */
static bool append_key(const char *path, const char *kind, const char *id, char *err, size_t errlen)
{
    struct trm_keyring *kr = NULL;
    if (!trm_keyring_load(&kr, path, err, errlen))
        return false;
    trm_keyring_free(kr);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int outfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = in >= 0 && outfd >= 0;
    char buf[4096];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(outfd, buf, (size_t)n) == n;
    sodium_memzero(buf, sizeof buf);
    if (in >= 0)
        close(in);
    FILE *f = ok ? fdopen(outfd, "a") : NULL;
    if (f == NULL) {
        if (outfd >= 0)
            close(outfd);
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot write the new key file", path);
        return false;
    }
    key_line(f, kind, id);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok && rename(tmp, path) == 0;
    if (!ok) {
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot replace the key file", path);
    }
    return ok;
}

bool trm_keyring_add_kek(const char *path, char new_id[TRM_KEK_ID_MAX + 1], char *err,
                         size_t errlen)
{
    new_kek_id(new_id);
    return append_key(path, "kek", new_id, err, errlen);
}

bool trm_keyring_ensure_box_key(const char *path, bool *added, char *err, size_t errlen)
{
    struct trm_keyring *kr = NULL;
    *added = false;
    if (!trm_keyring_load(&kr, path, err, errlen))
        return false;
    bool has = kr->box_secret != NULL;
    trm_keyring_free(kr);
    if (has)
        return true;
    *added = append_key(path, "box", NULL, err, errlen);
    return *added;
}

const char *trm_keyring_current_kek_id(const struct trm_keyring *kr)
{
    return kr->keks[kr->n_keks - 1].id;
}

const unsigned char *trm_keyring_kek(const struct trm_keyring *kr, const char *id)
{
    for (size_t i = 0; i < kr->n_keks; i++)
        if (strcmp(kr->keks[i].id, id) == 0)
            return kr->keks[i].key;
    return NULL;
}

size_t trm_keyring_kek_count(const struct trm_keyring *kr)
{
    return kr->n_keks;
}

const char *trm_keyring_kek_id_at(const struct trm_keyring *kr, size_t i)
{
    return i < kr->n_keks ? kr->keks[i].id : NULL;
}

const unsigned char *trm_keyring_index_root(const struct trm_keyring *kr)
{
    return kr->index_root;
}

const unsigned char *trm_keyring_token_key(const struct trm_keyring *kr)
{
    return kr->token_key;
}

const unsigned char *trm_keyring_signing_seed(const struct trm_keyring *kr)
{
    return kr->signing_seed;
}

const unsigned char *trm_keyring_box_secret(const struct trm_keyring *kr)
{
    return kr->box_secret;
}
