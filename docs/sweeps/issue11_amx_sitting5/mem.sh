#!/bin/bash
# usage: mem.sh LABEL TREE [ENV=VAL ...]  (benchmark_memory, 200 bf16 updates, under tcmalloc, code of TREE)
label=$1; tree=$2; shift 2
. /work/main/.venv/bin/activate
cd /tmp && env PYTHONPATH=$tree LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 "$@" \
  python $tree/scripts/benchmark_memory.py --run-dir /work/runs/pp1 --steps ${STEPS:-200} --set train.limits.max_time=0 $SETS \
  > /work/probe6/mem_$label.txt 2>&1
echo "$label $tree $* $(date -u +%H:%M)" >> /work/probe6/labels.txt
