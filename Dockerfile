# hopscope agent and hub: one image, `serve` (the DaemonSet) or `hub` (the Deployment).
# Debian packages only: Node.js 20 and a pinned bpftrace from Debian 13 "trixie".
#   docker build -t ghcr.io/hopscope/hopscope:0.1.0 .
# NOTE: bookworm's bpftrace is 0.17 (the one hopscope is tested with on the dev machine);
# trixie's 0.23.2 is the recent one pinned here. The agent reports the version it runs in
# /api/status and `hopscope doctor`.
ARG DEBIAN=debian:trixie-slim

FROM ${DEBIAN} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY agent/package.json agent/
COPY ui/package.json ui/
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.base.json ./
COPY agent agent
COPY bpf bpf
COPY ui ui
COPY manifests manifests
# The CLI's bundle (agent/bin/bundle.mjs builds it on first run into node_modules/.cache/hopscope)
# goes to /app/dist: the run-time stage needs only it, not the sources or node_modules.
RUN npm run -s build -w ui \
 && node agent/bin/hopscope.mjs --help >/dev/null \
 && set -- node_modules/.cache/hopscope/main-*/ \
 && [ $# -eq 1 ] && [ -f "$1/main.mjs" ] \
 && cp -r "$1" dist

FROM ${DEBIAN}
ARG BPFTRACE_VERSION=0.23.2-1
# bpftrace: the tracer; curl: the DaemonSet's probes; util-linux (setpriv, essential) ties
# bpftrace's life to the agent's; iptables and nftables read kube-proxy's rules (read only, when
# the DaemonSet is granted CAP_NET_ADMIN). No iproute2: the agent never runs `ip` (doctor says
# so). Nothing here reads documentation, man pages or translations (~50 MB; licences stay), and the
# downloaded packages are removed (~175 MB: the mmdebstrap base keeps apt's cache, unlike
# Docker's debian images).
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
      > /etc/dpkg/dpkg.cfg.d/hopscope-slim \
 && apt-get update \
 && apt-get install -y --no-install-recommends "bpftrace=${BPFTRACE_VERSION}" nodejs curl ca-certificates iptables nftables \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
WORKDIR /app
COPY --from=build /app/dist dist
COPY --from=build /app/ui/dist ui/dist
COPY agent/bin/heap.mjs agent/bin/hopscope-image.mjs agent/bin/
COPY bpf bpf
COPY manifests manifests
# Paths the bundle resolves at run time stay where the sources had them: /app/bpf (templates),
# /app/ui/dist (the UI), /app/manifests (kubectl plugin).
ENV NODE_ENV=production TMPDIR=/tmp
ENTRYPOINT ["node", "/app/agent/bin/hopscope-image.mjs"]
CMD ["--help"]
