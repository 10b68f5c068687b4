#!/usr/bin/env bash
# Fuzzes Graft's readers with Jazzer (cli/src/test/java/dev/graft/fuzz/ReaderFuzzTest.java), one target after
# another, each for DURATION (default 10m). Every crash is written next to the target's committed inputs
# (cli/src/test/resources/dev/graft/fuzz/ReaderFuzzTestInputs/<target>/crash-*), where the normal build replays it:
# commit it with the fix. The growing corpus stays in cli/.cifuzz-corpus (ignored by git).
#   bench/fuzz.sh [DURATION] [TARGET...]     e.g. bench/fuzz.sh 2m npy onnxModel
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${1:-10m}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(onnxModel externalData checkpointIndex npy safetensors peftConfig onnxAdapter recipe taskFile taskData text tokenizer searchCheckpoint)
fi
cd "$root"
mvn -B -q -DskipTests install >/dev/null
for t in "${targets[@]}"; do
  echo "== $t ($duration)"
  JAZZER_FUZZ=1 mvn -B -o -pl cli surefire:test -Dtest="ReaderFuzzTest#$t" -Djazzer.max_duration="$duration" \
    2>&1 | grep -E "^#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|FuzzTestFinding|^==[0-9]+== ERROR|crash-" || true
done
