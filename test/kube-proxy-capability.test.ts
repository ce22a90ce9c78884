// Reading the node's kube-proxy rules needs CAP_NET_ADMIN: `hopscope doctor` in a network
// namespace holding kube-proxy-shaped iptables rules reads them as root, and without the
// capability (dropped from the bounding set) says so and names it, while still running. And
// re-reading unchanged rules does not parse them again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readNodeRules, type RulesMemo } from '../agent/src/kubeproxy/reader.ts';

const NS = `ru-cap-${process.pid}`;
const inNs = (argv: string[]) => execa('ip', ['netns', 'exec', NS, ...argv], { reject: false });

beforeAll(async () => {
  await execa('ip', ['netns', 'add', NS]);
  const rules = [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]',
    ':KUBE-SEP-VQGOCFX4X6FWJPNR - [0:0]',
    '-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL',
    '-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.3:8080" -j KUBE-SEP-VQGOCFX4X6FWJPNR',
    '-A KUBE-SEP-VQGOCFX4X6FWJPNR -p tcp -m comment --comment default/web:http -m tcp -j DNAT --to-destination 10.244.2.3:8080',
    'COMMIT',
    '',
  ].join('\n');
  const r = await execa('ip', ['netns', 'exec', NS, 'iptables-restore'], { input: rules, reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
}, 30_000);
afterAll(async () => {
  await execa('ip', ['netns', 'del', NS], { reject: false });
});

describe('re-reading the rules', () => {
  it('gives back the same parsed rules while iptables-save prints the same, new ones once a rule changes', async () => {
    const memo: RulesMemo = new Map();
    const first = await readNodeRules({ netns: NS, memo });
    expect(first.rules?.mode).toBe('iptables');
    const again = await readNodeRules({ netns: NS, memo });
    expect(again.rules).toBe(first.rules);
    // kube-proxy adds an endpoint: the output changes, so the rules are parsed afresh.
    const add = await inNs(['iptables', '-t', 'nat', '-N', 'KUBE-SEP-ZZZZZZZZZZZZZZZZ']);
    expect(add.exitCode, add.stderr).toBe(0);
    const changed = await readNodeRules({ netns: NS, memo });
    expect(changed.rules).not.toBe(first.rules);
    expect(changed.rules?.mode === 'iptables' && changed.rules.nat.chains.has('KUBE-SEP-ZZZZZZZZZZZZZZZZ')).toBe(true);
    await inNs(['iptables', '-t', 'nat', '-X', 'KUBE-SEP-ZZZZZZZZZZZZZZZZ']);
  }, 60_000);
});

describe('kube-proxy rules and CAP_NET_ADMIN', () => {
  it('doctor reads them as root', async () => {
    const r = await inNs([process.execPath, 'agent/bin/hopscope.mjs', 'doctor']);
    expect(r.stdout).toMatch(/^kube-proxy rules yes iptables mode, read from this node in \d+ ms$/m);
  }, 120_000);
  it('without CAP_NET_ADMIN doctor says the rules were not read and names the capability', async () => {
    const r = await inNs(['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', process.execPath, 'agent/bin/hopscope.mjs', 'doctor']);
    expect(r.stdout).toMatch(/^kube-proxy rules no {2}not read \(nft: .*Operation not permitted.*iptables-save: .*Permission denied.*\): DNAT chains are named from the API alone$/m);
    expect(r.stdout).toContain('kube-proxy rules: reading them needs CAP_NET_ADMIN');
    // The rest of the agent's checks still ran.
    expect(r.stdout).toMatch(/^probe set +\w+/m);
  }, 120_000);
});
