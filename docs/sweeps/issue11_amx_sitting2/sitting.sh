#!/bin/bash
# Issue 11, third AMX sitting: before (2935eff, /work/before) and after (c7715ec, /work/after), one after the other, nothing else running.
set -x
cd /work/sitting3
PY=/work/main/.venv/bin/python
NMT=/work/main/.venv/bin/nmt
S=/work/after/scripts
T=/work/shared/data/multi30k/test_2016_flickr
date; lscpu | grep 'Model name'
for v in before after; do
  PYTHONPATH=/work/$v $PY $S/benchmark_memory.py --run-dir pp --steps 200 --out mem_$v.json > mem_$v.log 2>&1
  date
done
for v in before after; do
  rm -rf bf16_$v; cp -r pp bf16_$v
  PYTHONPATH=/work/$v /usr/bin/time -v $NMT train --run-dir bf16_$v --max-time 1200 > bf16_$v.log 2>&1
  date
  PYTHONPATH=/work/$v $PY $S/benchmark_training.py --run-dir bf16_$v --out train_bf16_$v.json > train_bf16_$v.log 2>&1
  PYTHONPATH=/work/$v $NMT translate --model bf16_$v/best --beam 5 --input $T.de --output test_$v.hyp.en > translate_$v.log 2>&1
  PYTHONPATH=/work/$v $NMT evaluate --hyp test_$v.hyp.en --ref $T.en --metrics bleu chrf >> translate_$v.log 2>&1
  date
done
for v in before after; do
  rm -rf fp32_$v; cp -r pp fp32_$v
  PYTHONPATH=/work/$v /usr/bin/time -v $NMT train --run-dir fp32_$v --max-time 240 --set train.compute.precision=fp32 > fp32_$v.log 2>&1
  PYTHONPATH=/work/$v $PY $S/benchmark_training.py --run-dir fp32_$v --out train_fp32_$v.json > train_fp32_$v.log 2>&1
  date
done
echo SITTING DONE
