import { beforeEach, describe, expect, it } from 'vitest';
import type { Journey } from '../protocol/events.ts';
import { createCorrelator } from './correlate.ts';
import { renderJson, renderOneLine, renderStory } from './story.ts';
import { drop, fakeIdentity, flannelDevices, free, hop, NS, resetSeq, synAckPath, synPath, tcp } from './__tests__/testdata.ts';

function journeys(events: Parameters<ReturnType<typeof createCorrelator>['push']>[0][]): Journey[] {
  const out: Journey[] = [];
  const c = createCorrelator({ identity: fakeIdentity(), onJourney: (j) => out.push(j) });
  for (const e of [...flannelDevices(), ...events]) c.push(e);
  return out;
}

beforeEach(() => resetSeq());

describe('story', () => {
  it('tells the ClusterIP SYN as one line of hops', () => {
    const syn = synPath();
    const [j] = journeys([...syn, free(1_000_200_000, syn[0]!.skb)]);
    expect(renderOneLine(j!)).toBe(
      'client (default) eth0 → vethc1 (node-1) → DNAT svc default/web 10.96.0.20:80 → pod default/web-7d9f-abcde 10.244.2.3:8080 (node-1)' +
        ' → encap flannel.1 (node-1) → VXLAN vni 1 10.0.0.1 → 10.0.0.2 u1 (node-1) → VXLAN vni 1 10.0.0.1 → 10.0.0.2 p-node1 (underlay)' +
        ' → VXLAN vni 1 10.0.0.1 → 10.0.0.2 p-node2 (underlay) → VXLAN vni 1 10.0.0.1 → 10.0.0.2 u2 (node-2) → decap flannel.1 (node-2)' +
        ' → bridge cni0 (node-2) → vethw1 (node-2) → delivered web-7d9f-abcde (default) eth0 (delivered, 0.140 ms)',
    );
  });

  it('tells it one hop per line with a headline and per-hop delays', () => {
    const syn = synPath();
    const ack = synAckPath();
    const [req, rep] = journeys([...syn, free(1_000_200_000, syn[0]!.skb), ...ack, free(1_001_200_000, ack[0]!.skb)]);
    const lines = renderStory(req!).split('\n');
    expect(lines[0]).toBe(`${req!.id} tcp [S] pod default/client 10.244.1.2:40000 → svc default/web 10.96.0.20:80 ⇒ pod default/web-7d9f-abcde 10.244.2.3:8080: delivered in 0.140 ms`);
    expect(lines).toHaveLength(1 + 12);
    expect(lines[1]).toBe('  +  0.000 ms  pod-egress  client (default) eth0  10.244.1.2:40000 → 10.96.0.20:80 tcp [S]');
    expect(lines[3]).toBe('  +  0.020 ms  dnat        DNAT svc default/web 10.96.0.20:80 → pod default/web-7d9f-abcde 10.244.2.3:8080 (node-1)');
    const replyLines = renderStory(rep!).split('\n');
    expect(replyLines[0]).toContain(`(reply to ${req!.id})`);
    expect(replyLines[8]).toContain('reverse NAT pod default/web-7d9f-abcde 10.244.2.3:8080 → svc default/web 10.96.0.20:80 (node-1)');
  });

  it('tells a drop with the kernel reason and where', () => {
    const p = tcp('10.244.1.2', 40001, '10.244.2.3', 8080);
    const [j] = journeys([hop(100, 'xmit', NS.client, 2, 'eth0', '0x9', p), hop(200, 'recv', NS.node1, 5, 'vethc1', '0x9', p), drop(300, NS.node1, 5, 'vethc1', '0x9')]);
    expect(renderOneLine(j!)).toBe('client (default) eth0 → vethc1 (node-1) → DROPPED NETFILTER_DROP at nf_hook_slow vethc1 (node-1) (dropped, 0.000 ms)');
    expect(renderStory(j!).split('\n')[0]).toContain(': dropped in');
  });

  it('JSON form is one line that parses back to the same journey', () => {
    const syn = synPath();
    const [j] = journeys([...syn, free(1_000_200_000, syn[0]!.skb)]);
    const line = renderJson(j!);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(j);
  });
});
