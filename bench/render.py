#!/usr/bin/env python3
"""Renders a pgbench script from a template whose statements are named after trmd's own
TRM_DB_STMT declarations, so pgbench runs exactly the SQL trmd prepares.

    bench/render.py TEMPLATE SOURCE.c... > script.sql
    bench/render.py --check TEMPLATE QUERIES SOURCE.c...

The second form checks that trmd really ran every statement the template names: QUERIES
holds the query texts pg_stat_statements recorded while trmd served the scenario, one per
line (constants there are normalized, so both sides are compared with every literal and
parameter reduced to "?").

A template line `@stmt_case_read(ARG ,, ARG ,, ARG);` becomes that statement's SQL (read
from the C sources through the preprocessor) with $1, $2, ... replaced by the arguments
(pgbench variables such as :case_id, or SQL expressions). `@context(...)` is the row-level
security context exactly as service/db/exec.c sends it. Other lines pass through."""
import re
import subprocess
import sys

ROOT = __file__.rsplit('/bench/', 1)[0]
CONTEXT = ("SELECT set_config('trm.user_id', $1, true), set_config('trm.agency_id', $2, true), "
           "set_config('trm.country', $3, true), set_config('trm.role', $4, true), "
           "set_config('trm.cross_border', $5, true), set_config('trm.token_id', $6, true)")


def statements(sources):
    found = {'context': CONTEXT}
    for src in sources:
        pre = subprocess.run(['cc', '-E', '-P', '-I' + ROOT + '/include',
                              '-I' + ROOT + '/build/release/generated',
                              '-I/usr/include/postgresql', src],
                             capture_output=True, text=True, check=True).stdout
        pat = r'struct trm_db_stmt (\w+) = \{"\w+", ((?:\s*"(?:[^"\\]|\\.)*")+)\s*,'
        for m in re.finditer(pat, pre):
            # Adjacent C string literals concatenate like Python's; the escapes agree.
            found[m.group(1)] = eval(m.group(2).replace('\n', ' '))  # noqa: S307 (our sources)
    return found


def hide_colons(sql):
    """pgbench takes every :name as a variable, even inside a string literal: a literal
    with a colon (to_char's 'HH24:MI:SS') is spelt as the same constant with \\x3a."""
    def spell(m):
        lit = m.group(0)
        if not re.search(r':[A-Za-z_]', lit):
            return lit
        assert '\\' not in lit
        return 'E' + lit.replace(':', '\\x3a')
    return re.sub(r"'(?:[^']|'')*'", spell, sql)


def render(line, found):
    m = re.match(r'^@(\w+)\((.*)\);\s*$', line)
    if not m:
        return line
    args = [a.strip() for a in m.group(2).split(',,')] if m.group(2).strip() else []
    sql = hide_colons(found[m.group(1)])
    return re.sub(r'\$(\d+)', lambda p: args[int(p.group(1)) - 1], sql) + ';\n'


def skeleton(sql):
    sql = re.sub(r"'(?:[^']|'')*'", '?', sql)
    sql = re.sub(r'\$\d+|\b\d+\b|\btrue\b|\bfalse\b', '?', sql)
    sql = re.sub(r'extract\(\w+ FROM', 'extract(? FROM', sql)
    return re.sub(r'\s+', ' ', sql).strip().rstrip(';')


def check(template, queries, sources):
    found = statements(sources)
    ran = {skeleton(q) for q in open(queries)}
    names = re.findall(r'^@(\w+)\(', open(template).read(), re.M)
    missing = sorted({n for n in names if skeleton(found[n]) not in ran})
    print('same SQL: ok' if not missing else 'same SQL: trmd did not run ' + ' '.join(missing))
    return 0 if not missing else 1


def main():
    if sys.argv[1] == '--check':
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4:]))
    found = statements(sys.argv[2:])
    with open(sys.argv[1]) as template:
        for line in template:
            sys.stdout.write(render(line, found))


if __name__ == '__main__':
    main()
