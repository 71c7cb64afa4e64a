/* Schema migrations: numbered SQL files (NNNN_name.sql) applied in order, each once, in its
 * own transaction, and recorded with a checksum in schema_migrations. An applied file that
 * changed afterwards is refused: the database must be what the files say it is. */
#ifndef TRM_MIGRATE_H
#define TRM_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

/* Parses "0007_add_cases.sql" into 7; false for any other shape. */
bool trm_migration_name_parse(const char *file_name, int *version);
/* Hex SHA-256 of the file contents (65 bytes with the NUL). */
void trm_migration_checksum(const char *text, size_t len, char out[65]);
/* Applies every pending migration in dir; prints progress to out and one clear error line
 * to err. Returns 0 on success. */
int trm_migrate(PGconn *pg, const char *dir, FILE *out, FILE *err);

#endif
