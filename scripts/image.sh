#!/usr/bin/env bash
# Builds the hopscope image from Debian packages only, with podman, and tags it
#   localhost/hopscope:<inputs hash>  and  localhost/hopscope:dev
# The base image (localhost/debian:trixie-slim) is made with mmdebstrap once and reused.
# Cached by content: when an image tagged with the inputs' hash exists, nothing is built.
# Prints the image name on stdout (last line); progress goes to stderr.
#   HOPSCOPE_IMAGE_TAG=extra-tag   also tag localhost/hopscope:<extra-tag>
#   HOPSCOPE_IMAGE_QUIET=1         build output to a log file instead of stderr
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CONTAINERS_CONF="$root/scripts/containers.conf"
BASE=localhost/debian:trixie-slim
REPO=localhost/hopscope
SUITE=trixie
cache=${HOPSCOPE_CACHE:-/var/tmp/hopscope-image}
mkdir -p "$cache"

for cmd in podman mmdebstrap flock sha256sum; do
  command -v "$cmd" >/dev/null || { echo "image: $cmd is missing (run: npm run setup)" >&2; exit 1; }
done

# One build at a time on this machine: podman's storage is shared by every worktree, and two
# mmdebstrap/podman builds at once would race on the base tar and on the tags.
exec 9>"$cache/lock"
if ! flock -n 9; then
  echo "image: another build holds $cache/lock; waiting ..." >&2
  flock 9
fi

# The inputs: every file the Dockerfile copies, plus the Dockerfile and this script's settings.
# Content and path of each file (uncommitted edits count), in a stable order.
inputs_hash() {
  {
    printf 'suite=%s base=%s\n' "$SUITE" "$BASE"
    local inputs=(Dockerfile .dockerignore package.json package-lock.json tsconfig.base.json agent ui bpf manifests)
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z --cached --others --exclude-standard -- "${inputs[@]}"
    else # a tarball of the sources: what .dockerignore leaves out stays out of the hash too
      find "${inputs[@]}" -type f -not -path '*/node_modules/*' -not -path 'ui/dist/*' -print0
    fi | LC_ALL=C sort -z \
      | while IFS= read -r -d '' f; do
          [ -f "$f" ] || continue # deleted but still in the index
          printf '%s %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"
        done
  } | sha256sum | cut -c1-16
}

hash=$(inputs_hash)
image="$REPO:$hash"
start=$(date +%s)

if podman image exists "$image"; then
  echo "image: $image is up to date" >&2
else
  if ! podman image exists "$BASE"; then
    tar="$cache/debian-$SUITE-minbase.tar"
    if [ ! -s "$tar" ]; then
      echo "image: making the $SUITE base with mmdebstrap ..." >&2
      mmdebstrap --quiet --format=tar --variant=minbase --include=ca-certificates "$SUITE" "$tar.part"
      mv "$tar.part" "$tar"
    fi
    podman import --quiet "$tar" "$BASE" >/dev/null
  fi
  echo "image: building $image ..." >&2
  log=/dev/stderr
  [ -n "${HOPSCOPE_IMAGE_QUIET:-}" ] && log="$cache/build-$hash.log"
  # --network host: no registry is reachable, apt and npm are (through the host's network).
  # The CA bundle: npm inside the build trusts the registry only with this machine's CAs.
  if ! podman build --network host -v /etc/ssl/certs:/etc/ssl/certs:ro \
      --build-arg "DEBIAN=$BASE" --label "org.hopscope.inputs=$hash" \
      -t "$image" . >"$log" 2>&1; then
    [ "$log" != /dev/stderr ] && tail -n 40 "$log" >&2
    echo "image: build failed" >&2
    exit 1
  fi
  # NOTE: no plain `podman image prune` here: the build stage's image is dangling once the build
  # is done, and pruning it loses the layer cache (npm ci) the next build starts from. Only what
  # is a day old goes, and hash tags beyond the newest three (each source change makes one; their
  # apt and base layers are shared, the rest is not), so the storage does not grow for ever.
  # NOTE: only tags over an hour old: podman's store is the machine's, and another checkout's
  # test may have been handed a newer tag a moment ago and not have started its container yet.
  podman image prune -f --filter until=24h >/dev/null 2>&1 || true
  old_enough=$(podman images --noheading --filter "reference=$REPO" --filter until=1h --format '{{.Repository}}:{{.Tag}}' 2>/dev/null || true)
  podman images --noheading --sort created --format '{{.Repository}}:{{.Tag}}' "$REPO" \
    | grep -E "^$REPO:[0-9a-f]{16}\$" | grep -vx "$image" | tail -n +3 \
    | while read -r old; do
        grep -qx "$old" <<<"$old_enough" && podman rmi "$old" >/dev/null 2>&1 || true
      done
fi
podman tag "$image" "$REPO:dev"
[ -n "${HOPSCOPE_IMAGE_TAG:-}" ] && podman tag "$image" "$REPO:$HOPSCOPE_IMAGE_TAG"
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image: $image $((size / 1000000)) MB, $(( $(date +%s) - start )) s" >&2
echo "$image"
