// The page's side of the stream: a worker (stream.worker.ts) holds the websocket, validates
// every frame and keeps the journeys; this forwards the page's commands to it and its events
// to the reducer. The browser sends the token cookie on the worker's same-origin upgrade.
import type { ClientFilter, LabAction, ReplayControl, TopologyView } from '@hopscope/agent/protocol/messages.ts';
import type { UiAction } from '../store/reducer.ts';
import type { RecordingEvent, WorkerCommand, WorkerEvent } from './workerProtocol.ts';

export interface AgentSocket {
  subscribe(f: ClientFilter): void;
  /** List loopback journeys or not (a page-side filter: the agent sends them either way). */
  hideLoopback(on: boolean): void;
  pause(): void;
  resume(): void;
  action(id: string, a: LabAction): void;
  /** Ask for a journey's full record (it answers with a `selection` event). */
  select(id: string | null): void;
  /** Open a connection's packets (answered with `connectionPackets`, again as it grows), or none. */
  openConnection(id: string | null): void;
  clear(): void;
  /** Play, pause or end a replayed recording. */
  replay(c: ReplayControl): void;
  /** Start or stop the page's recording (the file arrives through onRecording). */
  record(on: boolean, topology: TopologyView | null, source: string): void;
  close(): void;
}

/** Start the stream worker; every event goes to `dispatch`. */
export function connectAgent(dispatch: (a: UiAction) => void, onRecording: (e: RecordingEvent) => void = () => undefined): AgentSocket {
  const worker = new Worker(new URL('./stream.worker.ts', import.meta.url), { type: 'module', name: 'hopscope-stream' });
  worker.onmessage = (e: MessageEvent<WorkerEvent | RecordingEvent>) => {
    const m = e.data;
    if (m.type === 'recording' || m.type === 'recordingFile') onRecording(m);
    else dispatch(m);
  };
  worker.onerror = (e) => dispatch({ type: 'connection', state: 'closed', reason: `stream worker failed: ${e.message || 'could not start'}` });
  const cmd = (c: WorkerCommand) => worker.postMessage(c);
  return {
    subscribe: (filter) => cmd({ cmd: 'filter', filter }),
    hideLoopback: (on) => cmd({ cmd: 'hideLoopback', on }),
    pause: () => cmd({ cmd: 'pause' }),
    resume: () => cmd({ cmd: 'resume' }),
    action: (id, action) => cmd({ cmd: 'action', id, action }),
    select: (id) => cmd({ cmd: 'select', id }),
    openConnection: (id) => cmd({ cmd: 'connection', id }),
    clear: () => cmd({ cmd: 'clear' }),
    replay: (control) => cmd({ cmd: 'replay', control }),
    record: (on, topology, source) => cmd({ cmd: 'record', on, topology, source }),
    // The worker closes the socket with a proper close frame, then itself; its last words are
    // not this page's state any more (StrictMode mounts twice).
    close: () => {
      worker.onmessage = null;
      cmd({ cmd: 'close' });
    },
  };
}
