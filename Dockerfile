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
# The last step builds the CLI's bundle into node_modules/.cache/hopscope (agent/bin/bundle.mjs),
# so agents start from it instead of each building it into its in-memory /tmp.
RUN npm run -s build -w ui \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error \
 && node agent/bin/hopscope.mjs --help >/dev/null

FROM ${DEBIAN}
ARG BPFTRACE_VERSION=0.23.2-1
# bpftrace: the tracer; curl: the DaemonSet's probes; util-linux (setpriv, essential) ties
# bpftrace's life to the agent's.
RUN apt-get update \
 && apt-get install -y --no-install-recommends "bpftrace=${BPFTRACE_VERSION}" nodejs curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json /app/tsconfig.base.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/agent agent
COPY --from=build /app/bpf bpf
COPY --from=build /app/ui/dist ui/dist
COPY --from=build /app/manifests manifests
# The agent runs from the bundle built above; were a source changed, it would rebuild under
# $TMPDIR (an emptyDir in the manifests: the root filesystem is read-only there), tsx the fallback.
ENV NODE_ENV=production TMPDIR=/tmp
ENTRYPOINT ["node", "/app/agent/bin/hopscope.mjs"]
CMD ["--help"]
