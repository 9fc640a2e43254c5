#!/bin/bash
# usage: mem.sh LABEL TREE  (scripts/benchmark_memory.py --steps 200 in bf16 with TREE's code, under tcmalloc with
# the oneDNN primitive cache nmt/allocator.py sets; output mem_LABEL.txt beside this script)
label=$1; tree=$2; here=$(dirname "$(readlink -f "$0")")
cd /tmp && env PYTHONPATH=$tree LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ONEDNN_PRIMITIVE_CACHE_CAPACITY=256 \
  /work/main/.venv/bin/python $tree/scripts/benchmark_memory.py --run-dir /work/runs/pp1 --steps 200 \
  --set train.limits.max_time=0 > $here/mem_$label.txt 2>&1
echo "$label $tree $(git -C $tree rev-parse --short HEAD) ended $(date -u +%H:%M)" >> $here/mem_labels.txt
