#!/usr/bin/env bash
# Builds one rowforge image FROM scratch: nothing is pulled. The build context is a throw-away
# folder holding only the image's files, under rootfs/ (the Dockerfile copies rootfs/ to /),
# so builds are quick. Uses the classic builder (DOCKER_BUILDKIT=0): it needs no buildx plugin
# and never goes to a registry for FROM scratch.
#
# usage: build-image.sh DOCKERFILE IMAGE[:TAG] SPEC...
#   SPEC is SRC=/PATH  copy the file SRC to /PATH in the image (mode 0755 if SRC is executable,
#                      else 0644)
#        =/PATH        an empty folder anyone can write (mode 1777), e.g. a volume's mount point
# Every image also gets /tmp (mode 1777): scratch has none, and Go's os.TempDir is /tmp.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 DOCKERFILE IMAGE[:TAG] SRC=/PATH ... =/DIR ..." >&2
	exit 2
fi
dockerfile=$1 image=$2
shift 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rowforge-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ctx=$tmp/context
root=$ctx/rootfs
mkdir -p "$root/tmp"
chmod 1777 "$root/tmp"
for spec in "$@"; do
	src=${spec%%=*} dest=${spec#*=}
	case $dest in
	/*) ;;
	*) echo "$0: $spec: the path in the image must be absolute" >&2; exit 2 ;;
	esac
	if [ -z "$src" ]; then
		mkdir -p "$root$dest"
		chmod 1777 "$root$dest"
		continue
	fi
	mode=0644
	if [ -x "$src" ]; then mode=0755; fi
	mkdir -p "$(dirname "$root$dest")"
	cp "$src" "$root$dest"
	chmod "$mode" "$root$dest"
done
# Folders the copies above created get 0755 whatever the umask.
find "$root" -mindepth 1 -type d ! -perm -1000 -exec chmod 0755 {} +
cp "$dockerfile" "$ctx/Dockerfile"

docker=${DOCKER:-docker}
old=$("$docker" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
# Quiet: the classic builder's step log and its deprecation notice are noise here; a failing
# build prints everything.
if ! id=$(DOCKER_BUILDKIT=0 "$docker" build --quiet --tag "$image" "$ctx" 2>"$tmp/stderr"); then
	cat "$tmp/stderr" >&2
	echo "$0: docker build of $image failed" >&2
	exit 1
fi
echo "$image $id"
# The image the tag named before is left untagged: remove it, unless a container or another
# tag still uses it (then docker refuses, and that is fine).
if [ -n "$old" ] && [ "$old" != "$id" ]; then
	"$docker" image rm "$old" >/dev/null 2>&1 || true
fi
