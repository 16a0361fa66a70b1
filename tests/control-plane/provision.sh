#!/usr/bin/env bash
# Provision the test control plane: etcd, kube-apiserver, kube-controller-manager and kubectl.
#
# No binary can be downloaded on these machines, so the Kubernetes binaries are built from Debian
# bookworm's source package `kubernetes` (1.20.2, Go dependencies vendored) with Debian's Go
# (1.19); etcd comes from Debian's `etcd-server`. The build (about 6 minutes on 2 cores) is cached
# in $APPSET_CONTROL_PLANE_DIR (default ~/.cache/appset/control-plane/v1.20.2): later runs only
# check the cache. If KUBEBUILDER_ASSETS (the envtest convention) names a directory holding
# kube-apiserver, kube-controller-manager, etcd and kubectl, those binaries are used instead and
# nothing is built.
#
# Prints the directory holding the binaries on its last line of stdout (progress goes to stderr).
# Usage: tests/control-plane/provision.sh
set -euo pipefail

VERSION=1.20.2
CACHE=${APPSET_CONTROL_PLANE_DIR:-$HOME/.cache/appset/control-plane/v$VERSION}
log() { echo "control-plane: $*" >&2; }

have_all() {
    local dir=$1
    [ -x "$dir/kube-apiserver" ] && [ -x "$dir/kube-controller-manager" ] && [ -x "$dir/etcd" ] && [ -x "$dir/kubectl" ]
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS"; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"
    exit 0
fi

if have_all "$CACHE"; then
    echo "$CACHE"
    exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_pkgs=()
for p in etcd-server golang-go rsync jq openssl golang-github-modern-go-reflect2-dev dpkg-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/appset-control-plane.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Debian's source package, through a private sources directory (the machine's own apt
# configuration is left untouched).
APT="$WORK/apt"
mkdir -p "$APT/sources" "$APT/lists/partial"
cat > "$APT/sources/bookworm-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-o "Dir::Etc::SourceParts=$APT/sources" -o "Dir::Etc::SourceList=/dev/null" -o "Dir::State::Lists=$APT/lists")
log "fetching the kubernetes $VERSION source package"
apt-get "${apt_opts[@]}" update -qq >&2
(cd "$WORK" && apt-get "${apt_opts[@]}" source --download-only -qq kubernetes >&2)
(cd "$WORK" && dpkg-source --no-check -x kubernetes_*.dsc src >&2)
SRC="$WORK/src"

# With Go 1.19 the vendored modern-go/reflect2 v1.0.1 makes the API server crash (nil pointer in
# mapiterinit) on the first custom resource watch; Debian's 1.0.2 fixes it.
R2=/usr/share/gocode/src/github.com/modern-go/reflect2
log "replacing vendored modern-go/reflect2 with $R2"
rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
mkdir -p "$SRC/vendor/github.com/modern-go/reflect2"
cp -r "$R2"/. "$SRC/vendor/github.com/modern-go/reflect2/"
if [ -f "$SRC/vendor/modules.txt" ]; then
    sed -i 's|^# github.com/modern-go/reflect2 v1.0.1|# github.com/modern-go/reflect2 v1.0.2|' "$SRC/vendor/modules.txt"
    sed -i 's|github.com/modern-go/reflect2 v1.0.1|github.com/modern-go/reflect2 v1.0.2|' "$SRC/go.mod" || true
fi

# Build as Debian's rules do: GOPATH with src/k8s.io/kubernetes linking to the source.
GOPATH_DIR="$WORK/gopath"
mkdir -p "$GOPATH_DIR/src/k8s.io"
ln -s "$SRC" "$GOPATH_DIR/src/k8s.io/kubernetes"
log "building kube-apiserver, kube-controller-manager and kubectl (several minutes)"
(
    cd "$GOPATH_DIR/src/k8s.io/kubernetes"
    export GOPATH="$GOPATH_DIR" GO111MODULE=off GOFLAGS=-mod=vendor CGO_ENABLED=0 GOCACHE="$WORK/gocache"
    export KUBE_GIT_VERSION="v$VERSION" KUBE_GIT_TREE_STATE=clean
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kubectl" >&2
)

mkdir -p "$CACHE.tmp"
for b in kube-apiserver kube-controller-manager kubectl; do
    found=$(find "$SRC/_output" -type f -name "$b" -perm -u+x | head -n 1)
    [ -n "$found" ] || { log "build produced no $b"; exit 1; }
    cp "$found" "$CACHE.tmp/$b"
done
ln -sf "$(command -v etcd || echo /usr/bin/etcd)" "$CACHE.tmp/etcd"
rm -rf "$CACHE"
mv "$CACHE.tmp" "$CACHE"
log "cached in $CACHE"
echo "$CACHE"
