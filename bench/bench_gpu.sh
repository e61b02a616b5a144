#!/usr/bin/env bash
# The GPU paths in one sitting, on a machine with CUDA (nothing here runs in CI, which has no GPU):
#   1. `tokenmill train --config small` on CUDA (bf16 autocast, fused AdamW, torch.compile: the
#      trainer's defaults there), to half the steps, then --resume to the end: loss, tokens/s and
#      MFU from train_log.jsonl;
#   2. `tokenmill sample` from that checkpoint on CUDA;
#   3. bench/bench_train.py on CUDA: the trainer against a plain-PyTorch loop of the same shape;
#   4. bench/bench_detoxify.py: the Detoxify backend on CUDA (float32/float16, batch sizes) against
#      the CPU in the same run.
# Each part runs even when an earlier one failed; the exit status says whether all passed.
#
#   bench/bench_gpu.sh TOKENS_DIR DATA_DIR OUT_DIR [STEPS, a multiple of 20]
# TOKENS_DIR: a run's tokens/ (its tokenizer/ beside it); DATA_DIR: the benches' --data folder.
set -uo pipefail
tokens=${1:?usage: bench/bench_gpu.sh TOKENS_DIR DATA_DIR OUT_DIR [STEPS]}
data=${2:?DATA_DIR}
out=${3:?OUT_DIR}
steps=${4:-200}
config=${CONFIG:-small}   # the trainer preset; CONFIG=tiny tries the script on a CPU
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
failed=0
part() { echo; echo "== $1"; shift; "$@" || { echo "FAILED: $*"; failed=1; }; }
train() { "$py" -c 'import sys; from tokenmill.model.train import main; sys.exit(main())' "$@"; }
log_summary() {   # the train log's step records: first and last loss, median tokens/s and MFU
  "$py" - "$1" <<'EOF'
import json, statistics, sys
recs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
steps = [r for r in recs if "tokens_per_s" in r]
print(f"{len(steps)} logged steps; loss {steps[0]['loss']:.3f} at step {steps[0]['step']} -> "
      f"{steps[-1]['loss']:.3f} at step {steps[-1]['step']}; val_loss {[round(r['val_loss'], 3) for r in recs if 'val_loss' in r]}")
later = steps[1:] or steps   # the first interval holds torch.compile's warm-up
print(f"median tokens/s {statistics.median(r['tokens_per_s'] for r in later):,.0f}; "
      f"median MFU {statistics.median(r.get('mfu', 0) for r in later):.3f}")
EOF
}

mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'
part "1. train $config on CUDA to $((steps / 2)) steps, then --resume to $steps" \
  train --data "$tokens" --output "$out/small" --config "$config" --set train.max_steps=$((steps / 2)) \
    --set train.ckpt_interval=$((steps / 2)) --set train.eval_interval=$((steps / 2)) --set train.log_interval=10
part "1b. resume" train --data "$tokens" --output "$out/small" --resume --set train.max_steps="$steps"
part "1c. the train log" log_summary "$out/small/train_log.jsonl"
part "2. sample on CUDA" "$py" -c 'import sys; from tokenmill.model.sample import main; sys.exit(main())' \
  --model "$out/small" --prompt "The" --num-samples 2 --max-new-tokens 40 --device cuda
part "3. bench_train on CUDA ($config)" "$py" "$here/bench_train.py" --tokens "$tokens" --config "$config" \
  --steps 40 --warmup 10 --repeats 1
part "4. bench_detoxify on CUDA" "$py" "$here/bench_detoxify.py" --data "$data" --docs 200 --cpu-docs 20
exit $failed
