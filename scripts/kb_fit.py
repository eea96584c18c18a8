#!/usr/bin/env python3
"""Fits the knowledge base's confidence model (core::knowledge::matching::WEIGHTS).

    cargo bench --bench kb_eval -- --dump | grep -P '^r\\d+\\t' > /tmp/kb.tsv
    python3 scripts/kb_fit.py /tmp/kb.tsv

A logistic regression, fitted on the odd-numbered requests only, of "the first candidate is the
labelled answer" on the evidence the matcher measures (features in the order of WEIGHTS). Prints
the weights, then precision@1 / recall@3 / suggested-on-none per threshold on both halves: pick
the threshold on the odd half; the even half says how well it holds.
"""
import math
import sys

COLUMNS = 5  # slug, score, lead, title_cover, shared_terms


def candidates(row):
    return [
        dict(slug=row[i], score=float(row[i + 1]), lead=float(row[i + 2]),
             title_cover=float(row[i + 3]), shared=int(row[i + 4]))
        for i in range(3, len(row), COLUMNS)
    ]


def features(best, request_terms):
    score = math.log(max(best['score'], 0.01))
    return [1.0, score, math.log(min(max(best['lead'], 0.01), 10.0)), best['title_cover'],
            math.log(1 + request_terms), math.log(1 + best['shared']), score * best['title_cover']]


def fit(rows, rate=0.2, l2=0.003, rounds=6000):
    w = [0.0] * len(rows[0]['x'])
    for _ in range(rounds):
        gradient = [0.0] * len(w)
        for row in rows:
            p = 1 / (1 + math.exp(-sum(a * b for a, b in zip(w, row['x']))))
            for k, x in enumerate(row['x']):
                gradient[k] += (p - row['y']) * x
        w = [a - rate * (g / len(rows) + l2 * a) for a, g in zip(w, gradient)]
    return w


def measure(rows, w, threshold, within=0.75):
    made = right = found = answerable = unanswerable = on_none = 0
    for row in rows:
        answerable += row['answer'] != 'none'
        unanswerable += row['answer'] == 'none'
        if not row['x']:
            continue
        if 1 / (1 + math.exp(-sum(a * b for a, b in zip(w, row['x'])))) < threshold:
            continue
        made += 1
        c = row['candidates']
        suggested = [c[0]['slug']] + [x['slug'] for x in c[1:3] if x['score'] >= within * c[0]['score']]
        if row['answer'] == 'none':
            on_none += 1
        else:
            right += suggested[0] == row['answer']
            found += row['answer'] in suggested
    return right / max(made, 1), found / max(answerable, 1), on_none / max(unanswerable, 1)


def main():
    rows = []
    for line in open(sys.argv[1]):
        row = line.rstrip('\n').split('\t')
        c = candidates(row)
        rows.append(dict(id=int(row[0].lstrip('r')), answer=row[1], candidates=c,
                         x=features(c[0], int(row[2])) if c else None,
                         y=1 if c and c[0]['slug'] == row[1] else 0))
    odd = [r for r in rows if r['id'] % 2 == 1]
    even = [r for r in rows if r['id'] % 2 == 0]
    w = fit([r for r in odd if r['x']])
    print('WEIGHTS', [round(a, 3) for a in w])
    for threshold in [0.5, 0.55, 0.6, 0.65, 0.7, 0.75]:
        print(threshold,
              'odd  p@1 %.3f r@3 %.3f none %.3f' % measure(odd, w, threshold),
              '| even p@1 %.3f r@3 %.3f none %.3f' % measure(even, w, threshold))


if __name__ == '__main__':
    main()
