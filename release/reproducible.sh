#!/usr/bin/env bash
# Builds the release artifacts twice from clean (mvn -Prelease clean verify, tests skipped), here and in a copy of
# the working tree at another path, and compares the SHA-256 of every jar and zip: a reproducible build lists them
# and says "identical". Exit 1 on any difference.
#   release/reproducible.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
copy="$(mktemp -d /tmp/graft-reproducible.XXXXXX)"
trap 'rm -rf "$copy"' EXIT
cd "$root"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$copy"
sums() {
  (cd "$1" && find . -path ./examples/target/models -prune -o -path '*/target/*' \( -name '*.jar' -o -name '*.zip' \) \
    -not -path '*/target/lib/*' -print | sort | xargs sha256sum)
}
for tree in "$root" "$copy"; do
  (cd "$tree" && mvn -B -q -Prelease clean verify -DskipTests)
done
sums "$root" > "$copy/first.sha256"
sums "$copy" > "$copy/second.sha256"
cat "$copy/first.sha256"
if diff "$copy/first.sha256" "$copy/second.sha256"; then
  echo "identical: $(wc -l < "$copy/first.sha256") artifacts from two clean builds in $root and $copy"
else
  echo "the two builds differ (above)" >&2
  exit 1
fi
