// One keyboard for every view that steps through hops (presenter, workshop, lesson walk): the
// keys and the typing exemption are domain/stepKeys.ts; this attaches them to the window.
import { useEffect, useRef } from 'react';
import { stepAfter, stepMove } from '../domain/stepKeys.ts';

/** What a stepping view tells the keyboard. */
export interface StepKeys {
  step: number;
  count: number;
  onStep(delta: number): void;
  /** Esc: only a view that can be left (the presenter) takes it. */
  onLeave?: () => void;
  /** Off while there is nothing to step through (a lesson before its walk). */
  enabled?: boolean;
  /** An overlay over another stepping view: it takes the keys first and the view under it none. */
  overlay?: boolean;
}

export function useStepKeys(k: StepKeys): void {
  // The newest step and callbacks, read when a key comes: the listener stays put between steps.
  const cur = useRef(k);
  cur.current = k;
  const enabled = k.enabled ?? true;
  const overlay = k.overlay ?? false;
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      const target = e.target instanceof HTMLElement ? e.target : null;
      const move = stepMove({ key: e.key, ctrlKey: e.ctrlKey, altKey: e.altKey, metaKey: e.metaKey, target }, overlay);
      if (!move) return;
      const { step, count, onStep, onLeave } = cur.current;
      const to = stepAfter(move, step, count);
      if (to === undefined) {
        if (!onLeave) return;
        onLeave();
      } else if (to !== step) onStep(to - step);
      // Handled even at an end: space would scroll the page, Enter click a focused button.
      e.preventDefault();
      if (overlay) e.stopImmediatePropagation();
    };
    window.addEventListener('keydown', onKey, overlay);
    return () => window.removeEventListener('keydown', onKey, overlay);
  }, [enabled, overlay]);
}
