#!/bin/sh
# The sixth step's closing sequence (2026-11-28), one process at a time, nothing else computing:
# seconds an update and model FLOP/s over the bf16 limit, the recipe as is against dropout off, eager
# against compiled. RUN: a preprocessed recipe run folder (nmt preprocess on configs/multi30k_de_en_transformer.yaml).
RUN=${RUN:-/work/sitting4/pp}
HERE=$(dirname "$0")
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ONEDNN_PRIMITIVE_CACHE_CAPACITY=256
for v in eager_dropout eager compiled eager_dropout eager; do
  date -u +%H:%M:%S
  python "$HERE/compile_bound.py" "$RUN" $v 2>&1 | grep -v "USDT\|^note:\|Warning"
done
