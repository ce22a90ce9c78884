#!/usr/bin/env bash
# Installs what hopscope needs and is missing: Debian packages (as root, with apt) and npm
# dependencies. Idempotent and quiet: a second run with everything present does nothing visible.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package providing it
declare -A NEED=(
  [ip]=iproute2 [iptables]=iptables [nft]=nftables [conntrack]=conntrack
  [bpftrace]=bpftrace [bpftool]=bpftool [curl]=curl [iperf3]=iperf3 [tcpdump]=tcpdump
  [tcpreplay]=tcpreplay [ping]=iputils-ping [setpriv]=util-linux [dig]=dnsutils [chromium]=chromium [pgrep]=procps
  [unshare]=util-linux [mountpoint]=util-linux
  # The real client the lab API is tested with (Debian's is 1.20; any kubectl already present is kept).
  [kubectl]=kubernetes-client
  # the image (npm run image) and the container tests: podman with runc, the base from mmdebstrap
  [podman]=podman [buildah]=buildah [runc]=runc [mmdebstrap]=mmdebstrap [flock]=util-linux
  # a real client for the pcap exports
  [tshark]=tshark
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# scapy builds the IP-in-IP packets the kernel here cannot make itself.
# Debian's own python3: a pyenv or venv python on PATH does not see Debian's scapy.
/usr/bin/python3 -c 'import scapy' >/dev/null 2>&1 || missing+=(python3-scapy)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "hopscope setup: missing packages: ${missing[*]}; run as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "hopscope setup: installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: install when absent or when the lock file changed since the last install.
stamp=node_modules/.hopscope-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  echo "hopscope setup: installing npm dependencies ..."
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error >/dev/null; else npm install --no-audit --no-fund --loglevel=error >/dev/null; fi
  cp package-lock.json "$stamp"
fi
