#!/bin/bash
# before (HEAD without release_free_memory) then after (working tree), 450 updates, validation every 150
for v in before after; do
  code=/work/main; [ $v = before ] && code=/work/ab/code_before
  cd /tmp && PYTHONPATH=$code /usr/bin/time -v /work/main/.venv/bin/python -m nmt train --run-dir /work/ab/run_$v \
    --set train.limits.max_time=0 --set train.limits.max_steps=450 > /work/ab/$v.log 2>&1
  echo "$v done $(date -u +%H:%M)" >> /work/ab/done.txt
done
