#!/usr/bin/env python3
"""Deterministic text-like test data for the benchmarks.

  textgen.py make FILE SIZE [--seed N]        write SIZE bytes of text
  textgen.py edit FILE --seed N [--fraction F] [--places P]
                                              overwrite ~F of FILE in P scattered places
  textgen.py insert FILE --seed N [--offset O] [--bytes B]
                                              insert B bytes of text at offset O

The text is built from a synthetic vocabulary with Zipf-like word frequencies,
varied punctuation and line lengths, so it compresses about like prose (~3x with
zstd -3) and never repeats at chunk scale (no free dedup inside one file).
Sentences are drawn from a large pool (~80 MB) for speed; a pool that large
recurs too rarely within zstd's window to inflate the compression ratio.
"""
import argparse
import operator
import random
import sys

SEPS = [" "] * 14 + [", ", ". ", ".\n", "\n", "; ", " - "]
SEP_WEIGHTS = [1.0] * 14 + [1.2, 1.0, 0.35, 0.25, 0.1, 0.05]


def vocabulary(rng, n=30000):
    cons = "b c d f g h j k l m n p r s t v w z br ch cl cr dr fl gr pl pr sh st th tr".split()
    vowels = "a e i o u ai ea ee ie oo ou y".split()
    seen, words = set(), []
    while len(words) < n:
        w = "".join(rng.choice(cons) + rng.choice(vowels)
                    for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))))
        if rng.random() < 0.3:
            w += rng.choice("nrstdlm")
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class Text:
    def __init__(self, seed, pool_words=12_000_000):
        rng = random.Random(seed)
        words = vocabulary(rng)
        cum, total = [], 0.0
        for i in range(len(words)):
            total += 1.0 / (i + 1) ** 1.05
            cum.append(total)
        ws = rng.choices(words, cum_weights=cum, k=pool_words)
        ss = rng.choices(SEPS, weights=SEP_WEIGHTS, k=pool_words)
        # Cut the word stream into "sentences" at every separator that ends one.
        pool, cur = [], []
        for w, s in zip(ws, ss):
            cur.append(w + s)
            if s[0] in ".\n;" or len(cur) > 40:
                pool.append("".join(cur))
                cur = []
        self.pool = pool
        self.rng = rng

    def piece(self, size):
        """size bytes of fresh text."""
        out, n = [], 0
        while n < size:
            batch = self.rng.choices(self.pool, k=max(64, min(100000, (size - n) // 60)))
            s = "".join(batch)
            out.append(s)
            n += len(s)
        return "".join(out).encode()[:size]


def make(args):
    t = Text(args.seed)
    with open(args.file, "wb") as f:
        left = args.size
        while left > 0:
            b = t.piece(min(left, 16 << 20))
            f.write(b)
            left -= len(b)


def edit(args):
    t = Text(args.seed, pool_words=2_000_000)
    with open(args.file, "r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        each = max(1, int(size * args.fraction / args.places))
        for _ in range(args.places):
            off = t.rng.randrange(0, max(1, size - each))
            f.seek(off)
            f.write(t.piece(each))


def insert(args):
    t = Text(args.seed, pool_words=100_000)
    with open(args.file, "rb") as f:
        data = f.read()
    with open(args.file, "wb") as f:
        f.write(data[:args.offset])
        f.write(t.piece(args.bytes))
        f.write(data[args.offset:])


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("file")
    m.add_argument("size", type=int)
    m.add_argument("--seed", type=int, default=1)
    e = sub.add_parser("edit")
    e.add_argument("file")
    e.add_argument("--seed", type=int, required=True)
    e.add_argument("--fraction", type=float, default=0.01)
    e.add_argument("--places", type=int, default=100)
    i = sub.add_parser("insert")
    i.add_argument("file")
    i.add_argument("--seed", type=int, required=True)
    i.add_argument("--offset", type=int, default=4096)
    i.add_argument("--bytes", type=int, default=100)
    args = p.parse_args()
    {"make": make, "edit": edit, "insert": insert}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
