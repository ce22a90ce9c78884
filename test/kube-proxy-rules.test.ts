// The agent on a real node (the kubelet-shaped lab, no lab model given to it: in-cluster
// config, /run hidden) names the kube-proxy rule of every DNAT hop from the node's own rules,
// in iptables and nftables mode; and a KUBE-SEP rule deleted behind kube-proxy's back, while a
// connection still goes there by conntrack, shows up as a disagreement on that hop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import type { Hop, Journey, KubeProxyRule } from '../agent/src/protocol/events.ts';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import type { LabState } from '../agent/src/lab/state.ts';
import { startNodeAgent, type NodeAgent } from './node-agent.ts';
import { ensureUiBuilt, launchChromium, showPackets } from './browser.ts';
import type { Browser } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dnatHops = (js: Journey[]): (Hop & { nat: NonNullable<Hop['nat']> })[] =>
  js.flatMap((j) => j.hops).filter((h): h is Hop & { nat: NonNullable<Hop['nat']> } => h.kind === 'dnat' && !!h.nat?.before.service);

async function until<T>(what: string, f: () => T | undefined, ms: number, tick?: () => Promise<unknown>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await (tick ? tick() : sleep(300));
  }
}

for (const mode of ['iptables', 'nftables'] as const) {
  describe(`kube-proxy ${mode} mode, the agent on node-1 with nothing of the lab`, () => {
    const TOKEN = `rules-${mode}-${process.pid}-0123456789`;
    let lab: LabHandle;
    let s: LabState;
    let node1 = '';
    let agent: NodeAgent;
    let holder: ResultPromise | undefined;
    let browser: Browser | undefined;
    let wrapperDir = '';
    const rules = async (): Promise<string> =>
      (await execa('ip', ['netns', 'exec', node1, ...(mode === 'iptables' ? ['iptables-save', '-t', 'nat'] : ['nft', 'list', 'table', 'ip', 'kube-proxy'])])).stdout;

    beforeAll(async () => {
      ensureUiBuilt();
      lab = await labUp(loadTopology(), { name: `ru${mode[0]}${process.pid % 1000}`, kubeProxy: mode });
      s = lab.state();
      node1 = s.netns.find((n) => n.kind === 'node' && n.owner === 'node-1')!.name;
      agent = await startNodeAgent(s, 'node-1', TOKEN);
    }, 180_000);
    afterAll(async () => {
      await browser?.close();
      if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
      holder?.kill('SIGKILL');
      await agent?.stop();
      await lab?.down();
    }, 90_000);

    it('names the chain of every DNAT hop from the node rules: ClusterIP from a pod, NodePort from outside, UDP DNS', async () => {
      const node1Addr = s.model.nodes.find((n) => n.name === 'node-1')!.address;
      const traffic = async () => {
        await lab.exec('default/client', ['curl', '-s', '-o', '/dev/null', '-m', '2', 'http://10.96.0.20/']);
        await lab.exec({ external: 'ext-client' }, ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${node1Addr}:30080/`]);
        await lab.exec('default/client', ['dig', '+short', '+time=1', '+tries=1', '@10.96.0.10', 'web.default.svc.cluster.local']);
        await sleep(700);
      };
      const seen = () => {
        const hops = dnatHops(agent.journeys);
        const kinds = new Set(hops.map((h) => `${h.nat.before.service!.name}:${h.nat.before.node ? 'nodeport' : 'clusterip'}`));
        return ['web:clusterip', 'web-nodeport:nodeport', 'kube-dns:clusterip'].every((k) => kinds.has(k)) ? hops : undefined;
      };
      const hops = await until('DNAT hops of the three paths', seen, 60_000, traffic).catch((e: Error) => {
        throw new Error(`${e.message}\n${agent.out.join('').slice(-3000)}`);
      });
      const text = await rules();
      for (const h of hops) {
        const kp: KubeProxyRule | undefined = h.nat.kubeProxy;
        expect(kp, JSON.stringify(h.nat)).toBeDefined();
        expect(kp).toMatchObject({ mode, source: 'node' });
        expect(kp!.disagreements, JSON.stringify(kp)).toBeUndefined();
        // Every chain named is one the node really has.
        for (const c of kp!.chains.filter((x) => !x.startsWith('@'))) expect(text, c).toContain(mode === 'iptables' ? `:${c} ` : `chain ${c} {`);
        expect(kp!.pick!.of).toBe(s.model.services.find((x) => x.name === h.nat.before.service!.name)!.endpoints.length);
        expect(kp!.ruleText).toBeTruthy();
        if (h.nat.before.node) expect(kp!.chains).toContain(mode === 'iptables' ? 'KUBE-NODEPORTS' : '@service-nodeports');
      }
      const st = (await agent.get('api/status')) as { capabilities: { kubeProxy?: { source: string; mode: string } } };
      expect(st.capabilities.kubeProxy).toMatchObject({ source: 'node', mode });
    }, 120_000);

    it('a KUBE-SEP rule deleted behind kube-proxy’s back, while conntrack still sends a connection there, is marked on the DNAT hop', async () => {
      const clientNs = s.netns.find((n) => n.kind === 'pod' && n.owner === 'default/client')!.name;
      // One keep-alive connection to the web ClusterIP, a request every 50 ms: its packets keep
      // their DNAT by conntrack whatever happens to the rules.
      // One TCP connection, an HTTP request on it every 50 ms (the server keeps it alive); it
      // prints its local port, so its journeys are told from any other call's.
      const script = `const s = require('node:net').connect(80, '10.96.0.20', () => { console.log(s.localPort); setInterval(() => s.write('GET / HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n'), 50); });
        s.on('data', () => {}); s.on('close', () => process.exit(1));`;
      holder = execa('ip', ['netns', 'exec', clientNs, process.execPath, '-e', script], { reject: false, buffer: false, stdin: 'ignore' });
      const localPort = await new Promise<number>((resolve) => holder!.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      const ofHeld = (from: number) => dnatHops(agent.journeys.slice(from).filter((j) => j.src.port === localPort || j.dst.port === localPort));
      const held = await until('a journey of the held connection', () => ofHeld(0).find((h) => h.nat.kubeProxy?.source === 'node' && !h.nat.kubeProxy.disagreements), 30_000);
      const kp = held.nat.kubeProxy!;
      const svc = kp.chains[kp.chains.length - 2]!;
      const sep = kp.chains[kp.chains.length - 1]!;
      // Delete the endpoint's rule and chain as a stale or broken kube-proxy would leave them.
      if (mode === 'iptables') {
        const line = (await rules()).split('\n').find((l) => l.startsWith(`-A ${svc} `) && l.endsWith(`-j ${sep}`))!;
        expect(line).toBeDefined();
        await execa('ip', ['netns', 'exec', node1, 'sh', '-c', `iptables -t nat ${line.replace(/^-A /, '-D ')} && iptables -t nat -F ${sep} && iptables -t nat -X ${sep}`]);
      } else {
        await execa('ip', ['netns', 'exec', node1, 'nft', `flush chain ip kube-proxy ${svc}; delete chain ip kube-proxy ${sep}`]);
      }
      expect(await rules()).not.toContain(sep);
      // The agent re-reads the rules on its timer (10 s); the connection keeps going to the backend.
      const after = agent.journeys.length;
      const marked = await until(
        'a DNAT hop marked with the missing chain',
        () => ofHeld(after).find((h) => h.nat.after.ip === held.nat.after.ip && h.nat.kubeProxy?.disagreements?.some((d) => d.kind === 'chain-missing' && d.chain === sep)),
        40_000,
      ).catch(async (e: Error) => {
        const late = ofHeld(after).slice(-3).map((h) => JSON.stringify(h.nat));
        const mine = agent.journeys.slice(after).filter((j) => j.src.port === localPort || j.dst.port === localPort);
        throw new Error(`${e.message}; ${agent.journeys.length - after} journeys since, ${mine.length} of the held connection (${mine.slice(-2).map((j) => j.hops.map((h) => `${h.kind}@${h.dev}`).join(',')).join(' | ')}), last DNAT hops:\n${late.join('\n')}\nstatus ${JSON.stringify(await agent.get('api/status'))}\n${agent.out.join('').slice(-3000)}`);
      });
      expect(marked.nat.kubeProxy!.chains).toEqual(kp.chains);

      // The UI shows it: the DNAT box in red, the workshop's DNAT step says the rules disagree.
      // Chromium runs in node-1's namespace, where the agent listens on loopback.
      wrapperDir = mkdtempSync(join(tmpdir(), 'hs-ru-chromium-'));
      const wrapper = join(wrapperDir, 'chromium');
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${node1} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
      browser = await launchChromium(wrapper);
      const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      await page.goto(`${agent.url}?token=${TOKEN}`);
      await page.getByTestId('connection').filter({ hasText: 'open' }).waitFor({ timeout: 15_000 });
      await page.getByTestId('filter-port').fill(String(localPort));
      await page.getByTestId('filter-apply').click();
      await page.waitForTimeout(4000);
      await showPackets(page);
      const rows = page.locator('[data-testid=journey-row]');
      const red = page.getByTestId('hop-diagram').locator('.hop-disagree');
      let found = false;
      for (let i = (await rows.count()) - 1; i >= 0 && !found; i--) {
        await rows.nth(i).click();
        await page.getByTestId('hop-diagram').locator('[data-kind]').first().waitFor({ timeout: 10_000 });
        found = (await red.count()) > 0;
      }
      mkdirSync('test-artifacts', { recursive: true });
      await page.screenshot({ path: join('test-artifacts', `kube-proxy-disagree-${mode}.png`) });
      expect(found, 'no journey of the held connection shows the disagreement').toBe(true);
      expect(await red.first().textContent()).toContain(`⚠ ${sep.slice(0, 40)}`);
      await page.getByTestId('tab-workshop').click();
      const title = page.getByTestId('workshop-title');
      for (let i = 0; i < 20 && !(await title.textContent())?.startsWith('kube-proxy DNAT'); i++) await page.getByTestId('ws-next').click();
      expect(await title.textContent()).toBe('kube-proxy DNAT: Service → pod (rules disagree)');
      expect(await page.getByTestId('workshop-step').textContent()).toContain('The rules and the packet disagree');
    }, 180_000);
  });
}
