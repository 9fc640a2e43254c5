#!/bin/bash
# Issue 11, fourth AMX sitting: before (287a40d, /work/before, glibc malloc) and after (2011d05, /work/after:
# `nmt train` restarts under tcmalloc, installed from Debian's libtcmalloc-minimal4), one after the other,
# nothing else running. In-process scripts get tcmalloc through LD_PRELOAD, as the restarted `nmt train` has it.
set -x
cd /work/sitting4
PY=/work/main/.venv/bin/python
NMT=/work/main/.venv/bin/nmt
S=/work/after/scripts
T=/work/shared/data/multi30k/test_2016_flickr
TC=libtcmalloc_minimal.so.4
date; lscpu | grep 'Model name'
PYTHONPATH=/work/before $PY $S/benchmark_memory.py --run-dir pp --steps 200 --set train.limits.max_time=0 --out mem_before.json > mem_before.log 2>&1
PYTHONPATH=/work/after $PY $S/benchmark_memory.py --run-dir pp --steps 200 --set train.limits.max_time=0 --out mem_after_glibc.json > mem_after_glibc.log 2>&1
PYTHONPATH=/work/after LD_PRELOAD=$TC $PY $S/benchmark_memory.py --run-dir pp --steps 200 --set train.limits.max_time=0 --out mem_after.json > mem_after.log 2>&1
date
for v in before after; do
  pre=""; [ $v = after ] && pre=$TC
  rm -rf bf16_$v; cp -r pp bf16_$v
  PYTHONPATH=/work/$v /usr/bin/time -v $NMT train --run-dir bf16_$v --max-time 1200 > bf16_$v.log 2>&1
  date
  PYTHONPATH=/work/$v LD_PRELOAD=$pre $PY $S/benchmark_training.py --run-dir bf16_$v --out train_bf16_$v.json > train_bf16_$v.log 2>&1
  PYTHONPATH=/work/$v $NMT translate --model bf16_$v/best --beam 5 --input $T.de --output test_$v.hyp.en > translate_$v.log 2>&1
  PYTHONPATH=/work/$v $NMT evaluate --hyp test_$v.hyp.en --ref $T.en --metrics bleu chrf >> translate_$v.log 2>&1
  date
done
for v in before after; do
  pre=""; [ $v = after ] && pre=$TC
  rm -rf fp32_$v; cp -r pp fp32_$v
  PYTHONPATH=/work/$v /usr/bin/time -v $NMT train --run-dir fp32_$v --max-time 240 --set train.compute.precision=fp32 > fp32_$v.log 2>&1
  PYTHONPATH=/work/$v LD_PRELOAD=$pre $PY $S/benchmark_training.py --run-dir fp32_$v --out train_fp32_$v.json > train_fp32_$v.log 2>&1
  date
done
echo SITTING DONE
