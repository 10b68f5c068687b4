#!/usr/bin/env python3
"""TIES (Yadav et al. 2023) of a base and N models in numpy, in memory: the baseline of bench/run.sh cli.

Usage: ties_numpy.py FOLDER N DENSITY. FOLDER holds cli0.f32 ... cli{N}.f32 (each model's float32 tensors, one after
another; model 0 is the base) and shapes.txt (one tensor shape per line, e.g. "768 3072"). Loading is not timed; the
merge of every tensor is: trim each task vector to its top DENSITY share by magnitude, elect each entry's sign by the
sum of the trimmed task vectors, average the trimmed values that agree with it, add to the base. Prints the seconds.
"""
import sys
import time

import numpy as np


def ties(base, models, density):
    deltas = np.stack([m - base for m in models])
    k = max(1, int(density * base.size))
    for d in deltas:
        cut = np.partition(np.abs(d), base.size - k)[base.size - k]
        d[np.abs(d) < cut] = 0
    sign = np.sign(deltas.sum(axis=0))
    agree = (np.sign(deltas) == sign) & (deltas != 0)
    count = agree.sum(axis=0)
    merged = (deltas * agree).sum(axis=0) / np.maximum(count, 1)
    return base + merged


def main():
    folder, n, density = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    shapes = [tuple(int(x) for x in line.split()) for line in open(f"{folder}/shapes.txt") if line.strip()]
    sizes = [int(np.prod(s)) for s in shapes]
    whole = [np.fromfile(f"{folder}/cli{i}.f32", dtype=np.float32) for i in range(n + 1)]
    start = time.perf_counter()
    at = 0
    for size in sizes:
        ties(whole[0][at:at + size], [w[at:at + size] for w in whole[1:]], density)
        at += size
    print(f"{time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
