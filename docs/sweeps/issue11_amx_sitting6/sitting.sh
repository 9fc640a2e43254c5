#!/bin/bash
# Issue 11, sixth AMX sitting: before (5c7fa99, /work/wt_base) and after (e27587d, /work/wt_new), 300-s runs of
# the bf16 recipe one after the other, nothing else running, each followed by benchmark_training.py. `nmt train`
# restarts itself under tcmalloc with the primitive cache of 256 (nmt/allocator.py); the script gets both by hand.
set -x
mkdir -p /work/sitting6 && cd /work/sitting6
here=/work/main/docs/sweeps/issue11_amx_sitting6
PY=/work/main/.venv/bin/python
NMT=/work/main/.venv/bin/nmt
declare -A TREE=([before]=/work/wt_base [after]=/work/wt_new)
date; lscpu | grep 'Model name'
for v in before after; do
  rm -rf bf16_$v; cp -r /work/sitting4/pp bf16_$v
  PYTHONPATH=${TREE[$v]} /usr/bin/time -v $NMT train --run-dir bf16_$v --max-time 300 > $here/train300_$v.log 2>&1
  date
  PYTHONPATH=${TREE[$v]} LD_PRELOAD=libtcmalloc_minimal.so.4 ONEDNN_PRIMITIVE_CACHE_CAPACITY=256 \
    $PY ${TREE[$v]}/scripts/benchmark_training.py --run-dir bf16_$v --out $here/train_bf16_$v.json > $here/train_bf16_$v.log 2>&1
  date
done
echo SITTING DONE
