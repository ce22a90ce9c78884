// The journey store the stream worker keeps, and the light rows it hands the page. Full
// journeys (~4 KB of JSON each) stay in the worker: copying them to the main thread costs more
// than parsing them (structured clone, measured 24 ms per 250 in Chromium), which at 5k/s left
// no frame time. The page gets one small row per journey, and the full journeys only of the
// one it shows. Pure: the worker adds the socket, the frames' text and the clock.
import type { Hop, Journey } from '@hopscope/agent/protocol/events.ts';
import { MATCH_ALL, matchJourney, type ClientFilter } from '@hopscope/agent/protocol/messages.ts';
import { isSocketDiscard, journeyStory, type Story } from '../domain/format.ts';

/** Most journeys the list keeps; the oldest go first. */
export const MAX_JOURNEYS = 5000;

/**
 * Journeys the worker keeps past the list's bound: the page's rows trail the worker by one
 * flush, so a row clicked just as it ages out can still be opened.
 */
export const STORE_SLACK = 1000;

/** What the list, the status bar and the topology need of a journey. */
export interface JourneyRow extends Pick<Journey, 'id' | 'verdict' | 'src' | 'dst' | 'backend' | 'replyTo'> {
  story: Story;
  hops: number;
  identityUnknown: boolean;
  loopback: boolean;
  /** The kinds of its hops, in order (lessons pick journeys by them). */
  kinds: readonly Hop['kind'][];
}

/**
 * A journey that never left a pod: every hop on its `lo` (sidecars talking to each other), but
 * for a discard by the receiving socket after delivery.
 */
export function isLoopbackJourney(j: Journey): boolean {
  const onLo = j.hops.filter((h) => !isSocketDiscard(h));
  return onLo.length > 0 && onLo.every((h) => h.kind === 'loopback' || h.dev === 'lo');
}

export function toRow(j: Journey): JourneyRow {
  return {
    id: j.id,
    verdict: j.verdict,
    src: j.src,
    dst: j.dst,
    ...(j.backend ? { backend: j.backend } : {}),
    ...(j.replyTo !== undefined ? { replyTo: j.replyTo } : {}),
    story: journeyStory(j),
    hops: j.hops.length,
    identityUnknown: j.identityUnknown === true,
    loopback: isLoopbackJourney(j),
    kinds: j.hops.map((h) => h.kind),
  };
}

/** The journey the page shows, with its request and reply (when known). */
export interface Selection {
  id: string;
  journey: Journey;
  request: Journey;
  reply?: Journey;
}

/**
 * Appends rows to the page's list, bounded to `max`; the selected row stays even when it ages
 * out (the user is looking at it). Returns `list` itself when nothing was added.
 */
export function appendRows(list: readonly JourneyRow[], fresh: readonly JourneyRow[], max: number, selectedId: string | null): readonly JourneyRow[] {
  if (fresh.length === 0) return list;
  if (list.length + fresh.length <= max) return list.concat(fresh);
  const kept = fresh.length >= max ? fresh.slice(fresh.length - max) : list.slice(list.length + fresh.length - max).concat(fresh);
  if (selectedId === null) return kept;
  const sel = list.find((r) => r.id === selectedId);
  if (!sel || kept.includes(sel)) return kept;
  return [sel, ...kept.slice(1)];
}

/** A listed journey: its row, and where its full record is (its frame, as it came, and its place there). */
interface Entry<F> {
  row: JourneyRow;
  frame: F;
  index: number;
}

/**
 * The worker's side: every batch frame goes through here. It keeps each listed journey's row
 * and its frame as it came (the worker keeps the frame's text), not the parsed journey: 6000
 * parsed journeys alive for a second each made the worker spend its time in the garbage
 * collector, a string costs it nothing. `load` parses a frame again when a journey is opened or
 * a filter reapplied.
 */
export class JourneyStore<F> {
  /** Oldest first. */
  private list: Entry<F>[] = [];
  private ids = new Set<string>();
  private lastSeq = 0;
  private selection: Selection | null = null;
  private selEntry: Entry<F> | null = null;
  paused = false;
  filter: ClientFilter = MATCH_ALL;
  /**
   * Loopback journeys are left out of the list (counted in `hiddenLoopback`): a pod's sidecars
   * over `lo` fill an unfiltered list. The user can show them.
   */
  hideLoopback = true;
  /** Journeys received on this page in accepted batches, over every connection. */
  received = 0;
  /** Loopback journeys received and not listed because `hideLoopback` was on. */
  hiddenLoopback = 0;

  constructor(
    private readonly load: (frame: F) => readonly Journey[],
    private readonly capacity = MAX_JOURNEYS + STORE_SLACK,
  ) {}

  /** A new connection numbers its batches from 1 again. */
  welcome(): void {
    this.lastSeq = 0;
  }

  /**
   * A batch frame (`journeys` parsed from `frame`): returns the rows of the journeys new to the
   * list, in order, and whether the selection gained its request or reply. Stale or repeated
   * batches and known journeys are ignored.
   */
  batch(seq: number, journeys: readonly Journey[], frame: F): { fresh: JourneyRow[]; freshJourneys: Journey[]; selectionChanged: boolean } {
    if (seq <= this.lastSeq) return { fresh: [], freshJourneys: [], selectionChanged: false };
    this.lastSeq = seq;
    this.received += journeys.length;
    if (this.paused) return { fresh: [], freshJourneys: [], selectionChanged: false };
    const fresh: JourneyRow[] = [];
    const freshJourneys: Journey[] = [];
    journeys.forEach((j, index) => {
      if (this.ids.has(j.id) || !matchJourney(j, this.filter)) return;
      const row = toRow(j);
      if (row.loopback && this.hideLoopback) {
        this.hiddenLoopback++;
        return;
      }
      this.ids.add(j.id);
      this.list.push({ row, frame, index });
      fresh.push(row);
      freshJourneys.push(j);
    });
    const over = this.list.length - this.capacity;
    if (over > 0) for (const e of this.list.splice(0, over)) this.ids.delete(e.row.id);
    return { fresh, freshJourneys, selectionChanged: this.pairFresh(freshJourneys) };
  }

  /** A request or reply of the selected journey arrived after it was selected. */
  private pairFresh(fresh: readonly Journey[]): boolean {
    let changed = false;
    for (const j of fresh) {
      const s = this.selection;
      if (!s) return false;
      if (s.journey.replyTo !== undefined && s.request === s.journey && j.id === s.journey.replyTo) {
        this.selection = { ...s, request: j, reply: s.journey };
        changed = true;
      } else if (s.journey.replyTo === undefined && !s.reply && j.replyTo === s.id) {
        this.selection = { ...s, reply: j };
        changed = true;
      }
    }
    return changed;
  }

  /** Full journeys of entries, each frame parsed once per call. */
  private loader(): (e: Entry<F>) => Journey {
    const frames = new Map<F, readonly Journey[]>();
    return (e) => {
      let js = frames.get(e.frame);
      if (!js) frames.set(e.frame, (js = this.load(e.frame)));
      const j = js[e.index];
      if (!j || j.id !== e.row.id) throw new Error(`journey ${e.row.id} is not where it was in its frame`);
      return j;
    };
  }

  /** A new filter applies to what is already here too; the selection goes if it no longer matches. */
  setFilter(f: ClientFilter): void {
    this.filter = f;
    const full = this.loader();
    this.list = this.list.filter((e) => matchJourney(full(e), f));
    this.ids = new Set(this.list.map((e) => e.row.id));
    if (this.selection && !matchJourney(this.selection.journey, f)) {
      this.selection = null;
      this.selEntry = null;
    }
  }

  /** Hiding loopback journeys takes those listed out too; showing them lists those arriving from now on. */
  setHideLoopback(on: boolean): void {
    this.hideLoopback = on;
    if (!on) return;
    this.list = this.list.filter((e) => !e.row.loopback);
    this.ids = new Set(this.list.map((e) => e.row.id));
    if (this.selEntry?.row.loopback) {
      this.selection = null;
      this.selEntry = null;
    }
  }

  /** Empties the list but for the selected journey. */
  clear(): void {
    this.list = this.selEntry ? [this.selEntry] : [];
    this.ids = new Set(this.list.map((e) => e.row.id));
  }

  /** Selects a journey by id, with its request or reply when listed; null when it is no longer here. */
  select(id: string | null): Selection | null {
    const e = id === null ? undefined : this.selEntry?.row.id === id ? this.selEntry : this.list.find((x) => x.row.id === id);
    if (!e) {
      this.selection = null;
      this.selEntry = null;
      return null;
    }
    const full = this.loader();
    const j = full(e);
    // As pairOf: the first listed request of a reply, or reply of a request.
    const other = j.replyTo !== undefined ? this.list.find((x) => x.row.id === j.replyTo) : this.list.find((x) => x.row.replyTo === j.id);
    const o = other ? full(other) : undefined;
    const [request, reply] = j.replyTo !== undefined ? (o ? [o, j] : [j, undefined]) : [j, o];
    this.selEntry = e;
    this.selection = { id: j.id, journey: j, request, ...(reply ? { reply } : {}) };
    return this.selection;
  }

  /** Every listed journey in full, oldest first (to group them again after a filter change or a clear). */
  journeys(): Journey[] {
    const full = this.loader();
    return this.list.map(full);
  }

  /** The rows of these journeys that are still listed, in the order of `ids`. */
  rowsOf(ids: readonly string[]): JourneyRow[] {
    const want = new Map<string, JourneyRow | undefined>(ids.map((id) => [id, undefined]));
    for (const e of this.list) if (want.has(e.row.id)) want.set(e.row.id, e.row);
    return [...want.values()].filter((r): r is JourneyRow => r !== undefined);
  }

  get selected(): Selection | null {
    return this.selection;
  }

  /** The rows of the whole list as the page shows it (after a filter change or a clear). */
  rows(max = MAX_JOURNEYS): JourneyRow[] {
    const tail = this.list.slice(Math.max(0, this.list.length - max));
    // The selection stays listed even when it aged out (as appendRows keeps it on the page).
    const sel = this.selEntry;
    if (sel && !tail.includes(sel)) {
      if (tail.length < max) tail.unshift(sel);
      else tail[0] = sel;
    }
    return tail.map((e) => e.row);
  }

  get size(): number {
    return this.list.length;
  }
}

/**
 * Hands items on at most once per `intervalMs`: the first after a quiet spell goes at once, the
 * rest wait for the next slot and go in one call. Pending items beyond `max` keep only the
 * newest: the page's list is bounded to the same number, so older ones would age out unseen.
 * A push of nothing still schedules an emit (counters changed without new rows).
 */
export class Coalescer<T> {
  private pending: T[] = [];
  private dirty = false;
  private last = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly max: number,
    private readonly emit: (items: T[]) => void,
    private readonly clock: { now(): number; setTimeout(f: () => void, ms: number): ReturnType<typeof setTimeout>; clearTimeout(t: ReturnType<typeof setTimeout>): void } = {
      now: () => performance.now(),
      setTimeout: (f, ms) => setTimeout(f, ms),
      clearTimeout: (t) => clearTimeout(t),
    },
  ) {}

  push(items: readonly T[]): void {
    for (const x of items) this.pending.push(x);
    const over = this.pending.length - this.max;
    if (over > 0) this.pending.splice(0, over);
    this.dirty = true;
    if (this.timer !== undefined) return;
    const wait = this.last + this.intervalMs - this.clock.now();
    if (wait <= 0) this.flush();
    else this.timer = this.clock.setTimeout(() => this.flush(), wait);
  }

  /** Emits what is pending now, if anything was pushed since the last emit. */
  flush(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.dirty) return;
    const items = this.pending;
    this.pending = [];
    this.dirty = false;
    this.last = this.clock.now();
    this.emit(items);
  }

  /** Forgets what is pending (the page is about to get the whole list again). */
  discard(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.dirty = false;
  }
}
