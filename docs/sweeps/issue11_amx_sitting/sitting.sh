#!/bin/bash
# Issue 11 sitting: before (a95dadd) and after (the worktree /work/after), one after the other, nothing else running.
set -x
cd /work/sitting
PY=/work/main/.venv/bin/python
NMT=/work/main/.venv/bin/nmt
S=/work/main/scripts
DATA=/work/shared/data/multi30k
date; lscpu | grep 'Model name'
PYTHONPATH=/work/after $NMT preprocess --config /work/after/configs/multi30k_de_en_transformer.yaml --data-dir $DATA --run-dir pp
for v in before after; do
  PYTHONPATH=/work/$v $PY $S/benchmark_memory.py --run-dir pp --steps 200 --out mem_$v.json > mem_$v.log 2>&1
  date
done
for v in before after; do
  cp -r pp bf16_$v
  PYTHONPATH=/work/$v /usr/bin/time -v $NMT train --run-dir bf16_$v --max-time 1200 > bf16_$v.log 2>&1
  date
done
for v in before after; do
  PYTHONPATH=/work/$v $PY $S/benchmark_training.py --run-dir bf16_$v --out train_bf16_$v.json > train_bf16_$v.log 2>&1
  date
done
for v in before after; do
  cp -r pp fp32_$v
  PYTHONPATH=/work/$v /usr/bin/time -v $NMT train --run-dir fp32_$v --max-time 240 --set train.compute.precision=fp32 > fp32_$v.log 2>&1
  PYTHONPATH=/work/$v $PY $S/benchmark_training.py --run-dir fp32_$v --out train_fp32_$v.json > train_fp32_$v.log 2>&1
  date
done
echo SITTING DONE
