// Run inside a lab node's network namespace (where the agent is reachable, as the hub would be):
// connects to an agent with the hub's own client and prints each journey as one JSON line, and
// link and tracer state changes on stderr.
// usage: HOPSCOPE_TOKEN=... [HOPSCOPE_TLS_DIR=<ca.crt, hub.crt, hub.key>] tsx agent-tap.ts <node name> <agent base url>
// (an https:// agent is reached over mutual TLS as the hub reaches it, with the hub's files)
// (test/node-agent.ts and test/daemonset.test.ts read it with journeyFeed, lab-node.ts.)
import { connectAgent } from '../../agent/src/hubmode/agent-client.ts';
import { readTlsDir } from '../../agent/src/tls/material.ts';

const [name, url] = process.argv.slice(2);
const token = process.env.HOPSCOPE_TOKEN;
if (!name || !url || !token) {
  console.error('usage: HOPSCOPE_TOKEN=... agent-tap.ts <node name> <agent base url>');
  process.exit(2);
}
const tlsDir = process.env.HOPSCOPE_TLS_DIR;
const tls = tlsDir ? readTlsDir(tlsDir, { kind: 'hub' }) : undefined;
const link = connectAgent(
  { name, url },
  {
    token,
    ...(tls ? { tls: () => tls } : {}),
    onJourney: (_agent, j) => process.stdout.write(JSON.stringify(j) + '\n'),
    onState: (_agent, s) => process.stderr.write(`link ${s}${s === 'down' ? ` (${link.info().lastError ?? 'closed'})` : ''}\n`),
  },
);
// The tracer's state as the agent reports it (status every second): printed when it changes, so
// a test can wait for "running" and fail at once on "unavailable".
let last = '';
setInterval(() => {
  const st = link.info().status?.tracer;
  if (st && st !== last) process.stderr.write(`tracer ${(last = st)}\n`);
}, 200);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    link.close();
    process.exit(0);
  });
