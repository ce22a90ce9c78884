// REST calls to the agent (same origin; the token travels in the HttpOnly cookie).
import { topologySchema, type TopologyView } from '@hopscope/agent/protocol/messages.ts';
import { lessonsResponseSchema, type LessonsResponse } from '@hopscope/agent/protocol/lessons.ts';

/** GET /api/topology, validated. */
export async function fetchTopology(): Promise<TopologyView> {
  const r = await fetch('/api/topology', { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`topology: HTTP ${r.status}`);
  return topologySchema.parse(await r.json());
}

/** GET /api/lessons, validated (the agent validated each file; this checks the wire). */
export async function fetchLessons(): Promise<LessonsResponse> {
  const r = await fetch('/api/lessons', { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`lessons: HTTP ${r.status}`);
  return lessonsResponseSchema.parse(await r.json());
}
