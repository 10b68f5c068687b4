#!/usr/bin/env bash
# The README's table of per-domain perplexity: base, fine-tunes and their merges, on the held-out lines of each
# domain. Run from the repository root:  examples/recipes/decoders/perplexity.sh [OUT_DIR]
set -euo pipefail
d=examples/recipes/decoders
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
base=$d/optimum/base/model.onnx
tuned=("--model" "$d/optimum/licence/model.onnx" "--model" "$d/optimum/c/model.onnx" "--model" "$d/optimum/python/model.onnx")
./graft merge --method linear "${tuned[@]}" -o "$out/average.onnx" > /dev/null
for lambda in 0.5 1.0; do
  ./graft merge --method task_arithmetic --base "$base" "${tuned[@]}" --param "lambda=$lambda" -o "$out/task_arithmetic_$lambda.onnx" > /dev/null
done
for lambda in 0.5 1.0; do
  ./graft merge --method ties --base "$base" "${tuned[@]}" --param density=0.5 --param "lambda=$lambda" -o "$out/ties_$lambda.onnx" > /dev/null
done
for lambda in 0.33 1.0; do
  ./graft merge --method dare_ties --base "$base" "${tuned[@]}" --param density=0.5 --param "lambda=$lambda" --seed 1 -o "$out/dare_ties_$lambda.onnx" > /dev/null
done
./graft merge --method slerp --base "$d/optimum/licence/model.onnx" --model "$d/optimum/c/model.onnx" --param t=0.5 -o "$out/slerp_licence_c.onnx" > /dev/null
./graft eval "$base" "$d"/optimum/{licence,c,python}/model.onnx "$out"/average.onnx "$out"/task_arithmetic_*.onnx \
  "$out"/ties_*.onnx "$out"/dare_ties_*.onnx "$out"/slerp_licence_c.onnx --tasks $d/tasks.yaml
