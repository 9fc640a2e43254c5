#!/bin/bash
# usage: mem.sh LABEL [ENV=VAL ...]
label=$1; shift
. /work/main/.venv/bin/activate
env "$@" python /work/main/scripts/benchmark_memory.py --run-dir /work/runs/pp1 --steps 200 > mem_$label.txt 2>&1
echo "$label $*" >> labels.txt
