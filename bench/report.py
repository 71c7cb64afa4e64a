#!/usr/bin/env python3
"""bench/run's arithmetic and table.

    report.py row LABEL REQS_PER_TX "REQUESTS ROUND_TRIPS" RSS_KIB SAME WRK_OUTS PGBENCH_OUTS LEAN_OUTS
    report.py table RESULTS [RSS256_KIB WRK_OUT_256]
    report.py scale LABEL WRK_OUT ...
    report.py peer TRM_WRK_OUT PEER_WRK_OUT TRM_CPU_TICKS PEER_CPU_TICKS CLK_TCK
"""
import re
import sys

UNITS = {'us': 0.001, 'ms': 1.0, 's': 1000.0}


def ms(text):
    m = re.match(r'([\d.]+)(us|ms|s)$', text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(path):
    out = open(path).read()
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    p50 = ms(re.search(r'^\s+50%\s+(\S+)', out, re.M).group(1))
    p99 = ms(re.search(r'^\s+99%\s+(\S+)', out, re.M).group(1))
    bad = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    errs = re.search(r'Socket errors: (.*)', out)
    return rps, p50, p99, int(bad.group(1)) if bad else 0, errs.group(1) if errs else ''


def pgbench(path):
    out = open(path).read()
    m = re.search(r'tps = ([\d.]+) \(without initial connection time\)', out)
    failed = re.search(r'number of failed transactions: (\d+)', out)
    return float(m.group(1)), int(failed.group(1)) if failed else 0


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def row(label, per_tx, rt, rss, same, wrk_outs, pg_outs, lean_outs):
    """One scenario's line from its rounds (comma-separated files, one of each side per
    round): medians of the rates and latencies, and the median of each round's ratios."""
    per_tx = max(int(per_tx), 1)
    rounds = [(wrk(w), pgbench(p), pgbench(l)) for w, p, l in
              zip(wrk_outs.split(','), pg_outs.split(','), lean_outs.split(','))]
    # trm's rate in pgbench's unit: scenario 5's script is an offer and an acceptance.
    trm_tx = [w[0] / per_tx for w, _, _ in rounds]
    tps = [p[0] for _, p, _ in rounds]
    lean = [l[0] for _, _, l in rounds]
    p50 = median([w[1] for w, _, _ in rounds])
    p99 = median([w[2] for w, _, _ in rounds])
    bad = sum(w[3] for w, _, _ in rounds)
    failed = sum(p[1] + l[1] for _, p, l in rounds)
    requests, trips = (int(x) for x in rt.split())
    print('\t'.join([label, '%.0f' % median(trm_tx), '%.2f' % p50, '%.2f' % p99,
                     '%.2f' % (p99 / p50), '%.0f' % median(tps),
                     '%.2f' % median([t / q for t, q in zip(trm_tx, tps)]), '%.0f' % median(lean),
                     '%.2f' % median([t / q for t, q in zip(trm_tx, lean)]),
                     '%.2f' % (trips / max(requests, 1)), str(bad), str(failed),
                     str(int(rss) // 1024), same]))


def table(results, rss256=None, wrk256=None):
    head = ['scenario', 'trm/s', 'p50 ms', 'p99 ms', 'p99/p50', 'trm SQL tps', 'trm/SQL',
            'lean tps', 'trm/lean', 'RT/req', 'non-2xx', 'pg fail', 'RSS MiB', 'check']
    rows = [line.rstrip('\n').split('\t') for line in open(results) if line.strip()]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = lambda r: '| ' + ' | '.join(c.ljust(w) for c, w in zip(r, widths)) + ' |'
    print(fmt(head))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for r in rows:
        print(fmt(r))
    if wrk256 is None:
        return
    rps, p50, p99, bad, errs = wrk(wrk256)
    print('\ntrmd peak RSS under 256 connections (scenario 2): %.1f MiB '
          '(%.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d%s)'
          % (int(rss256) / 1024, rps, p50, p99, bad, ', socket errors ' + errs if errs else ''))


def scale(label, small, big):
    parts = []
    runs = [wrk(small), wrk(big)]
    for rps, p50, p99, bad, _ in runs:
        parts.append('%.0f req/s, p50 %.2f ms, p99 %.2f ms%s'
                     % (rps, p50, p99, ', non-2xx %d' % bad if bad else ''))
    print('%s: %s (ratios p50 %.2f, p99 %.2f)'
          % (label, ' | '.join(parts), runs[1][1] / runs[0][1], runs[1][2] / runs[0][2]))


def requests(path):
    return int(re.search(r'(\d+) requests in', open(path).read()).group(1))


def peer(trm_out, peer_out, trm_ticks, peer_ticks, hz):
    rows = []
    for name, out, ticks in (('trm GET /v1/cases/{id}/summary', trm_out, trm_ticks),
                             ('PostGraphile 4 caseById', peer_out, peer_ticks)):
        rps, p50, p99, bad, _ = wrk(out)
        cpu_us = int(ticks) / int(hz) * 1e6 / max(requests(out), 1)
        rows.append((name, rps, p50, p99, bad, cpu_us))
    print('| API | req/s | p50 ms | p99 ms | non-2xx | API process CPU per request |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print('| %s | %.0f | %.2f | %.2f | %d | %.0f µs |' % r)
    print('\ntrm / PostGraphile: %.2f in requests/s; %.2f in the API process\'s CPU per request'
          % (rows[0][1] / rows[1][1], rows[1][5] / max(rows[0][5], 0.001)))


if __name__ == '__main__':
    {'row': row, 'table': table, 'scale': scale, 'peer': peer}[sys.argv[1]](*sys.argv[2:])
