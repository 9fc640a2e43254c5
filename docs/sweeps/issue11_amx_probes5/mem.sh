#!/bin/bash
# usage: mem.sh LABEL [ENV=VAL ...]  (benchmark_memory, 200 bf16 updates, under tcmalloc)
label=$1; shift
. /work/main/.venv/bin/activate
cd /tmp && env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 "$@" \
  python /work/main/scripts/benchmark_memory.py --run-dir /work/runs/pp1 --steps 200 --set train.limits.max_time=0 $SETS \
  > /work/probe5/mem_$label.txt 2>&1
echo "$label $* $(date -u +%H:%M)" >> /work/probe5/labels.txt
