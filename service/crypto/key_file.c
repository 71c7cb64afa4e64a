/* The master key file on disk: reading it (only when its mode lets no one but its owner read
 * it), creating it (never over an existing file) and changing it. A change never edits the
 * file in place: the new text goes to a new file created with O_EXCL next to it, is synced,
 * gets the old file's mode and owner, and replaces the old one by rename, so a reader sees
 * the old file or the new one, never half of one. Changes lock the directory (flock), so two
 * trmctl runs cannot lose each other's key. */
#include "trm/keyring.h"
#include "trm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEY_FILE 65536
#define MAX_LINE 256

/* Only the owner may read the key file: mode 0600, or 0400 for a file never rewritten. */
static bool mode_ok(const char *path, const struct stat *st, char *err, size_t errlen)
{
    unsigned mode = (unsigned)st->st_mode & 07777;
    if (mode == 0600 || mode == 0400)
        return true;
    snprintf(err, errlen,
             "%s: key file mode is %04o: it must be 0600 or 0400, readable by its owner only "
             "(chmod 600 %s)",
             path, mode, path);
    return false;
}

/* Reads the whole file open at fd into guarded memory (*text, NUL-terminated). */
static bool read_text(int fd, const char *path, struct stat *st, char **text, size_t *len,
                      char *err, size_t errlen)
{
    *text = NULL;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > MAX_KEY_FILE) {
        snprintf(err, errlen, "%s: not a key file", path);
        return false;
    }
    if (!mode_ok(path, st, err, errlen))
        return false;
    char *buf = sodium_malloc(MAX_KEY_FILE + 1);
    size_t n = 0;
    ssize_t r = 1;
    while (buf && n < MAX_KEY_FILE && (r = read(fd, buf + n, MAX_KEY_FILE - n)) > 0)
        n += (size_t)r;
    if (buf == NULL || r < 0) {
        sodium_free(buf);
        snprintf(err, errlen, "%s: cannot read key file", path);
        return false;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
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
    char *text = NULL;
    size_t len = 0;
    bool ok = read_text(fd, path, &st, &text, &len, err, errlen) &&
              trm_keyring_parse(out, text, len, err, errlen);
    close(fd);
    sodium_free(text);
    return ok;
}

/* One fresh random key line, "kind [id] hex\n", at out; its length, 0 if it did not fit. */
static size_t key_line(char *out, size_t cap, const char *kind, const char *id)
{
    unsigned char k[TRM_KEY_BYTES];
    char hex[2 * TRM_KEY_BYTES + 1];
    randombytes_buf(k, sizeof k);
    trm_hex_encode(k, sizeof k, hex);
    int n = id ? snprintf(out, cap, "%s %s %s\n", kind, id, hex)
               : snprintf(out, cap, "%s %s\n", kind, hex);
    sodium_memzero(k, sizeof k);
    sodium_memzero(hex, sizeof hex);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
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

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* The directory holding path, open for fsync and flock. */
static int open_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

bool trm_keyring_create_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            snprintf(err, errlen, "%s exists: a key file is never overwritten", path);
        else
            snprintf(err, errlen, "%s: cannot create key file: %s", path, strerror(errno));
        return false;
    }
    static const char *const header =
        "# trm master key file. Keep it secret (mode 0600) and back it up apart from\n"
        "# the database: without it, no personal data can be decrypted.\n";
    static const char *const kinds[] = {"index", "token", "signing", "box", "kek"};
    char id[TRM_KEK_ID_MAX + 1];
    new_kek_id(id);
    size_t cap = strlen(header) + 5 * MAX_LINE, len = strlen(header);
    char *text = sodium_malloc(cap);
    bool ok = text != NULL;
    if (ok)
        memcpy(text, header, len);
    for (size_t i = 0; ok && i < 5; i++) {
        size_t n = key_line(text + len, cap - len, kinds[i], i == 4 ? id : NULL);
        ok = n > 0;
        len += n;
    }
    /* The umask may have taken bits away; the mode is exactly 0600 either way. */
    ok = ok && fchmod(fd, 0600) == 0 && write_all(fd, text, len) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    sodium_free(text);
    int dfd = ok ? open_dir_of(path) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (!ok) {
        unlink(path);
        snprintf(err, errlen, "%s: cannot write key file", path);
    }
    return ok;
}

/* What a change does: remove the line of one KEK, and/or add one fresh key line. */
struct key_edit {
    const char *drop_kek;          /* NULL: none */
    const char *add_kind, *add_id; /* NULL kind: none */
    bool nothing_to_do;            /* out: the file already had what add_kind asked for */
};

/* Refuses an edit the file does not allow: removing an unknown or the current KEK. */
static bool edit_allowed(const char *text, size_t len, struct key_edit *e, char *err, size_t errlen)
{
    struct trm_keyring *kr = NULL;
    if (!trm_keyring_parse(&kr, text, len, err, errlen))
        return false;
    bool ok = e->drop_kek == NULL || trm_keyring_can_retire(kr, e->drop_kek, err, errlen);
    e->nothing_to_do =
        e->add_kind && strcmp(e->add_kind, "box") == 0 && trm_keyring_box_secret(kr) != NULL;
    trm_keyring_free(kr);
    return ok;
}

/* The new text: every line of the old one but the dropped KEK's, then the added line. */
static char *edited_text(const char *old, size_t old_len, const struct key_edit *e, size_t *len)
{
    size_t cap = old_len + MAX_LINE + 2;
    char *out = sodium_malloc(cap);
    char *line = sodium_malloc(MAX_KEY_FILE + 1);
    *len = 0;
    for (size_t at = 0; out && line && at < old_len;) {
        size_t n = strcspn(old + at, "\n");
        memcpy(line, old + at, n);
        line[n] = '\0';
        char *save = NULL, *kind = strtok_r(line, " \t\r", &save);
        char *id = kind ? strtok_r(NULL, " \t\r", &save) : NULL;
        bool drop =
            e->drop_kek && kind && id && strcmp(kind, "kek") == 0 && strcmp(id, e->drop_kek) == 0;
        if (!drop) {
            memcpy(out + *len, old + at, n);
            *len += n;
            out[(*len)++] = '\n';
        }
        at += n + 1;
    }
    size_t added =
        out && e->add_kind ? key_line(out + *len, cap - *len, e->add_kind, e->add_id) : 1;
    sodium_free(line);
    if (out == NULL || added == 0) {
        sodium_free(out);
        return NULL;
    }
    *len += e->add_kind ? added : 0;
    return out;
}

/* Writes text to a new file next to path (O_EXCL, the old file's mode and owner, synced)
 * and renames it over path. */
static bool replace_file(const char *path, int dfd, const struct stat *old, const char *text,
                         size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return false;
    }
    int fd = mkstemp(tmp); /* O_EXCL, mode 0600 */
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the new key file: %s", path, strerror(errno));
        return false;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    bool ok = write_all(fd, text, len) && fchmod(fd, old->st_mode & 07777) == 0;
    if (ok && (old->st_uid != geteuid() || old->st_gid != getegid()))
        ok = fchown(fd, old->st_uid, old->st_gid) == 0;
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0 && fsync(dfd) == 0;
    if (!ok) {
        snprintf(err, errlen, "%s: cannot replace the key file: %s", path, strerror(errno));
        unlink(tmp);
    }
    return ok;
}

/* The replaced file, now linked nowhere, still holds the removed key on disk: overwrite it
 * where the file system lets us (never when another name still links it). */
static void wipe_unlinked(int fd, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_nlink != 0)
        return;
    char zeros[4096] = {0};
    for (size_t at = 0; at < len; at += sizeof zeros) {
        size_t n = len - at < sizeof zeros ? len - at : sizeof zeros;
        if (pwrite(fd, zeros, n, (off_t)at) != (ssize_t)n)
            return;
    }
    fsync(fd);
}

static bool edit_locked(const char *path, int dfd, struct key_edit *e, char *err, size_t errlen)
{
    /* Read-write when allowed, so that a removed key can be overwritten afterwards. */
    bool writable = true;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) {
        writable = false;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        if (errno == ELOOP)
            snprintf(err, errlen, "%s is a symbolic link: name the key file itself", path);
        else
            snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    char *old = NULL, *text = NULL;
    size_t old_len = 0, len = 0;
    bool ok = read_text(fd, path, &st, &old, &old_len, err, errlen) &&
              edit_allowed(old, old_len, e, err, errlen);
    if (ok && !e->nothing_to_do) {
        struct trm_keyring *check = NULL;
        text = edited_text(old, old_len, e, &len);
        ok = text != NULL && trm_keyring_parse(&check, text, len, err, errlen);
        trm_keyring_free(check);
        if (text == NULL)
            snprintf(err, errlen, "%s: out of memory", path);
        ok = ok && replace_file(path, dfd, &st, text, len, err, errlen);
        if (ok && e->drop_kek && writable)
            wipe_unlinked(fd, old_len);
    }
    sodium_free(old);
    sodium_free(text);
    close(fd);
    return ok;
}

static bool edit(const char *path, struct key_edit *e, char *err, size_t errlen)
{
    int dfd = open_dir_of(path);
    if (dfd < 0 || flock(dfd, LOCK_EX) != 0) {
        snprintf(err, errlen, "%s: cannot lock the key file's directory: %s", path,
                 strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return false;
    }
    bool ok = edit_locked(path, dfd, e, err, errlen);
    close(dfd); /* and the lock with it */
    return ok;
}

bool trm_keyring_add_kek(const char *path, char new_id[TRM_KEK_ID_MAX + 1], char *err,
                         size_t errlen)
{
    new_kek_id(new_id);
    struct key_edit e = {.add_kind = "kek", .add_id = new_id};
    return edit(path, &e, err, errlen);
}

bool trm_keyring_retire_kek(const char *path, const char *id, char *err, size_t errlen)
{
    struct key_edit e = {.drop_kek = id};
    return edit(path, &e, err, errlen);
}

bool trm_keyring_ensure_box_key(const char *path, bool *added, char *err, size_t errlen)
{
    struct key_edit e = {.add_kind = "box"};
    bool ok = edit(path, &e, err, errlen);
    *added = ok && !e.nothing_to_do;
    return ok;
}
