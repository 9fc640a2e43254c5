# Issue 12, H100 sitting, second call: medians of 5 passes; old = f0e6568 (.gpu/old), new = this tree.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
bench() {  # code, sentences a batch, output name, engines...
  local code=$1 batch=$2 name=$3; shift 3
  local root=.; [ "$code" = old ] && root=.gpu/old
  PYTHONPATH=$root:/tmp/site python3 scripts/benchmark_decoding.py --model .gpu/model --data-dir .gpu/data \
    --device cuda --batch $batch --repeat 5 --engines "$@" --out $OUT/$name.json 2>&1 | grep -v -i warn |
    python3 -c "import sys, json
for line in sys.stdin:
    r = json.loads(line); print('$name', r['engine'], 'beam', r['beam'], r['sentences_per_s'], 'sent/s', r['bleu'], r.get('timings'))"
}
bench old 500 old-500 nmt-fp32 nmt-bf16
bench new 500 new-500 nmt-fp32 nmt-bf16
bench old 64 old-64 nmt-fp32 nmt-bf16
bench new 64 new-64 nmt-fp32 nmt-bf16
bench old 500 old-500b nmt-fp32
bench new 500 new-500b nmt-fp32
bench new 1000 new-1000 nmt-fp32 nmt-bf16
date -u
