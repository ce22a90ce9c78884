// `hopscope trace --json` output read back: one Journey per line, each validated by the wire
// schema the UI uses. Pure. A bad line is reported by number and skipped; the rest is kept.
import type { Journey } from '../protocol/events.ts';
import { journeySchema } from '../protocol/messages.ts';

/** A line that was not a journey, by number (1-based), with why. */
export interface BadLine {
  line: number;
  why: string;
}

/** Lines longer than this are refused unread (a journey line is a few KB). */
export const MAX_JOURNEY_LINE = 1 << 20;

/** Parse one line: a Journey, or why it is not one. */
export function parseJourneyLine(text: string): Journey | string {
  if (text.length > MAX_JOURNEY_LINE) return `line longer than ${MAX_JOURNEY_LINE} bytes`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return `not JSON (${(e as Error).message.slice(0, 80)})`;
  }
  const r = journeySchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    return `not a journey: ${first ? `${first.path.join('.') || '(top)'}: ${first.message}` : 'invalid'}`;
  }
  return r.data as Journey;
}

/** Every journey of a JSON-lines text; blank lines are skipped silently. */
export function parseJourneyLines(text: string): { journeys: Journey[]; bad: BadLine[] } {
  const journeys: Journey[] = [];
  const bad: BadLine[] = [];
  text.split('\n').forEach((l, i) => {
    const t = l.trim();
    if (!t) return;
    const j = parseJourneyLine(t);
    if (typeof j === 'string') bad.push({ line: i + 1, why: j });
    else journeys.push(j);
  });
  return { journeys, bad };
}
