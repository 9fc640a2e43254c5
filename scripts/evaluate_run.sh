#!/usr/bin/env bash
# BLEU of a run's exported model on a test split: translate SPLIT.SRC, score against SPLIT.TGT.
# Usage: scripts/evaluate_run.sh RUN_DIR DATA_DIR [SPLIT=test_2016_flickr] [BEAM=5] [SRC=de] [TGT=en]
# Writes RUN_DIR/SPLIT.beamBEAM.TGT (translations) and RUN_DIR/SPLIT.beamBEAM.json (scores + signatures).
set -euo pipefail
run=$1 data=$2 split=${3:-test_2016_flickr} beam=${4:-5} src=${5:-de} tgt=${6:-en}
hyp="$run/$split.beam$beam.$tgt"
nmt translate --model "$run/best" --beam "$beam" --input "$data/$split.$src" --output "$hyp"
nmt evaluate --hyp "$hyp" --ref "$data/$split.$tgt" --metrics bleu chrf --json > "$run/$split.beam$beam.json"
nmt evaluate --hyp "$hyp" --ref "$data/$split.$tgt" --metrics bleu chrf
