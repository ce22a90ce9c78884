// Mutual TLS between the hub and the agents, on real sockets: the agent's real server (HTTPS,
// fed by synthetic journeys: the tracer is not under test) and the hub's real link client, with
// certificates made as `kubectl hopscope install` makes them. Each refusal is asserted by its
// message; rotation swaps the files under both while journeys stream, and every journey arrives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { caOfTlsYaml } from '../agent/src/cli/certs.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startServer, type RunningServer } from '../agent/src/server/http.ts';
import { SyntheticSource } from '../agent/src/server/__tests__/synthetic.ts';
import { connectAgent, type AgentLink } from '../agent/src/hubmode/agent-client.ts';
import { issueCert, makeCa, type CertAuthority } from '../agent/src/tls/certs.ts';
import { checkTlsMaterial, HUB_IDENTITY, readTlsDir, watchTlsDir, type TlsMaterial } from '../agent/src/tls/material.ts';
import type { Journey } from '../agent/src/protocol/events.ts';

const TOKEN = 'mtls-test-token-0123456789';
const DAY = 86_400_000;

function agentMaterial(ca: CertAuthority, node: string, validity: Parameters<typeof issueCert>[1]['validity'] = { days: 30 }, caPem = ca.certPem): TlsMaterial {
  const c = issueCert(ca, { commonName: `hopscope-agent ${node}`, dnsNames: [node], usage: 'server', validity });
  return { ...checkTlsMaterial({ ca: caPem, cert: c.certPem, key: c.keyPem }, { kind: 'agent', node: node }) };
}
function hubMaterial(ca: CertAuthority, validity: Parameters<typeof issueCert>[1]['validity'] = { days: 30 }, caPem = ca.certPem): TlsMaterial {
  const c = issueCert(ca, { commonName: HUB_IDENTITY, dnsNames: [HUB_IDENTITY], usage: 'client', validity });
  return checkTlsMaterial({ ca: caPem, cert: c.certPem, key: c.keyPem }, { kind: 'hub' });
}

async function until<T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> {
  for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('mutual TLS between the hub and an agent', () => {
  const ca = makeCa('hopscope-ca test', { days: 365 });
  const servers: RunningServer[] = [];
  const links: AgentLink[] = [];
  const caDir = mkdtempSync(join(tmpdir(), 'hs-tl-ca-'));
  const caFile = join(caDir, 'ca.crt');
  writeFileSync(caFile, ca.certPem);

  const agent = async (tls: TlsMaterial, source = new SyntheticSource(1, 50)) => {
    const s = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source, topology: () => null, lab: null, tls, statusMs: 200 });
    servers.push(s);
    return s;
  };
  const link = (name: string, url: string, tls: () => TlsMaterial, onJourney: (j: Journey) => void = () => {}) => {
    const l = connectAgent({ name, url }, { token: TOKEN, tls, onJourney: (_a, j) => onJourney(j), minBackoffMs: 100, maxBackoffMs: 500 });
    links.push(l);
    return l;
  };
  /** The link's last error once it has one and has never come up. */
  const refusedWith = (l: AgentLink) => until('a refusal', () => (l.info().connects === 0 && l.info().lastError ? l.info().lastError : undefined));

  afterAll(async () => {
    for (const l of links) l.close();
    for (const s of servers) await s.close();
    rmSync(caDir, { recursive: true, force: true });
  });

  it('the hub with the CA and its certificate streams from an agent whose certificate names the node', async () => {
    const s = await agent(agentMaterial(ca, 'node-1'));
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const got: Journey[] = [];
    const l = link('node-1', s.url, () => hubMaterial(ca), (j) => got.push(j));
    await until('journeys over mutual TLS', () => got.length >= 5);
    expect(l.info().state).toBe('up');
    expect(l.info().tls?.identity).toBe('node-1');
    expect(s.status().transport).toMatchObject({ mode: 'mtls', expired: false, refusedCert: 0 });
    expect(s.status().transport?.detail).toMatch(/^mutual TLS as node-1, certificate expires \d{4}-/);
  });

  it('refuses a hub whose certificate another CA signed, with the reason in the answer', async () => {
    const s = await agent(agentMaterial(ca, 'node-1'));
    const other = makeCa('hopscope-ca another cluster', { days: 365 });
    // The hub trusts our CA (so it accepts the agent) but presents another CA's certificate.
    const l = link('node-1', s.url, () => hubMaterial(other, { days: 30 }, ca.certPem + other.certPem));
    expect(await refusedWith(l)).toMatch(/^HTTP 403: Forbidden: client certificate refused: the certificate is not signed by the hopscope CA \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)$/);
    expect(s.status().transport?.refusedCert).toBeGreaterThan(0);
    // Without any certificate: told that one is needed.
    const r = await execa('curl', ['-sS', '--cacert', caFile, '--resolve', `node-1:${new URL(s.url).port}:127.0.0.1`, '-H', `Authorization: Bearer ${TOKEN}`, `https://node-1:${new URL(s.url).port}/api/status`], { reject: false });
    expect(r.stdout.trim()).toBe("a client certificate is required (mutual TLS): connect with the hub's certificate");
  });

  it('refuses an agent whose certificate has expired', async () => {
    const s = await agent(agentMaterial(ca, 'node-1', { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }));
    expect(s.status().transport).toMatchObject({ mode: 'mtls', expired: true });
    const l = link('node-1', s.url, () => hubMaterial(ca));
    expect(await refusedWith(l)).toBe('TLS: the certificate has expired (CERT_HAS_EXPIRED)');
  });

  it('refuses an agent whose certificate is for another node (a pod posing as the node-1 agent)', async () => {
    const s = await agent(agentMaterial(ca, 'node-2'));
    const l = link('node-1', s.url, () => hubMaterial(ca));
    expect(await refusedWith(l)).toBe("TLS: agent node-1's certificate is for node-2, not node-1");
  });

  it('refuses an agent whose certificate another CA signed', async () => {
    const other = makeCa('hopscope-ca impostor', { days: 365 });
    const s = await agent(agentMaterial(other, 'node-1'));
    const l = link('node-1', s.url, () => hubMaterial(ca));
    expect(await refusedWith(l)).toMatch(/^TLS: the certificate is not signed by the hopscope CA \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)$/);
  });

  it('answers a plain-HTTP client on the TLS port in plain text, saying why, and serves it nothing', async () => {
    const s = await agent(agentMaterial(ca, 'node-1'));
    const port = new URL(s.url).port;
    const r = await execa('curl', ['-sS', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${TOKEN}`, `http://127.0.0.1:${port}/api/status`], { reject: false });
    expect(r.stdout).toBe("this agent serves HTTPS only (mutual TLS): use https:// with the hub's client certificate\n\n400");
    expect(s.status().transport?.refusedPlain).toBe(1);
    // The hub's own client pointed at http:// is refused the same way.
    const l = connectAgent({ name: 'node-1', url: `http://127.0.0.1:${port}/` }, { token: TOKEN, onJourney: () => {}, minBackoffMs: 100 });
    links.push(l);
    expect(await refusedWith(l)).toBe("HTTP 400: this agent serves HTTPS only (mutual TLS): use https:// with the hub's client certificate");
  });

  it('keeps the probes public over TLS (kubelet has no client certificate)', async () => {
    const s = await agent(agentMaterial(ca, 'node-1'));
    const port = new URL(s.url).port;
    const r = await execa('curl', ['-sS', '--cacert', caFile, '--resolve', `node-1:${port}:127.0.0.1`, `https://node-1:${port}/healthz`], { reject: false });
    expect(r.stdout, r.stderr).toBe('ok');
  });

  it('hopscope serve --host 0.0.0.0 without certificates and without --insecure refuses to start', async () => {
    const r = await execa(process.execPath, ['agent/bin/hopscope.mjs', 'serve', '--host', '0.0.0.0', '--port', '0'], { reject: false, timeout: 60_000, env: { HOPSCOPE_TOKEN: TOKEN } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('hopscope serve: --host 0.0.0.0: an agent reachable beyond loopback serves HTTPS with mutual TLS only. Give --tls-dir <dir>');
    expect(r.stderr).toContain('or --insecure to serve plain HTTP anyway');
    expect(r.stdout).not.toContain('hopscope is up');
  }, 60_000);

  it('hopscope certs writes the Secrets for kustomize (0600) and keeps the CA on a renewal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-tl-certs-'));
    try {
      const out = join(dir, 'tls.yaml');
      const cli = (nodes: string) => execa(process.execPath, ['agent/bin/hopscope.mjs', 'certs', '--nodes', nodes, '--out', out], { reject: false });
      const first = await cli('node-1 node-2');
      expect(first.exitCode, first.stderr).toBe(0);
      expect(first.stderr).toContain('a new CA; certificates for node-1, node-2 and the hub, valid 365 days');
      expect(statSync(out).mode & 0o777).toBe(0o600);
      const ca1 = caOfTlsYaml(readFileSync(out, 'utf8'))!;
      const second = await cli('node-1,node-3');
      expect(second.stderr).toContain('kept its CA; certificates for node-1, node-3 and the hub');
      const text = readFileSync(out, 'utf8');
      expect(caOfTlsYaml(text)!.certPem).toBe(ca1.certPem);
      const docs = text.split(/^---$/m).map((d) => JSON.parse(d.replace(/^#.*$/gm, '')) as { metadata: { name: string }; data: Record<string, string> });
      const agentData = docs.find((d) => d.metadata.name === 'hopscope-agent-tls')!.data;
      const pem = (k: string) => Buffer.from(agentData[k]!, 'base64').toString();
      expect(checkTlsMaterial({ ca: ca1.certPem, cert: pem('node-3.crt'), key: pem('node-3.key') }, { kind: 'agent', node: 'node-3' }).role).toEqual({ kind: 'agent', node: 'node-3' });
      const bad = await cli('Node_1');
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr).toContain('--nodes: "Node_1" is not a node name');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  describe('rotation: the mounted files replaced while journeys stream', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'hs-tl-rotate-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const writeSecret = (m: { agent: TlsMaterial; hub: TlsMaterial }) => {
      writeFileSync(join(dir, 'ca.crt'), m.agent.caPem);
      writeFileSync(join(dir, 'node-1.crt'), m.agent.certPem);
      writeFileSync(join(dir, 'node-1.key'), m.agent.keyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'hub.crt'), m.hub.certPem);
      writeFileSync(join(dir, 'hub.key'), m.hub.keyPem, { mode: 0o600 });
    };

    it('agent and hub take the new certificates without a restart, and no journey is lost', async () => {
      const first = { agent: agentMaterial(ca, 'node-1'), hub: hubMaterial(ca) };
      writeSecret(first);
      const source = new SyntheticSource(1, 10); // 100 journeys a second
      let server: RunningServer | undefined;
      let hubLink: AgentLink | undefined;
      const agentWatch = watchTlsDir(dir, { kind: 'agent', node: 'node-1' }, { intervalMs: 200, onChange: (m) => server?.setTls(m) });
      const hubWatch = watchTlsDir(dir, { kind: 'hub' }, { intervalMs: 200, onChange: () => hubLink?.relink() });
      try {
        server = await agent(agentWatch.current(), source);
        const ids = new Set<string>();
        hubLink = link('node-1', server.url, () => hubWatch.current(), (j) => ids.add(j.id));
        await until('journeys before the rotation', () => ids.size >= 100);
        const before = ids.size;
        // A new CA joins the bundle and signs the new certificates: the old CA's could be dropped next.
        const next = makeCa('hopscope-ca rotated', { days: 365 });
        const bundle = next.certPem + ca.certPem;
        writeSecret({ agent: agentMaterial(next, 'node-1', { days: 60 }, bundle), hub: hubMaterial(next, { days: 60 }, bundle) });
        await until('the agent to take the new certificate', () => server!.status().transport?.reloads === 1 || undefined);
        await until('the hub to relink with its new certificate', () => hubLink!.info().relinks === 1 || undefined);
        const atRelink = ids.size;
        await until('journeys after the rotation', () => ids.size >= atRelink + 100);
        expect(readTlsDir(dir, { kind: 'hub' }).fingerprint).toBe(hubWatch.current().fingerprint);
        expect(hubLink.info().connects).toBe(2); // one relink, no reconnect after a drop
        expect(hubLink.info().state).toBe('up');
        // Every journey the agent made since the first arrived is there exactly once: syn-k..syn-n, no gap.
        const nums = [...ids].map((id) => Number(id.slice(4))).sort((a, b) => a - b);
        const lo = nums[0]!;
        const hi = nums.at(-1)!;
        expect(nums.length).toBe(hi - lo + 1);
        console.log(`rotation: ${before} journeys before, ${ids.size - atRelink} after the relink, ${nums.length} in all, no gap (syn-${lo}..syn-${hi})`);
        // The new session is the new certificate's: the agent presents the one valid 60 days.
        expect(Date.parse(hubLink.info().tls!.certExpires)).toBeGreaterThan(Date.now() + 45 * DAY);
      } finally {
        agentWatch.stop();
        hubWatch.stop();
      }
    });
  });
});
