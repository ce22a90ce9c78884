// startServer({record}): what serve, start and hub --write use. Everything the server serves is
// recorded as served, with its status over time and topology, and closing the server
// closes the recording.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from './http.ts';
import { SyntheticSource } from './__tests__/synthetic.ts';
import { readRecordingFile } from '../wiring/recording-file.ts';
import type { TopologyView } from '../protocol/messages.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopscope-recsrv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOPO: TopologyView = { name: 'demo', cni: 'flannel-vxlan', nodes: [{ name: 'node-1', address: '10.0.0.1' }], pods: [], services: [], externals: [], deployments: [] };

describe('startServer with --write', () => {
  it('records every journey served, the status each second and the topology; close ends it', async () => {
    const path = join(dir, 'srv.hsrec');
    const source = new SyntheticSource(1, 10, 150);
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      token: 'record-server-test-token-0123',
      source,
      topology: () => TOPO,
      lab: null,
      record: { path, source: 'node-1, hopscope serve' },
    });
    await new Promise((r) => setTimeout(r, 2300));
    await server.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const r = await readRecordingFile(path);
    expect(r.problems).toEqual([]);
    expect(r.header?.source).toBe('node-1, hopscope serve');
    expect(r.journeys.map((j) => j.id)).toEqual(Array.from({ length: 150 }, (_, i) => `syn-${i}`));
    expect(r.topologies.map((t) => t.topology)).toEqual([TOPO]);
    expect(r.topologies[0]!.identities).toEqual([{ ip: '10.0.0.1', kind: 'node', name: 'node-1' }]);
    expect(r.statuses.length).toBeGreaterThanOrEqual(2);
    expect(r.statuses.at(-1)!.status.counters.eventsIn).toBeGreaterThan(0);
    expect(r.end?.reason).toBe('server stopped');
  });
});
