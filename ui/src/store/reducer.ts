// UI state and the pure reducer every worker event and user action goes through. Journeys are
// rows here (store/journeyStore.ts): the stream worker keeps the full ones.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { MATCH_ALL, type AgentStatus, type ClientFilter, type TopologyView } from '@hopscope/agent/protocol/messages.ts';
import type { WorkerEvent } from '../api/workerProtocol.ts';
import { appendRows, MAX_JOURNEYS, type JourneyRow, type Selection } from './journeyStore.ts';
import { upsertConnections, type ConnectionRow, type ConnectionStats } from '../domain/conversations.ts';

export { MAX_JOURNEYS };

export type View = 'live' | 'topology' | 'workshop' | 'lessons';

/** The live list: one row per connection, or one per packet. */
export type ListMode = 'connections' | 'packets';

/** A lab action the user started and its outcome. */
export interface ActionEntry {
  id: string;
  describe: string;
  state: 'running' | 'ok' | 'failed';
  /** What the action printed, as the server sent it. */
  output: string;
  /** Why it failed, when it did. */
  error?: string;
}

/** One line for an action's outcome: its output, or why it failed and what it printed. */
export function actionText(a: ActionEntry): string {
  if (a.state !== 'failed') return a.output;
  return a.output ? `${a.error ?? 'failed'}: ${a.output}` : (a.error ?? 'failed');
}

/** Everything the UI shows. */
export interface UiState {
  connection: 'connecting' | 'open' | 'closed';
  /** Why the connection closed, if the server said. */
  closeReason: string | null;
  clientId: string | null;
  status: AgentStatus | null;
  /** Oldest first. */
  journeys: readonly JourneyRow[];
  /** The listed journeys grouped into connections, oldest first. */
  connections: readonly ConnectionRow[];
  connStats: ConnectionStats;
  listMode: ListMode;
  /** The connection opened in the list, and its packets once the worker sent them. */
  openConnection: string | null;
  connectionPackets: { id: string; rows: readonly JourneyRow[]; total: number } | null;
  /** Journeys this page received (listed or not): with `missed`, every journey is accounted for. */
  received: number;
  /** Journeys the server dropped for this client (it was too slow). */
  missed: number;
  /** Loopback journeys are left out of the list (on by default). */
  hideLoopback: boolean;
  /** Loopback journeys received and left out. */
  hiddenLoopback: number;
  paused: boolean;
  filter: ClientFilter;
  selectedId: string | null;
  /** The selected journey in full, with its request and reply, once the worker sent it. */
  selection: Selection | null;
  view: View;
  step: number;
  actions: ActionEntry[];
  /** A lesson's inspections (commands run in the lab), newest first; kept apart from the traffic. */
  probes: ActionEntry[];
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
  connections: [],
  connStats: { connections: 0, evicted: 0, journeys: 0 },
  listMode: 'connections',
  openConnection: null,
  connectionPackets: null,
  received: 0,
  missed: 0,
  hideLoopback: true,
  hiddenLoopback: 0,
  paused: false,
  filter: MATCH_ALL,
  selectedId: null,
  selection: null,
  view: 'live',
  step: 0,
  actions: [],
  probes: [],
  topology: null,
  topologyStale: true,
  error: null,
};

/** Everything that can change the state. */
export type UiAction =
  | WorkerEvent
  | { type: 'select'; id: string | null }
  | { type: 'listMode'; mode: ListMode }
  | { type: 'openConnection'; id: string | null }
  | { type: 'filter'; filter: ClientFilter }
  | { type: 'hideLoopback'; on: boolean }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'clear' }
  | { type: 'view'; view: View }
  | { type: 'step'; delta: number }
  | { type: 'stepTo'; step: number }
  | { type: 'actionStarted'; id: string; describe: string }
  | { type: 'probeStarted'; id: string; describe: string }
  | { type: 'topology'; topology: TopologyView };

function selected(s: UiState): Journey | undefined {
  return s.selectedId && s.selection?.id === s.selectedId ? s.selection.journey : undefined;
}

function applyServer(s: UiState, m: Extract<WorkerEvent, { type: 'server' }>['message']): UiState {
  switch (m.type) {
    case 'welcome':
      return { ...s, connection: 'open', clientId: m.clientId, status: m.status, closeReason: null, error: null };
    case 'missed':
      return { ...s, missed: s.missed + m.count };
    case 'status':
      return { ...s, status: m.status };
    case 'actionResult': {
      const done = (a: ActionEntry): ActionEntry =>
        a.id === m.id ? { ...a, state: m.ok ? 'ok' : 'failed', output: m.output, ...(m.ok ? {} : { error: m.error ?? 'failed' }) } : a;
      return { ...s, actions: s.actions.map(done), probes: s.probes.map(done) };
    }
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
    case 'rows':
      if (s.paused) return { ...s, received: a.received, hiddenLoopback: a.hiddenLoopback };
      return {
        ...s,
        journeys: appendRows(s.journeys, a.rows, MAX_JOURNEYS, s.selectedId),
        connections: upsertConnections(s.connections, a.connections),
        connStats: a.connStats,
        received: a.received,
        hiddenLoopback: a.hiddenLoopback,
      };
    case 'reset':
      return { ...s, journeys: a.rows, connections: a.connections, connStats: a.connStats, received: a.received, hiddenLoopback: a.hiddenLoopback };
    case 'connectionPackets':
      // An answer for a connection closed since is not what the user looks at.
      return a.id === s.openConnection ? { ...s, connectionPackets: { id: a.id, rows: a.rows, total: a.total } } : s;
    case 'listMode':
      return { ...s, listMode: a.mode };
    case 'openConnection':
      return { ...s, openConnection: a.id, connectionPackets: s.connectionPackets?.id === a.id ? s.connectionPackets : null };
    case 'selection':
      // An answer for an earlier click is not what the user looks at now.
      return a.id === s.selectedId ? { ...s, selection: a.selection } : s;
    case 'select':
      return { ...s, selectedId: a.id, selection: s.selection?.id === a.id ? s.selection : null, step: 0 };
    case 'filter':
      // The worker applies the filter to the list it holds and sends the list again (`reset`).
      return { ...s, filter: a.filter };
    case 'hideLoopback':
      // The worker takes listed loopback journeys out (or lists new ones) and sends the list again.
      return { ...s, hideLoopback: a.on };
    case 'pause':
      return { ...s, paused: true };
    case 'resume':
      return { ...s, paused: false };
    case 'clear': {
      // The worker clears its list too and sends it again; the selected row stays.
      const row = s.journeys.find((r) => r.id === s.selectedId);
      return { ...s, journeys: row ? [row] : [], connections: [], missed: 0 };
    }
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
    case 'probeStarted':
      return { ...s, probes: [{ id: a.id, describe: a.describe, state: 'running' as const, output: '' }, ...s.probes].slice(0, 40) };
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
export function visibleJourneys(s: Pick<UiState, 'journeys'>): JourneyRow[] {
  return [...s.journeys].reverse();
}
