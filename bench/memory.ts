// A process's own memory as the benches report it (the flood rig's agent, the hub-scale children).
import { getHeapSpaceStatistics } from 'node:v8';

/** process.memoryUsage() and V8's heap spaces (bytes), as the agent process sees itself. */
export interface MemoryReport {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { size: number; used: number }>;
}

export function memoryReport(): MemoryReport {
  const m = process.memoryUsage();
  const spaces: MemoryReport['spaces'] = {};
  for (const s of getHeapSpaceStatistics()) spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
  return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, spaces };
}
