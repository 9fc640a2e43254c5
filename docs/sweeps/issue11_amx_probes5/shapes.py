"""Distinct batch shapes of the recipe's sampler over N epochs."""
import sys
import numpy as np
from nmt.data.dataset import load_split
from nmt.data.resegment import StoredPairs
from nmt.data.batching import TokenBatchSampler
src, tgt = load_split("/work/runs/pp1/data", "train")
s = TokenBatchSampler(StoredPairs(src, tgt), 4096, 42)  # the recipe: batch_tokens 4096, seed 42
shapes, enc_rows, dec_rows, pad = set(), set(), set(), []
for e in range(int(sys.argv[1])):
    sl, tl = src.lengths + 1, tgt.lengths + 1
    for b in s.batches_of_epoch(e):
        B, S, T = len(b), sl[b].max(), tl[b].max()
        shapes.add((B, S, T)); enc_rows.add(B * S); dec_rows.add(B * T)
    print(e, len(s.batches_of_epoch(e)), "batches;", len(shapes), "shapes (B,S,T);", len(enc_rows), "encoder row counts;", len(dec_rows), "decoder row counts")
