// The built-in topologies parse, validate and expand to the clusters their comments promise.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTopology } from './topology.ts';
import { expandTopology } from './model.ts';

const load = (file: string) => expandTopology(parseTopology(readFileSync(new URL(`./topologies/${file}`, import.meta.url), 'utf8')));

describe('six-node.yaml (the readability lab)', () => {
  const m = load('six-node.yaml');
  it('has 6 nodes, 3 Deployments x 12 replicas spread over all nodes, 38 pods and 30 Services', () => {
    expect(m.nodes).toHaveLength(6);
    expect(m.pods).toHaveLength(38);
    expect(m.services).toHaveLength(30);
    for (const d of ['web', 'api', 'shop']) {
      const pods = m.pods.filter((p) => p.deployment?.name === d);
      expect(pods).toHaveLength(12);
      expect(new Set(pods.map((p) => p.node)).size).toBe(6);
    }
  });
  it('gives every Service but kube-dns 12 endpoints, and every pod its own address in its node CIDR', () => {
    for (const s of m.services) expect(s.endpoints.length, s.name).toBe(s.name === 'kube-dns' ? 1 : 12);
    expect(new Set(m.pods.map((p) => p.ip)).size).toBe(m.pods.length);
    for (const p of m.pods) expect(p.ip.split('.').slice(0, 3).join('.')).toBe(`10.244.${p.node.slice(5)}`);
  });
});
