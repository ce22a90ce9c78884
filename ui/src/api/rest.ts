// REST calls to the agent (same origin; the token travels in the HttpOnly cookie).
import { topologySchema, type TopologyView } from '@hopscope/agent/protocol/messages.ts';

/** GET /api/topology, validated. */
export async function fetchTopology(): Promise<TopologyView> {
  const r = await fetch('/api/topology', { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`topology: HTTP ${r.status}`);
  return topologySchema.parse(await r.json());
}
