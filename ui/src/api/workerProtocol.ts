// Messages between the page and the stream worker (api/stream.worker.ts). The worker owns the
// websocket and the full journeys; the page gets rows, counters and the journey it shows.
import type { ClientFilter, LabAction, ReplayControl, ServerMessage, TopologyView } from '@hopscope/agent/protocol/messages.ts';
import type { JourneyRow, Selection } from '../store/journeyStore.ts';
import type { ConnectionRow, ConnectionStats } from '../domain/conversations.ts';

/** Page → worker. */
export type WorkerCommand =
  | { cmd: 'filter'; filter: ClientFilter }
  | { cmd: 'hideLoopback'; on: boolean }
  | { cmd: 'pause' }
  | { cmd: 'resume' }
  | { cmd: 'action'; id: string; action: LabAction }
  | { cmd: 'select'; id: string | null }
  /** The connection whose packets the page shows (null: none); the worker keeps them up to date. */
  | { cmd: 'connection'; id: string | null }
  | { cmd: 'clear' }
  /** Play, pause or end a replayed recording (hopscope open). */
  | { cmd: 'replay'; control: ReplayControl }
  /** Start recording what arrives (with the topology shown), or stop and hand over the file. */
  | { cmd: 'record'; on: boolean; topology: TopologyView | null; source: string }
  | { cmd: 'close' };

/** Worker → page, about the UI's recording (handled beside the reducer, not in it). */
export type RecordingEvent =
  | { type: 'recording'; on: boolean; journeys: number; dropped: number }
  | { type: 'recordingFile'; name: string; bytes: Uint8Array };

/**
 * Worker → page. `received` counts journeys this page received, whether listed or not;
 * `hiddenLoopback` those of them left out as loopback.
 */
export type WorkerEvent =
  | { type: 'connection'; state: 'connecting' | 'open' | 'closed'; reason?: string }
  /** Every server message but `batch`, as validated. */
  | { type: 'server'; message: Exclude<ServerMessage, { type: 'batch' }> }
  | { type: 'invalid'; reason: string }
  /** Rows new to the list since the last event, oldest first, and the connections they changed (whole rows). */
  | { type: 'rows'; rows: JourneyRow[]; connections: ConnectionRow[]; connStats: ConnectionStats; received: number; hiddenLoopback: number }
  /** The whole list again (after a filter change or a clear), and its connections. */
  | { type: 'reset'; rows: JourneyRow[]; connections: ConnectionRow[]; connStats: ConnectionStats; received: number; hiddenLoopback: number }
  /** The packets of the connection the page opened, as listed (`total`: all it had, some may have aged out). */
  | { type: 'connectionPackets'; id: string; rows: JourneyRow[]; total: number }
  /** The shown journey: the answer to `select` for `id`, or its request or reply arriving later. */
  | { type: 'selection'; id: string | null; selection: Selection | null };
