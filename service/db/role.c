/* Whether the role a connection logged in as has more power than trmd may hold (see
 * trm_db_role_excess in db.h). trm_app owns nothing and cannot bypass row-level security;
 * a role that can become a superuser, bypass RLS or act as the owner of the schema could
 * undo every policy with one injected statement, so trmd refuses it. */
#include "trm/db.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Roles the login role can become (itself, and every role it is a member of, directly or
 * not, with or without INHERIT: SET ROLE reaches them all), and the first thing found that
 * makes one of them too powerful: a superuser, BYPASSRLS, or ownership of the database or
 * of a relation, schema, function or type in it (the system schemas apart). */
static const char role_sql[] =
    "WITH mine AS (SELECT oid, rolname, rolsuper, rolbypassrls FROM pg_roles "
    "              WHERE pg_has_role(current_user, oid, 'MEMBER')), "
    "user_ns AS (SELECT oid, nspname, nspowner FROM pg_namespace "
    "            WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'), "
    "owned AS ("
    " SELECT CASE c.relkind WHEN 'r' THEN 1 WHEN 'p' THEN 1 ELSE 2 END AS rank, "
    "        CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' "
    "             WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index' "
    "             ELSE 'relation' END || ' ' || quote_ident(n.nspname) || '.' "
    "             || quote_ident(c.relname) AS what, c.relowner AS owner "
    " FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace "
    " UNION ALL SELECT 3, 'schema ' || quote_ident(nspname), nspowner FROM user_ns "
    " UNION ALL SELECT 4, 'function ' || p.oid::regprocedure::text, p.proowner "
    " FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace "
    " UNION ALL SELECT 5, 'type ' || t.oid::regtype::text, t.typowner "
    " FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace "
    " UNION ALL SELECT 6, 'database ' || quote_ident(datname), datdba FROM pg_database "
    " WHERE datname = current_database()) "
    "SELECT current_user, "
    " (SELECT rolname FROM mine WHERE rolsuper ORDER BY rolname <> current_user, rolname "
    "  LIMIT 1), "
    " (SELECT rolname FROM mine WHERE rolbypassrls ORDER BY rolname <> current_user, rolname "
    "  LIMIT 1), "
    " (SELECT m.rolname FROM owned o JOIN mine m ON m.oid = o.owner "
    "  ORDER BY o.rank, m.rolname <> current_user, o.what LIMIT 1), "
    " (SELECT o.what FROM owned o JOIN mine m ON m.oid = o.owner "
    "  ORDER BY o.rank, m.rolname <> current_user, o.what LIMIT 1)";

/* "role X" for the login role itself, "role X, as a member of role Y" otherwise. */
static void who(char *out, size_t len, const char *login, const char *via)
{
    if (strcmp(login, via) == 0)
        snprintf(out, len, "database role %s", login);
    else
        snprintf(out, len, "database role %s, as a member of %s,", login, via);
}

int trm_db_role_excess(PGconn *pg, char *why, size_t len)
{
    PGresult *r = PQexec(pg, role_sql);
    trm_db_count_round_trip();
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    const char *login = PQgetvalue(r, 0, 0);
    char subject[256];
    int excess = 1;
    if (!PQgetisnull(r, 0, 1)) {
        who(subject, sizeof subject, login, PQgetvalue(r, 0, 1));
        snprintf(why, len, "%s is a superuser", subject);
    } else if (!PQgetisnull(r, 0, 2)) {
        who(subject, sizeof subject, login, PQgetvalue(r, 0, 2));
        snprintf(why, len, "%s bypasses row-level security (BYPASSRLS)", subject);
    } else if (!PQgetisnull(r, 0, 3)) {
        who(subject, sizeof subject, login, PQgetvalue(r, 0, 3));
        snprintf(why, len, "%s owns %s", subject, PQgetvalue(r, 0, 4));
    } else {
        excess = 0;
    }
    PQclear(r);
    return excess;
}
