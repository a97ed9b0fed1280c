#!/usr/bin/env bash
# Puts a static linux binary of a Go tool at OUT for an image: the copy in .tools/bin when it
# is one (CGO_ENABLED=0, GOOS=linux, the image's GOARCH, the wanted module version — `make
# tools` builds it so on a linux host), else one built for the image from the module proxy.
#
# usage: static-binary.sh TOOL_BINARY PACKAGE@VERSION GOARCH OUT
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 TOOL_BINARY PACKAGE@VERSION GOARCH OUT" >&2
	exit 2
fi
bin=$1 pkgver=$2 arch=$3 out=$4
go=${GO:-go}
version=${pkgver##*@}

if [ -f "$bin" ] && info=$("$go" version -m "$bin" 2>/dev/null) &&
	grep -qE '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0$' <<<"$info" &&
	grep -qE '^[[:space:]]+build[[:space:]]+GOOS=linux$' <<<"$info" &&
	grep -qE "^[[:space:]]+build[[:space:]]+GOARCH=$arch\$" <<<"$info" &&
	grep -qE "^[[:space:]]+mod[[:space:]].*[[:space:]]$version([[:space:]]|\$)" <<<"$info"; then
	if ! cmp -s "$bin" "$out"; then
		echo "static-binary: $out: copy of $bin (static, linux/$arch, $version)"
		mkdir -p "$(dirname "$out")"
		cp "$bin" "$out.tmp"
		mv "$out.tmp" "$out"
	fi
	exit 0
fi

# go install cross-compiles only without GOBIN; a throw-away GOPATH keeps $GOPATH/bin clean
# (the module and build caches are the usual ones).
echo "static-binary: $bin is not a static linux/$arch binary of $pkgver: building one for $out"
gopath=$(mktemp -d "${TMPDIR:-/tmp}/rowforge-gopath.XXXXXX")
trap 'chmod -R u+w "$gopath" 2>/dev/null; rm -rf "$gopath"' EXIT
modcache=$("$go" env GOMODCACHE)
GOPATH=$gopath GOMODCACHE=$modcache GOBIN= CGO_ENABLED=0 GOOS=linux GOARCH=$arch \
	"$go" install -trimpath "$pkgver"
name=${pkgver%@*}
name=${name##*/}
built=$(find "$gopath/bin" -type f -name "$name" | head -n 1)
if [ -z "$built" ]; then
	echo "static-binary: go install $pkgver left no $name under $gopath/bin" >&2
	exit 1
fi
mkdir -p "$(dirname "$out")"
cp "$built" "$out.tmp"
mv "$out.tmp" "$out"
