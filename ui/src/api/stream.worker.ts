// The stream worker: the websocket to the agent, parsing and validating every frame
// (frames.ts), and the journey store, all off the page's main thread. Under 5k journeys/s,
// reading the socket, parsing and validating took most of each frame there (23 fps). The page
// gets rows at most every ROWS_MS, so it renders ten times a second however fast journeys come.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { PROTOCOL_VERSION, type ClientMessage } from '@hopscope/agent/protocol/messages.ts';
import { closeReason } from '@hopscope/agent/protocol/close-reason.ts';
import { Coalescer, JourneyStore, MAX_JOURNEYS, type JourneyRow, type Selection } from '../store/journeyStore.ts';
import { parseFrame, verifySelection } from './frames.ts';
import type { RecordingEvent, WorkerCommand, WorkerEvent } from './workerProtocol.ts';
import { gzipText, UiRecording } from './uiRecording.ts';
import { ConnectionTable } from '../domain/conversations.ts';

/** Shortest time between two row deliveries to the page (ms). */
const ROWS_MS = 100;

// The worker global, typed by what this file uses (the project's lib is DOM, not WebWorker).
const scope = self as unknown as { postMessage(e: WorkerEvent | RecordingEvent, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<WorkerCommand>) => void) | null; close(): void };
const post = (e: WorkerEvent) => scope.postMessage(e);

/** The UI's recording, while the record button is on. */
let recording: UiRecording | undefined;
let recordingTold = 0;
const tellRecording = () => {
  const r = recording;
  scope.postMessage({ type: 'recording', on: !!r, journeys: r?.journeys ?? 0, dropped: r?.dropped ?? 0 });
};

/** The journeys of a frame the store keeps as text (parsed again when one is opened). */
function journeysOf(text: string): readonly Journey[] {
  const r = parseFrame(text);
  if (!r.ok || r.message.type !== 'batch') throw new Error(`a kept frame no longer parses: ${r.ok ? r.message.type : r.reason}`);
  return r.message.journeys;
}

const store = new JourneyStore<string>(journeysOf);
/** The listed journeys grouped into connections (rebuilt from the list when it is refiltered or cleared). */
let conns = new ConnectionTable();
/** The connection the page has open. */
let openConn: string | null = null;

function postConnectionPackets(): void {
  if (openConn === null) return;
  const p = conns.packetsOf(openConn);
  post({ type: 'connectionPackets', id: openConn, rows: p ? store.rowsOf(p.ids) : [], total: p?.total ?? 0 });
}

// Connections ride with the rows: the page hears of both at most every ROWS_MS.
const rows = new Coalescer<JourneyRow>(ROWS_MS, MAX_JOURNEYS, (items) => {
  const changed = conns.takeChanged();
  post({ type: 'rows', rows: items, connections: changed, connStats: conns.stats, received: store.received, hiddenLoopback: store.hiddenLoopback });
  if (openConn !== null && changed.some((c) => c.id === openConn)) postConnectionPackets();
});

let ws: WebSocket | undefined;
let closed = false;
let backoff = 500;
let timer: ReturnType<typeof setTimeout> | undefined;

const send = (m: ClientMessage) => {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
};

/** Journeys validated in full, by the listed journey they came from. */
const verified = new WeakMap<Journey, Journey>();

/** Hands the page a selection once each of its journeys passed full validation. */
function postSelection(id: string | null, sel: Selection | null): void {
  if (!sel) return post({ type: 'selection', id, selection: null });
  const v = verifySelection(sel, verified);
  if (!v.ok) {
    post({ type: 'invalid', reason: v.reason });
    return post({ type: 'selection', id, selection: null });
  }
  post({ type: 'selection', id, selection: v.message });
}

function reset(): void {
  rows.discard();
  conns = new ConnectionTable();
  for (const j of store.journeys()) conns.add(j);
  post({ type: 'reset', rows: store.rows(), connections: conns.rows(), connStats: conns.stats, received: store.received, hiddenLoopback: store.hiddenLoopback });
  postConnectionPackets();
}

function onFrame(text: string): void {
  const r = parseFrame(text);
  if (!r.ok) return post({ type: 'invalid', reason: r.reason });
  const m = r.message;
  if (m.type === 'batch') {
    if (recording) {
      recording.batch(m.journeys, Date.now());
      // The count on the button, at most twice a second.
      if (Date.now() - recordingTold > 500) {
        recordingTold = Date.now();
        tellRecording();
      }
    }
    const { fresh, freshJourneys, selectionChanged } = store.batch(m.seq, m.journeys, text);
    for (const j of freshJourneys) conns.add(j);
    rows.push(fresh);
    if (selectionChanged) {
      // The new rows go first so the page lists what the selection refers to.
      rows.flush();
      const sel = store.selected;
      postSelection(sel?.id ?? null, sel);
    }
    return;
  }
  if (m.type === 'welcome') store.welcome();
  if (m.type === 'status' && recording) recording.status(m.status, Date.now());
  post({ type: 'server', message: m });
}

function open(): void {
  post({ type: 'connection', state: 'connecting' });
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const sock = new WebSocket(`${proto}//${location.host}/ws`);
  ws = sock;
  sock.onopen = () => {
    backoff = 500;
    sock.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION } satisfies ClientMessage));
    sock.send(JSON.stringify({ type: 'subscribe', filter: store.filter } satisfies ClientMessage));
    if (store.paused) sock.send(JSON.stringify({ type: 'pause' } satisfies ClientMessage));
  };
  sock.onmessage = (ev) => onFrame(String(ev.data));
  sock.onclose = (ev) => {
    post({ type: 'connection', state: 'closed', reason: ev.reason || (ev.code === 1006 ? 'connection lost' : `closed (${ev.code})`) });
    // The page is done with this worker once its socket has closed cleanly.
    if (closed) return scope.close();
    timer = setTimeout(open, backoff);
    backoff = Math.min(backoff * 2, 10_000);
  };
}

scope.onmessage = (e) => {
  const c = e.data;
  switch (c.cmd) {
    case 'filter': {
      const before = store.selected?.id ?? null;
      store.setFilter(c.filter);
      send({ type: 'subscribe', filter: c.filter });
      reset();
      if (before !== null && !store.selected) post({ type: 'selection', id: before, selection: null });
      return;
    }
    case 'hideLoopback': {
      const before = store.selected?.id ?? null;
      store.setHideLoopback(c.on);
      reset();
      if (before !== null && !store.selected) post({ type: 'selection', id: before, selection: null });
      return;
    }
    case 'pause':
      store.paused = true;
      send({ type: 'pause' });
      return;
    case 'resume':
      store.paused = false;
      send({ type: 'resume' });
      return;
    case 'action':
      send({ type: 'action', id: c.id, action: c.action });
      return;
    case 'select':
      postSelection(c.id, store.select(c.id));
      return;
    case 'connection':
      openConn = c.id;
      postConnectionPackets();
      return;
    case 'clear':
      store.clear();
      reset();
      return;
    case 'replay':
      send({ type: 'replay', ...c.control });
      return;
    case 'record':
      if (c.on) {
        recording = new UiRecording(Date.now(), c.source, c.topology);
        tellRecording();
        return;
      }
      if (recording) {
        const text = recording.finish(Date.now(), location.host);
        recording = undefined;
        tellRecording();
        void gzipText(text).then(
          (bytes) => scope.postMessage({ type: 'recordingFile', name: `hopscope-${new Date().toISOString().replace(/[:.]/g, '-')}.hsrec`, bytes }, [bytes.buffer]),
          (e: unknown) => post({ type: 'invalid', reason: `recording not saved: ${(e as Error).message}` }),
        );
      }
      return;
    case 'close':
      closed = true;
      if (timer) clearTimeout(timer);
      if (ws && ws.readyState !== WebSocket.CLOSED) ws.close(1000, closeReason('page closed'));
      else scope.close();
      return;
    default: {
      const never: never = c;
      post({ type: 'invalid', reason: `unknown command ${JSON.stringify(never)}` });
    }
  }
};

open();
