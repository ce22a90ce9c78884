// The websocket fan-out: per-client filters, 50 ms batches, bounded per-client backlogs. A slow
// client loses journeys (counted and told), never memory and never the others' rate. Sockets
// are abstracted to what the fan-out needs so it is unit-tested without a network.
import type { Journey } from '../protocol/events.ts';
import {
  MATCH_ALL,
  PROTOCOL_VERSION,
  filterKey,
  parseClientMessage,
  type AgentStatus,
  type ClientFilter,
  type LabAction,
  type ReplayControl,
  type ServerMessage,
} from '../protocol/messages.ts';
import { closeWith } from '../protocol/close-reason.ts';
import { matchJourney, sameUnion, unionFilters, type FilterUnion } from './filter.ts';

/** The part of a websocket the fan-out uses. */
export interface FanoutSocket {
  /** Bytes queued in user space and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** 1 = open (WebSocket.OPEN). */
  readonly readyState: number;
  send(data: string): void;
  close(code: number, reason: string): void;
  /** Drop the connection without the closing handshake (a peer that does not read cannot take part in it). */
  terminate?(): void;
}

/** Result of a lab action, sent back to the client that asked. */
export interface ActionOutcome {
  ok: boolean;
  output: string;
  error?: string;
  /** The cluster changed (e.g. scaled): tell every client to refetch the topology. */
  topologyChanged?: boolean;
}

/** Fanout tuning and hooks. */
export interface FanoutOptions {
  /** Batch period (ms). */
  batchMs: number;
  /** Most journeys one client may have waiting; older ones are dropped first. */
  maxQueue: number;
  /** Most journeys pending between two flushes (all clients); protects against a burst. */
  maxPending: number;
  /** Most journeys in one frame. */
  maxBatch: number;
  /** A socket with more than this many bytes buffered gets nothing new written. */
  maxBufferedBytes: number;
  /** Current agent status (for welcome and status messages). */
  status(): AgentStatus;
  /** The union of client filters changed. */
  onFilterUnion?(u: FilterUnion): void;
  /** Checks a token given in `hello` (the upgrade was authenticated already; a wrong one still closes). */
  checkToken?(token: string): boolean;
  /** Run a lab action; absent when there is no lab (serve mode). */
  onAction?(a: LabAction): Promise<ActionOutcome>;
  /** Replay controls (a recording source only); returns why not, when refused. */
  onReplay?(c: ReplayControl): string | undefined;
  /** Client messages allowed per second on average, and in one burst; more closes the client (1008). */
  maxMessagesPerSecond: number;
  messageBurst: number;
  /** A client that has not said hello this long after connecting is closed (ms). */
  helloTimeoutMs: number;
  /** A client whose socket stays over maxBufferedBytes this long (it does not read) is dropped (ms). */
  maxStallMs: number;
  /** Clock in ms (tests drive it). */
  now?(): number;
}

export const DEFAULT_FANOUT_OPTIONS = {
  batchMs: 50,
  maxQueue: 2000,
  maxPending: 20000,
  maxBatch: 500,
  maxBufferedBytes: 1 << 20,
  // The UI sends a subscribe per filter edit: far below this. A flood of them is abuse.
  maxMessagesPerSecond: 20,
  messageBurst: 200,
  helloTimeoutMs: 10_000,
  maxStallMs: 30_000,
} as const;

interface Client {
  id: string;
  sock: FanoutSocket;
  helloed: boolean;
  paused: boolean;
  filter: ClientFilter;
  backlog: Journey[];
  seq: number;
  /** Dropped for this client since the last notice. */
  missed: number;
  missedTotal: number;
  actionBusy: boolean;
  /** Token bucket of the message rate limit. */
  tokens: number;
  refilledAt: number;
  connectedAt: number;
  /** Since when the socket has been over maxBufferedBytes, if it is. */
  stalledSince: number | null;
}

/** Counters the fan-out keeps (for /metrics and status). */
export interface FanoutCounters {
  journeysIn: number;
  journeysOut: number;
  framesOut: number;
  /** Journeys dropped because a client was too slow (per client drops, summed). */
  droppedSlowClient: number;
  /** Journeys dropped before any client saw them: the pending burst bound. */
  droppedPending: number;
  /** Broadcast serialisations (one per filter group per flush). */
  serialisations: number;
  clientsClosedMalformed: number;
  /** Clients closed for exceeding the message rate or not saying hello in time. */
  clientsClosedAbusive: number;
  /** Clients dropped for not reading (stalled over maxBufferedBytes for maxStallMs). */
  clientsClosedStalled: number;
  /** Clients closed (1011) because handling their frame threw: a bug, contained to that client. */
  clientsClosedError: number;
}

export class Fanout {
  readonly opts: FanoutOptions;
  private clients = new Map<string, Client>();
  private pending: Journey[] = [];
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private lastUnion: FilterUnion | undefined;
  readonly counters: FanoutCounters = {
    journeysIn: 0,
    journeysOut: 0,
    framesOut: 0,
    droppedSlowClient: 0,
    droppedPending: 0,
    serialisations: 0,
    clientsClosedMalformed: 0,
    clientsClosedAbusive: 0,
    clientsClosedStalled: 0,
    clientsClosedError: 0,
  };

  constructor(opts: Partial<FanoutOptions> & Pick<FanoutOptions, 'status'>) {
    this.opts = { ...DEFAULT_FANOUT_OPTIONS, ...opts };
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Start the batch timer. */
  start(): void {
    if (!this.timer) this.timer = setInterval(() => this.flush(), this.opts.batchMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Clients that said hello: journeys published now reach them. */
  get readyClientCount(): number {
    let n = 0;
    for (const c of this.clients.values()) if (c.helloed) n++;
    return n;
  }

  /** Register a connected (already authenticated) socket; returns its id. */
  addClient(sock: FanoutSocket): string {
    const id = `c${this.nextId++}`;
    const now = this.now();
    this.clients.set(id, {
      id,
      sock,
      helloed: false,
      paused: false,
      filter: MATCH_ALL,
      backlog: [],
      seq: 0,
      missed: 0,
      missedTotal: 0,
      actionBusy: false,
      tokens: this.opts.messageBurst,
      refilledAt: now,
      connectedAt: now,
      stalledSince: null,
    });
    return id;
  }

  removeClient(id: string): void {
    if (this.clients.delete(id)) this.updateUnion();
  }

  /** Missed totals per client id (for tests and metrics). */
  clientStats(): { id: string; backlog: number; missedTotal: number; seq: number; buffered: number }[] {
    return [...this.clients.values()].map((c) => ({ id: c.id, backlog: c.backlog.length, missedTotal: c.missedTotal, seq: c.seq, buffered: c.sock.bufferedAmount }));
  }

  /**
   * One frame from a client: validated; anything malformed closes that client only, and so does
   * any exception while handling it (1011, counted): no frame reaches the process.
   */
  handleMessage(id: string, text: string): void {
    const c = this.clients.get(id);
    if (!c) return;
    try {
      this.handleFrame(c, text);
    } catch (e) {
      this.failClient(id, e);
    }
  }

  /**
   * Close a client whose frame could not be handled (an exception, ours): 1011, counted. Public
   * for the transport, whose own per-frame code is guarded the same way.
   */
  failClient(id: string, error: unknown): void {
    const c = this.clients.get(id);
    // A client already gone (closed by its peer, or refused meanwhile) is not closed again nor counted.
    if (!c) return;
    this.counters.clientsClosedError++;
    this.clients.delete(id);
    closeWith(c.sock, 1011, `internal error: ${error instanceof Error ? error.message : String(error)}`);
    // The union is recomputed from the remaining clients; if that is what threw, they keep the last one.
    try {
      this.updateUnion();
    } catch {
      // Nothing of this client's is left to retry with.
    }
  }

  private handleFrame(c: Client, text: string): void {
    const now = this.now();
    c.tokens = Math.min(this.opts.messageBurst, c.tokens + ((now - c.refilledAt) * this.opts.maxMessagesPerSecond) / 1000);
    c.refilledAt = now;
    if (c.tokens < 1) return this.reject(c, `too many messages (limit ${this.opts.maxMessagesPerSecond}/s, burst ${this.opts.messageBurst})`, 'abusive');
    c.tokens -= 1;
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return this.reject(c, parsed.reason);
    const m = parsed.message;
    if (m.type !== 'hello' && !c.helloed) return this.reject(c, 'expected hello first');
    switch (m.type) {
      case 'hello':
        if (m.version !== PROTOCOL_VERSION) return this.reject(c, `unsupported protocol version ${m.version} (want ${PROTOCOL_VERSION})`);
        if (m.token !== undefined && this.opts.checkToken && !this.opts.checkToken(m.token)) return this.reject(c, 'wrong token');
        c.helloed = true;
        this.send(c, { type: 'welcome', version: PROTOCOL_VERSION, clientId: c.id, status: this.opts.status() });
        this.updateUnion();
        return;
      case 'subscribe':
        c.filter = m.filter;
        // Journeys queued under the old filter are no longer what the client asked for.
        c.backlog = c.backlog.filter((j) => matchJourney(j, c.filter));
        this.updateUnion();
        return;
      case 'pause':
        c.paused = true;
        return;
      case 'resume':
        c.paused = false;
        return;
      case 'replay': {
        const why = this.opts.onReplay ? this.opts.onReplay({ control: m.control, ...(m.speed !== undefined ? { speed: m.speed } : {}) }) : 'not a recording: nothing to replay';
        if (why) this.send(c, { type: 'error', reason: why });
        return;
      }
      case 'action':
        // After its await the action is outside handleMessage's guard: contain it here.
        return void this.runAction(c, m.id, m.action).catch((e: unknown) => this.failClient(c.id, e));
      default: {
        const never: never = m;
        throw new Error(`unhandled client message ${JSON.stringify(never)}`);
      }
    }
  }

  private reject(c: Client, reason: string, why: 'malformed' | 'abusive' = 'malformed'): void {
    if (why === 'malformed') this.counters.clientsClosedMalformed++;
    else this.counters.clientsClosedAbusive++;
    this.clients.delete(c.id);
    closeWith(c.sock, 1008, reason);
    this.updateUnion();
  }

  private async runAction(c: Client, id: string, action: LabAction): Promise<void> {
    if (!this.opts.onAction) return this.send(c, { type: 'actionResult', id, ok: false, output: '', error: 'no lab: actions need `hopscope start`' });
    if (c.actionBusy) return this.send(c, { type: 'actionResult', id, ok: false, output: '', error: 'another action is still running' });
    c.actionBusy = true;
    let out: ActionOutcome;
    try {
      out = await this.opts.onAction(action);
    } catch (e) {
      out = { ok: false, output: '', error: (e as Error).message };
    } finally {
      c.actionBusy = false;
    }
    this.send(c, { type: 'actionResult', id, ok: out.ok, output: out.output, ...(out.error ? { error: out.error } : {}) });
    if (out.topologyChanged) this.broadcast({ type: 'topologyChanged' });
  }

  private updateUnion(): void {
    const u = unionFilters([...this.clients.values()].filter((c) => c.helloed).map((c) => c.filter));
    if (this.lastUnion && sameUnion(u, this.lastUnion)) return;
    this.lastUnion = u;
    this.opts.onFilterUnion?.(u);
  }

  /** The union of the current clients' filters. */
  get union(): FilterUnion {
    return this.lastUnion ?? unionFilters([]);
  }

  /** A journey from the pipeline; delivered at the next flush. */
  publish(j: Journey): void {
    this.counters.journeysIn++;
    if (this.pending.length >= this.opts.maxPending) {
      this.pending.shift();
      this.counters.droppedPending++;
    }
    this.pending.push(j);
  }

  private send(c: Client, m: ServerMessage): void {
    if (c.sock.readyState !== 1) return;
    c.sock.send(JSON.stringify(m));
  }

  /** Send a message to every client that said hello (status, topologyChanged). */
  broadcast(m: ServerMessage): void {
    const text = JSON.stringify(m);
    for (const c of this.clients.values()) {
      if (!c.helloed || c.sock.readyState !== 1) continue;
      // Status is a snapshot sent every second: a socket that is not reading gets none queued.
      if (m.type === 'status' && !this.writable(c)) continue;
      c.sock.send(text);
    }
  }

  /** Close clients that never said hello, and drop those that stopped reading. */
  private reap(now: number): void {
    for (const c of [...this.clients.values()]) {
      if (!c.helloed && now - c.connectedAt > this.opts.helloTimeoutMs) {
        this.reject(c, `no hello within ${this.opts.helloTimeoutMs} ms`, 'abusive');
        continue;
      }
      if (c.sock.readyState !== 1 || c.sock.bufferedAmount <= this.opts.maxBufferedBytes) {
        c.stalledSince = null;
        continue;
      }
      c.stalledSince ??= now;
      if (now - c.stalledSince < this.opts.maxStallMs) continue;
      this.counters.clientsClosedStalled++;
      // The close frame would wait behind everything the peer is not reading: terminate too.
      closeWith(c.sock, 1008, `too slow: not reading for ${this.opts.maxStallMs} ms`);
      c.sock.terminate?.();
      this.clients.delete(c.id);
      this.updateUnion();
    }
  }

  private batchFrame(c: Client, journeysJson: string, count: number): string {
    const dropped = c.missed;
    if (dropped > 0) {
      c.sock.send(JSON.stringify({ type: 'missed', count: dropped, total: c.missedTotal } satisfies ServerMessage));
      c.missed = 0;
    }
    c.seq++;
    this.counters.journeysOut += count;
    this.counters.framesOut++;
    // The journeys array is serialised once per filter group; only the envelope is per client.
    return `{"type":"batch","seq":${c.seq},"dropped":${dropped},"journeys":${journeysJson}}`;
  }

  private enqueue(c: Client, js: Journey[]): void {
    for (const j of js) c.backlog.push(j);
    const over = c.backlog.length - this.opts.maxQueue;
    if (over > 0) {
      c.backlog.splice(0, over);
      c.missed += over;
      c.missedTotal += over;
      this.counters.droppedSlowClient += over;
    }
  }

  private writable(c: Client): boolean {
    return c.sock.readyState === 1 && c.sock.bufferedAmount <= this.opts.maxBufferedBytes;
  }

  /** Deliver what arrived since the last flush. Called by the timer; public for tests. */
  flush(): void {
    this.reap(this.now());
    const pending = this.pending;
    this.pending = [];
    const groups = new Map<string, Client[]>();
    for (const c of this.clients.values()) {
      if (!c.helloed || c.sock.readyState !== 1) continue;
      const k = filterKey(c.filter);
      const g = groups.get(k);
      if (g) g.push(c);
      else groups.set(k, [c]);
    }
    for (const members of groups.values()) {
      const matched = pending.length > 0 ? pending.filter((j) => matchJourney(j, members[0]!.filter)) : [];
      let shared: string | undefined;
      for (const c of members) {
        if (c.paused) continue;
        const direct = c.backlog.length === 0 && matched.length <= this.opts.maxBatch && this.writable(c);
        if (direct) {
          if (matched.length === 0 && c.missed === 0) continue;
          if (shared === undefined) {
            shared = JSON.stringify(matched);
            this.counters.serialisations++;
          }
          c.sock.send(this.batchFrame(c, shared, matched.length));
          continue;
        }
        this.enqueue(c, matched);
        this.drain(c);
      }
    }
  }

  private drain(c: Client): void {
    while (c.backlog.length > 0 && this.writable(c)) {
      const chunk = c.backlog.splice(0, this.opts.maxBatch);
      this.counters.serialisations++;
      c.sock.send(this.batchFrame(c, JSON.stringify(chunk), chunk.length));
    }
  }
}
