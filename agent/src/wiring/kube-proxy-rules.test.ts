// When the node's rules are read: one read at a time, pokes coalesced into one more read, the
// status and the log following each read. The read itself is handed in (the real reader runs
// against real rules in test/kube-proxy-rules.test.ts and test/kube-proxy-capability.test.ts):
// here each read waits until the test lets it finish.
import { afterEach, describe, expect, it } from 'vitest';
import { parseIptablesSave } from '../kubeproxy/iptables-save.ts';
import type { RulesRead } from '../kubeproxy/reader.ts';
import { rulesReport, startKubeProxyRules, type KubeProxyRules } from './kube-proxy-rules.ts';

const found: RulesRead = { rules: { mode: 'iptables', nat: parseIptablesSave(':KUBE-SVC-X - [0:0]\n') }, attempts: [{ source: 'iptables-save', ok: true, bytes: 20 }], ms: 3 };
const refused: RulesRead = {
  attempts: [
    { source: 'nft', ok: false, error: 'nft: Operation not permitted' },
    { source: 'iptables-save', ok: false, error: 'iptables-save: Permission denied (you must be root)' },
  ],
  ms: 2,
};

/** A reader whose reads finish when the test says, with the answer it says. */
function gatedReader() {
  const pending: ((r: RulesRead) => void)[] = [];
  return {
    started: () => pending.length,
    read: () => new Promise<RulesRead>((resolve) => pending.push(resolve)),
    finish(r: RulesRead) {
      const f = pending.shift();
      if (!f) throw new Error('no read in flight');
      f(r);
    },
  };
}

let rules: KubeProxyRules | undefined;
afterEach(() => rules?.stop());
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('startKubeProxyRules', () => {
  it('reads at once, one read at a time; pokes during a read make one more read, not one each', async () => {
    const g = gatedReader();
    const log: string[] = [];
    rules = startKubeProxyRules({ assumedMode: 'nftables', read: g.read, debounceMs: 1, intervalMs: 60_000, log: (l) => log.push(l) });
    expect(g.started()).toBe(1);
    expect(rules.status()).toMatchObject({ mode: 'nftables', source: 'api', reads: 0 });
    for (let i = 0; i < 5; i++) {
      rules.poke();
      await tick(5);
    }
    expect(g.started()).toBe(1);
    const first = rules.next();
    g.finish(found);
    await first;
    expect(rules.current()).toBe(found.rules);
    expect(rules.status()).toMatchObject({ mode: 'iptables', source: 'node', reads: 1, failures: 0, lastReadMs: 3 });
    // The pokes made during the first read give exactly one more.
    await tick(5);
    expect(g.started()).toBe(1);
    const second = rules.next();
    g.finish(found);
    await second;
    await tick(5);
    expect(g.started()).toBe(0);
    expect(rules.status().reads).toBe(2);
    // Said at the first read, not again while nothing changed.
    expect(log).toEqual(['kube-proxy rules read from this node (iptables mode)']);
  });

  it('falls back to the assumed mode when the rules cannot be read, says why once, and says when they come back', async () => {
    const g = gatedReader();
    const log: string[] = [];
    rules = startKubeProxyRules({ assumedMode: 'nftables', read: g.read, debounceMs: 1, intervalMs: 60_000, log: (l) => log.push(l) });
    for (const r of [refused, refused, found]) {
      const done = rules.next();
      g.finish(r);
      await done;
      if (r === refused) expect(rules.status()).toMatchObject({ mode: 'nftables', source: 'api', reason: 'nft: Operation not permitted; iptables-save: Permission denied (you must be root)' });
      rules.poke();
      await tick(10);
    }
    expect(rules.current()).toBe(found.rules);
    expect(rules.status()).toMatchObject({ source: 'node', reads: 3, failures: 2 });
    expect(rules.status().reason).toBeUndefined();
    expect(log).toHaveLength(2);
    expect(log[0]).toMatch(/^kube-proxy rules not read \(chains named from the API, nftables mode assumed\): nft: Operation not permitted/);
    expect(log[1]).toBe('kube-proxy rules read from this node (iptables mode)');
  });

  it('a read that throws counts as a failure and the next one still runs', async () => {
    let n = 0;
    rules = startKubeProxyRules({ assumedMode: 'iptables', debounceMs: 1, intervalMs: 60_000, read: async () => (n++ === 0 ? Promise.reject(new Error('boom')) : found) });
    await rules.next();
    expect(rules.status()).toMatchObject({ failures: 1, reason: 'boom' });
    rules.poke();
    await rules.next();
    expect(rules.status()).toMatchObject({ source: 'node', reads: 1 });
  });

  it('stop ends the timer and releases whoever waits for a read', async () => {
    const g = gatedReader();
    rules = startKubeProxyRules({ assumedMode: 'iptables', read: g.read, intervalMs: 20 });
    const waiting = rules.next();
    rules.stop();
    await waiting;
    g.finish(found);
    await tick(60);
    expect(g.started()).toBe(0);
    expect(rules.current()).toBeUndefined();
  });
});

describe('rulesReport (hopscope doctor)', () => {
  it('names CAP_NET_ADMIN only when a tool was refused', () => {
    expect(rulesReport(found)).toEqual({ ok: true, detail: 'iptables mode, read from this node in 3 ms' });
    expect(rulesReport(refused).missing).toContain('CAP_NET_ADMIN');
    const none = rulesReport({ attempts: [{ source: 'nft', ok: true, bytes: 0 }], ms: 1 });
    expect(none).toEqual({ ok: false, detail: 'not read (nft: no kube-proxy rules): DNAT chains are named from the API alone' });
  });
});
