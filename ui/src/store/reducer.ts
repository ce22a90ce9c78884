// UI state and the pure reducer every server message and user action goes through.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import {
  MATCH_ALL,
  matchJourney,
  type AgentStatus,
  type ClientFilter,
  type ServerMessage,
  type TopologyView,
} from '@hopscope/agent/protocol/messages.ts';

/** Most journeys the list keeps; the oldest go first. */
export const MAX_JOURNEYS = 5000;

export type View = 'live' | 'topology' | 'workshop';

/** A lab action the user started and its outcome. */
export interface ActionEntry {
  id: string;
  describe: string;
  state: 'running' | 'ok' | 'failed';
  output: string;
}

/** Everything the UI shows. */
export interface UiState {
  connection: 'connecting' | 'open' | 'closed';
  /** Why the connection closed, if the server said. */
  closeReason: string | null;
  clientId: string | null;
  status: AgentStatus | null;
  /** Oldest first. */
  journeys: Journey[];
  /** Last batch seq seen on this connection (stale or repeated batches are ignored). */
  lastSeq: number;
  /** Journeys the server dropped for this client (it was too slow). */
  missed: number;
  paused: boolean;
  filter: ClientFilter;
  selectedId: string | null;
  view: View;
  step: number;
  actions: ActionEntry[];
  topology: TopologyView | null;
  topologyStale: boolean;
  error: string | null;
}

export const initialState: UiState = {
  connection: 'connecting',
  closeReason: null,
  clientId: null,
  status: null,
  journeys: [],
  lastSeq: 0,
  missed: 0,
  paused: false,
  filter: MATCH_ALL,
  selectedId: null,
  view: 'live',
  step: 0,
  actions: [],
  topology: null,
  topologyStale: true,
  error: null,
};

/** Everything that can change the state. */
export type UiAction =
  | { type: 'server'; message: ServerMessage }
  | { type: 'connection'; state: 'connecting' | 'open' | 'closed'; reason?: string }
  | { type: 'invalid'; reason: string }
  | { type: 'select'; id: string | null }
  | { type: 'filter'; filter: ClientFilter }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'clear' }
  | { type: 'view'; view: View }
  | { type: 'step'; delta: number }
  | { type: 'stepTo'; step: number }
  | { type: 'actionStarted'; id: string; describe: string }
  | { type: 'topology'; topology: TopologyView };

function selected(s: UiState): Journey | undefined {
  return s.selectedId ? s.journeys.find((j) => j.id === s.selectedId) : undefined;
}

function applyServer(s: UiState, m: ServerMessage): UiState {
  switch (m.type) {
    case 'welcome':
      // A new connection numbers its batches from 1 again.
      return { ...s, connection: 'open', clientId: m.clientId, status: m.status, lastSeq: 0, closeReason: null, error: null };
    case 'batch': {
      if (m.seq <= s.lastSeq) return s;
      const missed = s.missed;
      if (s.paused || m.journeys.length === 0) return { ...s, lastSeq: m.seq, missed };
      const known = new Set(s.journeys.map((j) => j.id));
      const fresh = m.journeys.filter((j) => !known.has(j.id) && matchJourney(j, s.filter));
      let journeys = fresh.length > 0 ? [...s.journeys, ...fresh] : s.journeys;
      if (journeys.length > MAX_JOURNEYS) {
        journeys = journeys.slice(journeys.length - MAX_JOURNEYS);
        // Keep the selection if it aged out of the list: the user is looking at it.
        const sel = selected(s);
        if (sel && !journeys.includes(sel)) journeys = [sel, ...journeys.slice(1)];
      }
      return { ...s, journeys, lastSeq: m.seq };
    }
    case 'missed':
      return { ...s, missed: s.missed + m.count };
    case 'status':
      return { ...s, status: m.status };
    case 'actionResult':
      return {
        ...s,
        actions: s.actions.map((a) =>
          a.id === m.id ? { ...a, state: m.ok ? 'ok' : 'failed', output: m.ok ? m.output : (m.error ?? 'failed') + (m.output ? `: ${m.output}` : '') } : a,
        ),
      };
    case 'topologyChanged':
      return { ...s, topologyStale: true };
    case 'error':
      return { ...s, error: m.reason };
    default: {
      const never: never = m;
      return { ...s, error: `unknown message ${JSON.stringify(never)}` };
    }
  }
}

/** The reducer. */
export function reduce(s: UiState, a: UiAction): UiState {
  switch (a.type) {
    case 'server':
      return applyServer(s, a.message);
    case 'connection':
      return { ...s, connection: a.state, ...(a.reason !== undefined ? { closeReason: a.reason } : {}) };
    case 'invalid':
      return { ...s, error: `agent sent an invalid message: ${a.reason}` };
    case 'select':
      return { ...s, selectedId: a.id, step: 0 };
    case 'filter':
      // The server applies the filter from now on; the list applies it to what is already here.
      return { ...s, filter: a.filter, journeys: s.journeys.filter((j) => matchJourney(j, a.filter)) };
    case 'pause':
      return { ...s, paused: true };
    case 'resume':
      return { ...s, paused: false };
    case 'clear':
      return { ...s, journeys: selected(s) ? [selected(s)!] : [], missed: 0 };
    case 'view':
      return { ...s, view: a.view };
    case 'step': {
      const j = selected(s);
      if (!j) return s;
      return { ...s, step: Math.min(Math.max(0, s.step + a.delta), j.hops.length - 1) };
    }
    case 'stepTo': {
      const j = selected(s);
      if (!j) return s;
      return { ...s, step: Math.min(Math.max(0, a.step), j.hops.length - 1) };
    }
    case 'actionStarted':
      return { ...s, actions: [{ id: a.id, describe: a.describe, state: 'running' as const, output: '' }, ...s.actions].slice(0, 8) };
    case 'topology':
      return { ...s, topology: a.topology, topologyStale: false };
    default: {
      const never: never = a;
      return { ...s, error: `unknown action ${JSON.stringify(never)}` };
    }
  }
}

/** The selected journey, if still in the list. */
export function selectedJourney(s: UiState): Journey | undefined {
  return selected(s);
}

/** Journeys shown in the list: requests and replies both, newest first. */
export function visibleJourneys(s: UiState): Journey[] {
  return [...s.journeys].reverse();
}
