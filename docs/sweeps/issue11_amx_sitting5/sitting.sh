#!/bin/bash
# Issue 11, fifth AMX sitting: before (7fd0777, /work/wt_exp) and after (3b83993, /work/wt_after: the bf16
# residual stream and NumPy batch rows), one after the other, nothing else running. `nmt train` restarts
# itself under tcmalloc (nmt/allocator.py); the in-process script gets it through LD_PRELOAD.
set -x
cd /work/sitting5
PY=/work/main/.venv/bin/python
NMT=/work/main/.venv/bin/nmt
T=/work/shared/data/multi30k/test_2016_flickr
TC=libtcmalloc_minimal.so.4
declare -A TREE=([before]=/work/wt_exp [after]=/work/wt_after)
date; lscpu | grep 'Model name'
for v in before after; do
  rm -rf bf16_$v; cp -r /work/sitting4/pp bf16_$v
  PYTHONPATH=${TREE[$v]} /usr/bin/time -v $NMT train --run-dir bf16_$v --max-time 1200 > bf16_$v.log 2>&1
  date
  PYTHONPATH=${TREE[$v]} LD_PRELOAD=$TC $PY ${TREE[$v]}/scripts/benchmark_training.py --run-dir bf16_$v --out train_bf16_$v.json > train_bf16_$v.log 2>&1
  PYTHONPATH=${TREE[$v]} $NMT translate --model bf16_$v/best --beam 5 --input $T.de --output test_$v.hyp.en > translate_$v.log 2>&1
  PYTHONPATH=${TREE[$v]} $NMT evaluate --hyp test_$v.hyp.en --ref $T.en --metrics bleu chrf >> translate_$v.log 2>&1
  date
done
echo SITTING DONE

# Third run, added after the two above (started 21:55 UTC): after2 = the commit with the primitive cache of 256
# (/work/wt_after2), which the restarted `nmt train` sets; the in-process profile gets it by hand.
v=after2
rm -rf bf16_$v; cp -r /work/sitting4/pp bf16_$v
PYTHONPATH=/work/wt_after2 /usr/bin/time -v $NMT train --run-dir bf16_$v --max-time 1200 > bf16_$v.log 2>&1
date
PYTHONPATH=/work/wt_after2 LD_PRELOAD=$TC ONEDNN_PRIMITIVE_CACHE_CAPACITY=256 $PY /work/wt_after2/scripts/benchmark_training.py --run-dir bf16_$v --out train_bf16_$v.json > train_bf16_$v.log 2>&1
PYTHONPATH=/work/wt_after2 $NMT translate --model bf16_$v/best --beam 5 --input $T.de --output test_$v.hyp.en > translate_$v.log 2>&1
PYTHONPATH=/work/wt_after2 $NMT evaluate --hyp test_$v.hyp.en --ref $T.en --metrics bleu chrf >> translate_$v.log 2>&1
date
echo THIRD DONE
