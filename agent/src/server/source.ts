// What the server needs from whatever produces journeys: the real trace pipeline in
// `hopscope start`/`serve`, synthetic sources in tests and the benchmark.
import type { Journey } from '../protocol/events.ts';
import type { AgentStatus, ReplayControl } from '../protocol/messages.ts';
import type { FilterUnion } from './filter.ts';

/** The source's part of the agent status (the server adds clients and the lab). */
export type SourceStatus = Omit<AgentStatus, 'lab' | 'counters'> & {
  counters: Omit<AgentStatus['counters'], 'clients' | 'journeysOut'>;
};

/** Callbacks a source delivers to. */
export interface SourceSink {
  onJourney(j: Journey): void;
  onStatus(s: SourceStatus): void;
}

/** A producer of journeys the server can start, stop and narrow. */
export interface JourneySource {
  start(sink: SourceSink): Promise<void>;
  /** Narrow what the tracer prints to what some client wants (a superset is fine). */
  setFilter(u: FilterUnion): void;
  status(): SourceStatus;
  stop(): Promise<void>;
  /** Static facts for /api/status: probe set, bpftrace version, kernel features. */
  capabilities(): Record<string, unknown>;
  /** Only a recording has this: play, pause, jump to the end. Returns why not, when it cannot. */
  replay?(c: ReplayControl): string | undefined;
}
