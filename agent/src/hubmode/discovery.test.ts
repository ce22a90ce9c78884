import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { agentsFromPods, parseAgentList } from './discovery.ts';

const pod = (node: string | undefined, hostIP: string | undefined, extra: Partial<{ phase: string; deleting: boolean }> = {}): V1Pod => ({
  metadata: { name: `hopscope-agent-${node ?? 'x'}`, ...(extra.deleting ? { deletionTimestamp: new Date() } : {}) },
  spec: { containers: [], ...(node ? { nodeName: node } : {}) },
  status: { ...(hostIP ? { hostIP } : {}), phase: extra.phase ?? 'Running' },
});

describe('agent discovery', () => {
  it('one agent per scheduled pod at its node address; unscheduled, deleting and finished pods are skipped', () => {
    const agents = agentsFromPods(
      [pod('node-b', '10.0.0.2'), pod('node-a', '10.0.0.1'), pod(undefined, undefined, { phase: 'Pending' }), pod('node-c', '10.0.0.3', { deleting: true }),
        pod('node-d', '10.0.0.4', { phase: 'Failed' }), pod('node-e', 'fd00::5')],
      4780,
    );
    expect(agents).toEqual([
      { name: 'node-a', url: 'http://10.0.0.1:4780/' },
      { name: 'node-b', url: 'http://10.0.0.2:4780/' },
      { name: 'node-e', url: 'http://[fd00::5]:4780/' },
    ]);
  });

  it('parses a static list and refuses what is not one', () => {
    expect(parseAgentList('node-1=http://127.0.0.1:4781, node-2=http://127.0.0.1:4782/')).toEqual([
      { name: 'node-1', url: 'http://127.0.0.1:4781/' },
      { name: 'node-2', url: 'http://127.0.0.1:4782/' },
    ]);
    expect(() => parseAgentList('http://127.0.0.1:4781')).toThrow(/expected name=url/);
    expect(() => parseAgentList('Node_1=http://h:1')).toThrow(/not a node name/);
    expect(() => parseAgentList('n=ftp://h:1')).toThrow(/only http/);
    expect(() => parseAgentList('n=http://h:1/?token=x')).toThrow(/token is given separately/);
    expect(() => parseAgentList('n=http://h:1,n=http://h:2')).toThrow(/twice/);
    expect(() => parseAgentList(' , ')).toThrow(/no agents/);
  });
});
