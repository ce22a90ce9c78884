// Validation of the agent's frames in the stream worker, split in two so 5k journeys/s fit in
// it. Without eval (the page's CSP forbids it) zod validates a whole journey in ~150 µs in
// Chromium: 0.8 s of CPU per second at 5k/s, more than the worker had. So a batch is checked
// for everything the list reads of each journey (every field but the hops, the first and last
// hop in full, every hop an object); a journey is checked in full before it is opened
// (`verifySelection`), and one that fails is not shown. Nothing unchecked reaches the page.
// Every schema here is derived from the protocol's, so there is still one definition.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { journeySchema, serverMessageSchema, type ParseResult, type ServerMessage } from '@hopscope/agent/protocol/messages.ts';
import type { Selection } from '../store/journeyStore.ts';

const hopSchema = journeySchema.shape.hops.element;
const [, batchVariant] = serverMessageSchema.options;
if (batchVariant.shape.type.value !== 'batch') throw new Error('protocol: the second server message is no longer `batch`');

/** A journey as the list reads it: hops between the first and the last are only objects yet. */
const listedJourneySchema = journeySchema.extend({ hops: hopSchema.pick({}).loose().array() });
const listedBatchSchema = batchVariant.extend({ journeys: listedJourneySchema.array() });

/** The first issue as parseServerMessage words it, its path under `base`. */
function reasonOf(issues: readonly { path: readonly PropertyKey[]; message: string }[], base: readonly (string | number)[] = []): string {
  const issue = issues[0];
  const path = [...base, ...(issue?.path ?? [])].map(String);
  return `invalid message: ${path.length > 0 ? `${path.join('.')}: ` : ''}${issue?.message ?? 'unknown'}`;
}

/**
 * Parses a frame from the agent. Every message but `batch` is validated in full; a batch's
 * journeys as the list reads them (see the file comment), each hop's middle checked on opening.
 */
export function parseFrame(text: string): ParseResult<ServerMessage> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const isBatch = typeof raw === 'object' && raw !== null && (raw as { type?: unknown }).type === 'batch';
  if (!isBatch) {
    const r = serverMessageSchema.safeParse(raw);
    return r.success ? { ok: true, message: r.data } : { ok: false, reason: reasonOf(r.error.issues) };
  }
  const r = listedBatchSchema.safeParse(raw);
  if (!r.success) return { ok: false, reason: reasonOf(r.error.issues) };
  const journeys = r.data.journeys;
  for (let i = 0; i < journeys.length; i++) {
    const hops = journeys[i]!.hops;
    for (const k of hops.length > 1 ? [0, hops.length - 1] : hops.length === 1 ? [0] : []) {
      const h = hopSchema.safeParse(hops[k]);
      if (!h.success) return { ok: false, reason: reasonOf(h.error.issues, ['journeys', i, 'hops', k]) };
    }
  }
  // The hops' types hold for the first and last hop only until verifyJourney: the worker's store
  // reads no other hop before it, and hands the page only verified journeys.
  return { ok: true, message: r.data as ServerMessage };
}

/** Validates a listed journey in full. */
export function verifyJourney(j: Journey): ParseResult<Journey> {
  const r = journeySchema.safeParse(j);
  return r.success ? { ok: true, message: r.data } : { ok: false, reason: reasonOf(r.error.issues, [`journey ${j.id}`]) };
}

/**
 * A selection with each of its journeys validated in full (each validated once: `cache` keeps
 * the result per listed journey), or why not.
 */
export function verifySelection(s: Selection, cache: WeakMap<Journey, Journey>): ParseResult<Selection> {
  for (const j of [s.journey, s.request, s.reply]) {
    if (!j || cache.has(j)) continue;
    const r = verifyJourney(j);
    if (!r.ok) return r;
    cache.set(j, r.message);
  }
  const get = (j: Journey) => cache.get(j)!;
  return { ok: true, message: { id: s.id, journey: get(s.journey), request: get(s.request), ...(s.reply ? { reply: get(s.reply) } : {}) } };
}
