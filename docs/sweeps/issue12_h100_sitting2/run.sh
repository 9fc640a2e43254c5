# Issue 12, H100 sitting: beam search's reads of the device, before (f0e6568, in .gpu/old) and after (this tree).
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
python3 -c "import torch; print('torch', torch.__version__)"; lscpu | grep 'Model name'
bench() {  # code, sentences a batch, output name, engines...
  local code=$1 batch=$2 name=$3; shift 3
  local root=.; [ "$code" = old ] && root=.gpu/old
  PYTHONPATH=$root:/tmp/site python3 $root/scripts/benchmark_decoding.py --model .gpu/model --data-dir .gpu/data \
    --device cuda --batch $batch --engines "$@" --out $OUT/$name.json 2>&1 | grep -v -i warn | sed "s/^/$name /"
}
PYTHONPATH=.gpu/old:/tmp/site python3 .gpu/syncs.py old 2>&1 | grep beam
PYTHONPATH=.:/tmp/site python3 .gpu/syncs.py new 2>&1 | grep beam
bench old 500 old-500 nmt-fp32 nmt-bf16
bench new 500 new-500 nmt-fp32 nmt-bf16 nmt-fp16
bench old 64 old-64 nmt-fp32 nmt-bf16
bench new 64 new-64 nmt-fp32 nmt-bf16 nmt-fp16
bench old 500 old-500b nmt-fp32
bench new 500 new-500b nmt-fp32
bench new 1000 new-1000 nmt-fp32 nmt-bf16
date -u
