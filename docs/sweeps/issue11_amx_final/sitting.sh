#!/bin/bash
# Issue 11, final sitting on an Intel Xeon with AMX: before (c25d08e, the code issue 11's 7.45 % was measured on,
# /work/wt_before) and after (9f0847c, /work/wt_after), one after the other, nothing else running; then JoeyNMT.
# Each tree runs its own `nmt` (python -m nmt, PYTHONPATH=tree) and its own benchmark scripts. After's `nmt train`
# restarts itself under tcmalloc (nmt/allocator.py); its in-process scripts get the same environment by hand.
set -x
cd /work/sitting7
PY=/work/main/.venv/bin/python
T=/work/shared/data/multi30k/test_2016_flickr
PP=/work/sitting4/pp
declare -A TREE=([before]=/work/wt_before [after]=/work/wt_after)
declare -A ENVS=([before]="" [after]="LD_PRELOAD=libtcmalloc_minimal.so.4 ONEDNN_PRIMITIVE_CACHE_CAPACITY=256")
date -u; lscpu | grep 'Model name'; grep -o -w 'amx_bf16\|avx512_bf16' /proc/cpuinfo | sort -u | xargs
$PY -c "import platform, torch, sacrebleu, sentencepiece; print(platform.python_version(), torch.__version__, sacrebleu.__version__, sentencepiece.__version__)"
for v in before after; do
  (cd /tmp && env PYTHONPATH=${TREE[$v]} ${ENVS[$v]} $PY ${TREE[$v]}/scripts/benchmark_memory.py --run-dir $PP --steps 200 \
     --set train.limits.max_time=0 --out /work/sitting7/mem_$v.json > /work/sitting7/mem_$v.log 2>&1)
  date -u
done
for v in before after; do
  rm -rf bf16_$v; cp -r $PP bf16_$v
  (cd /tmp && PYTHONPATH=${TREE[$v]} /usr/bin/time -v $PY -m nmt train --run-dir /work/sitting7/bf16_$v --max-time 1200 > /work/sitting7/bf16_$v.log 2>&1)
  date -u
  (cd /tmp && env PYTHONPATH=${TREE[$v]} ${ENVS[$v]} $PY ${TREE[$v]}/scripts/benchmark_training.py --run-dir /work/sitting7/bf16_$v --out /work/sitting7/train_bf16_$v.json > /work/sitting7/train_bf16_$v.log 2>&1)
  (cd /tmp && PYTHONPATH=${TREE[$v]} $PY -m nmt translate --model /work/sitting7/bf16_$v/best --beam 5 --input $T.de --output /work/sitting7/test_$v.hyp.en > /work/sitting7/translate_$v.log 2>&1
   PYTHONPATH=${TREE[$v]} $PY -m nmt evaluate --hyp /work/sitting7/test_$v.hyp.en --ref $T.en --metrics bleu chrf >> /work/sitting7/translate_$v.log 2>&1)
  date -u
done
for v in before after; do
  rm -rf fp32_$v; cp -r $PP fp32_$v
  (cd /tmp && PYTHONPATH=${TREE[$v]} /usr/bin/time -v $PY -m nmt train --run-dir /work/sitting7/fp32_$v --max-time 240 --set train.compute.precision=fp32 > /work/sitting7/fp32_$v.log 2>&1)
  (cd /tmp && env PYTHONPATH=${TREE[$v]} ${ENVS[$v]} $PY ${TREE[$v]}/scripts/benchmark_training.py --run-dir /work/sitting7/fp32_$v --out /work/sitting7/train_fp32_$v.json > /work/sitting7/train_fp32_$v.log 2>&1)
  date -u
done
echo NMT DONE
BUDGET_S=1200 WORK=/work/sitting7/joeynmt DATA=/work/shared/data/multi30k bash /work/shared/anchors/joeynmt/run.sh > joeynmt.log 2>&1
date -u
echo SITTING DONE
