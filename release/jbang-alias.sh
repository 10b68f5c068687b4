#!/usr/bin/env bash
# Runs the JBang alias of jbang-catalog.json before the artifacts are published: installs this build into the local
# Maven repository (mvn install, tests skipped), fetches JBang from Maven Central (dev.jbang:jbang-cli, into
# target/jbang), adds a copy of the catalog whose alias names this build's version as a catalog of a throwaway JBang
# home, and runs `jbang graft@graft-dev --version` and `jbang graft@graft-dev ARGS...` (default: --help) offline.
# Exit 1 if JBang cannot resolve or run the alias.
#   release/jbang-alias.sh [ARGS...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jbang_version=0.132.1
# JBang's pom lets Maven pick Gson 2.10.1, which reads every catalog as empty; JBang's own distribution has 2.13
gson_version=2.13.2
version=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' pom.xml | head -1)
mvn -B -q install -DskipTests -Dinvoker.skip
tools="$root/target/jbang"
mkdir -p "$tools"
cat > "$tools/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>jbang-launcher</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>dev.jbang</groupId><artifactId>jbang-cli</artifactId><version>$jbang_version</version></dependency>
    <dependency><groupId>com.google.code.gson</groupId><artifactId>gson</artifactId><version>$gson_version</version></dependency>
  </dependencies>
</project>
EOF
(cd "$tools" && rm -rf lib && mvn -B -q dependency:copy-dependencies -DoutputDirectory=lib)
home="$(mktemp -d /tmp/graft-jbang.XXXXXX)"
trap 'rm -rf "$home"' EXIT
sed "s/\"dev.graft:graft-cli:[^\"]*\"/\"dev.graft:graft-cli:$version\"/" jbang-catalog.json > "$home/jbang-catalog.json"
# JBang's jar prints the command to run and exits 255; its launcher script then runs that command, as here
jbang() {
  local out rc=0
  out=$(JBANG_DIR="$home/jbang" java -cp "$tools/lib/*" dev.jbang.Main "$@") || rc=$?
  if [ "$rc" = 255 ]; then
    (eval "$out")
    return
  fi
  [ -z "$out" ] || echo "$out"
  return "$rc"
}
(cd "$home" && jbang catalog add --global --name graft-dev "$home/jbang-catalog.json")
jbang --offline graft@graft-dev --version
jbang --offline graft@graft-dev "${@:---help}"
echo "jbang graft@graft-dev ran dev.graft:graft-cli:$version from the catalog"
