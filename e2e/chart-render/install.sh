#!/usr/bin/env bash
# Installs the Debian packages that chart-render is built from (Go, sprig and its dependencies,
# sigs.k8s.io/yaml) and builds e2e/chart-render/bin/chart-render offline, in GOPATH mode from
# the Go sources those packages put under /usr/share/gocode. Idempotent and quiet: packages
# already installed are not installed again; apt-get update runs only if an install fails.
#   bash e2e/chart-render/install.sh               # install what is missing, build
#   bash e2e/chart-render/install.sh --build-only  # build only (the tests do this when stale)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/bin"
packages=(golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev)
gocode=/usr/share/gocode/src

missing=()
[[ ${1:-} == --build-only ]] || for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  if ! apt_install; then
    "${sudo[@]}" apt-get update -qq >/dev/null
    apt_install
  fi
fi

# A GOPATH of its own: the program beside Debian's sources, so that the /v3 imports of sprig and
# semver resolve by Go's minimal module compatibility (it needs importer and imported in one
# GOPATH tree).
gopath="$bin/gopath"
rm -rf "$gopath"
mkdir -p "$gopath/src/chart-render"
for d in "$gocode"/*; do ln -s "$d" "$gopath/src/$(basename "$d")"; done
cp "$here/main.go" "$here/go.mod" "$gopath/src/chart-render/"
(
  cd "$gopath/src/chart-render"
  GO111MODULE=off GOPATH="$gopath" GOCACHE="$bin/.gocache" GOFLAGS= \
    go build -trimpath -o "$bin/chart-render.tmp" chart-render
)
mv "$bin/chart-render.tmp" "$bin/chart-render"
echo "chart-render: built $bin/chart-render"
