// The keys that step a walk through a journey's hops, one set for every view that steps (the
// presenter, the workshop, a lesson's walk): a presentation clicker sends PageDown/PageUp, a
// keyboard has arrows, space, Enter, Backspace, Home and End. Pure.

/** What a key asks of a stepping view. */
export type StepMove = 'next' | 'prev' | 'first' | 'last' | 'leave';

const MOVES: ReadonlyMap<string, StepMove> = new Map<string, StepMove>([
  ['ArrowRight', 'next'],
  ['ArrowDown', 'next'],
  [' ', 'next'],
  ['PageDown', 'next'],
  ['Enter', 'next'],
  ['ArrowLeft', 'prev'],
  ['ArrowUp', 'prev'],
  ['PageUp', 'prev'],
  ['Backspace', 'prev'],
  ['Home', 'first'],
  ['End', 'last'],
  ['Escape', 'leave'],
]);

/** The part of a key event (and of the element it was typed in) that decides the move. */
export interface StepKeyEvent {
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
  /** The element the key went to: tag name (any case) and whether it is contenteditable. */
  target: { tagName?: string; isContentEditable?: boolean } | null;
}

const TYPING = new Set(['INPUT', 'SELECT', 'TEXTAREA']);
/** Controls that Enter presses. */
const PRESSABLE = new Set(['BUTTON', 'A', 'SUMMARY']);

/**
 * The move a key asks for, or undefined. Keys typed into a form field stay there (a filter's
 * text, a select's arrows); keys with Ctrl, Alt or Meta are the browser's (Alt+← is back); Enter
 * on a focused button or link presses it (how a keyboard user reaches "next part"), except in an
 * `overlay`, which covers the page whose button kept the focus (the one that opened it).
 */
export function stepMove(e: StepKeyEvent, overlay = false): StepMove | undefined {
  if (e.ctrlKey || e.altKey || e.metaKey) return undefined;
  const tag = e.target?.tagName?.toUpperCase();
  if ((tag !== undefined && TYPING.has(tag)) || e.target?.isContentEditable === true) return undefined;
  if (e.key === 'Enter' && !overlay && tag !== undefined && PRESSABLE.has(tag)) return undefined;
  return MOVES.get(e.key);
}

/** The step a move goes to from `step` among `count` steps (clamped), or undefined for 'leave'. */
export function stepAfter(move: StepMove, step: number, count: number): number | undefined {
  const last = Math.max(0, count - 1);
  switch (move) {
    case 'next':
      return Math.min(last, step + 1);
    case 'prev':
      return Math.max(0, Math.min(last, step - 1));
    case 'first':
      return 0;
    case 'last':
      return last;
    case 'leave':
      return undefined;
    default: {
      const never: never = move;
      throw new Error(`unknown step move ${String(never)}`);
    }
  }
}
