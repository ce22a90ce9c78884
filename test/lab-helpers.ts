// Shared checks of the lab integration tests: real traffic through real namespaces.
import { expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import type { LabHandle } from '../agent/src/lab/lab.ts';
import { masqueradeSource } from '../agent/src/lab/netplan.ts';
import { listNetns } from '../agent/src/lab/netns.ts';
import { parseNetnsName } from '../agent/src/lab/naming.ts';
import { statePath } from '../agent/src/lab/state.ts';

/** One answer of the lab's HTTP workload. */
export interface HttpAnswer {
  pod: string;
  node: string;
  peer: string;
}

/** Run `n` HTTP requests from a lab host and parse the JSON answers (one exec for all of them). */
export async function requests(lab: LabHandle, from: Parameters<LabHandle['exec']>[0], url: string, n: number): Promise<HttpAnswer[]> {
  const r = await lab.exec(from, ['sh', '-c', `for i in $(seq ${n}); do curl -sS -m 3 ${url}; done`]);
  expect(r.stderr).toBe('');
  const answers = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as HttpAnswer);
  expect(answers).toHaveLength(n);
  return answers;
}

/** Web pods of the default topology's Deployment. */
export function webPods(lab: LabHandle) {
  return lab.state().model.pods.filter((p) => p.deployment?.name === 'web');
}

/** The data-path checks every CNI / kube-proxy combination must pass. */
export async function checkDatapath(lab: LabHandle): Promise<void> {
  const model = lab.state().model;
  const client = model.pods.find((p) => p.name === 'client')!;
  const web = webPods(lab);
  const local = web.find((p) => p.node === client.node)!;
  const remote = web.find((p) => p.node !== client.node)!;
  expect(local && remote).toBeTruthy();

  // pod → pod on the same node and across nodes: no NAT, the server sees the client's address.
  for (const target of [local, remote]) {
    const [a] = await requests(lab, 'client', `http://${target.ip}:8080/`, 1);
    expect(a).toMatchObject({ pod: target.name, node: target.node, peer: client.ip });
  }

  // pod → ClusterIP: kube-proxy's random choice reaches both backends.
  const viaService = await requests(lab, 'client', 'http://10.96.0.20/', 20);
  expect(new Set(viaService.map((a) => a.pod))).toEqual(new Set(web.map((p) => p.name)));
  expect(viaService.every((a) => a.peer === client.ip)).toBe(true);

  // DNS through the kube-dns ClusterIP (UDP and TCP), search domains, NXDOMAIN, then HTTP by name.
  const udp = await lab.exec('client', ['dig', '+short', '+time=2', '+tries=1', 'web.default.svc.cluster.local']);
  expect(udp.stdout.trim()).toBe('10.96.0.20');
  const tcp = await lab.exec('client', ['dig', '+tcp', '+short', '+time=2', '+tries=1', 'kube-dns.kube-system.svc.cluster.local']);
  expect(tcp.stdout.trim()).toBe('10.96.0.10');
  const search = await lab.exec('client', ['dig', '+search', '+short', '+time=2', '+tries=1', 'web']);
  expect(search.stdout.trim()).toBe('10.96.0.20');
  const nx = await lab.exec('client', ['dig', '+time=2', '+tries=1', 'nosuch.default.svc.cluster.local']);
  expect(nx.stdout).toContain('status: NXDOMAIN');
  const [byName] = await requests(lab, 'client', 'http://web/', 1);
  expect(web.map((p) => p.name)).toContain(byName!.pod);

  // external → NodePort on either node: DNAT to a backend, possibly on the other node, and
  // masquerade so the backend sees the node (never the external client) as the source.
  for (const node of model.nodes) {
    const answers = await requests(lab, { external: 'ext-client' }, `http://${node.address}:30080/`, 16);
    expect(answers.some((a) => a.node !== node.name)).toBe(true);
    for (const a of answers) {
      expect(a.peer).not.toBe('10.0.0.100');
      expect(a.peer).toBe(masqueradeSource(model, node.name, a.node));
    }
  }
}

/** Nothing of the lab is left: namespaces, /etc/netns dirs, state file, processes. */
export function expectGone(lab: string, pids: number[], netns: string[]): void {
  expect(listNetns().filter((n) => parseNetnsName(n)?.lab === lab)).toEqual([]);
  for (const n of netns) expect(existsSync(`/etc/netns/${n}`)).toBe(false);
  expect(existsSync(statePath(lab))).toBe(false);
  const alive = pids.filter((p) => existsSync(`/proc/${p}`) && !/\) Z /.test(safeRead(`/proc/${p}/stat`)));
  expect(alive).toEqual([]);
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
