// Presenter mode: one hop at a time, filling the screen, with its narration; stepped from the
// keyboard or a presentation clicker (domain/stepKeys.ts: arrows, space, PageUp/PageDown, Home/End), Esc to leave. Sized from
// the window (vh/vw), so it fits a 1280x720 projector as it fits 1920x1080.
import { useLayoutEffect, useMemo, useRef } from 'react';
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { buildDiagram, laneOf } from '../domain/diagram.ts';
import { explainHop } from '../domain/explain.ts';
import { journeyStory, storyText } from '../domain/format.ts';
import { HopBody } from './HopBody.tsx';
import { useStepKeys } from './useStepKeys.ts';

/** The least base size: the smallest text (0.75 em) stays at 14 px. */
const MIN_BASE_PX = 19;
/** Base font size (px) from the window: 24 px at 1280x720, 36 px at 1920x1080. */
const baseFontPx = () => Math.min(40, Math.max(MIN_BASE_PX, 0.012 * (window.innerWidth + window.innerHeight)));

/** Whether the presenter or one of its panes has more to show than room. */
function overflows(el: HTMLElement): boolean {
  return [el, ...el.querySelectorAll<HTMLElement>('.pr-text, .pr-hop')].some((e) => e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1);
}

export function Presenter({ journey, step, onStep, onClose }: { journey: Journey; step: number; onStep(delta: number): void; onClose(): void }) {
  // An overlay: the workshop view under it steps on the same keys.
  useStepKeys({ step, count: journey.hops.length, onStep, onLeave: onClose, overlay: true });

  // Fit the step to the screen: the window's size first, smaller while a long narration (a DNAT
  // with its rule lines) would be cut off.
  const root = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const fit = () => {
      const el = root.current;
      if (!el) return;
      let size = baseFontPx();
      el.style.fontSize = `${size}px`;
      for (let i = 0; i < 12 && size > MIN_BASE_PX && overflows(el); i++) {
        size = Math.max(MIN_BASE_PX, size * 0.93);
        el.style.fontSize = `${size}px`;
      }
    };
    fit();
    window.addEventListener('resize', fit);
    return () => window.removeEventListener('resize', fit);
  }, [step, journey]);

  const model = useMemo(() => buildDiagram(journey), [journey]);
  const box = model.boxes.find((b) => b.indices.includes(step));
  const ex = explainHop(journey, step);
  const hop = journey.hops[step];
  const here = hop ? laneOf(hop) : '';
  return (
    <div className="presenter" ref={root} data-testid="presenter" data-step={step} role="dialog" aria-label="presenter mode">
      <header className="pr-top">
        <span className="pr-story">{storyText(journeyStory(journey))}</span>
        <span className="pr-lanes" aria-label="where the packet is">
          {model.lanes.map((l, i) => (
            <span key={l.id}>
              {i > 0 && <span className="pr-arrow"> → </span>}
              <span className={l.id === here ? 'pr-lane here' : 'pr-lane'}>{l.id}</span>
            </span>
          ))}
        </span>
      </header>
      <div className="pr-main">
        <section className="pr-hop">{box && <div className={`hop hop-${box.kind} request`} data-testid="presenter-hop" data-kind={box.kind}><HopBody box={box} /></div>}</section>
        <section className="pr-text" data-testid="presenter-text">
          <div className="pr-counter">
            step {step + 1} of {journey.hops.length}
          </div>
          <h2 data-testid="presenter-title">{ex.title}</h2>
          {ex.text.map((t, i) => (
            <p key={i}>{t}</p>
          ))}
          {ex.facts.length > 0 && (
            <ul className="pr-facts">
              {ex.facts.map((f, i) => (
                <li key={i}>{f}</li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <footer className="pr-bottom">
        <button onClick={() => onStep(-1)} disabled={step === 0} data-testid="pr-prev" aria-label="previous hop">
          ←
        </button>
        <span className="pr-dots">
          {journey.hops.map((h, i) => (
            <span key={i} className={`pr-dot k-${h.kind} ${i === step ? 'on' : ''}`} title={h.kind} />
          ))}
        </span>
        <button onClick={() => onStep(1)} disabled={step >= journey.hops.length - 1} data-testid="pr-next" aria-label="next hop">
          →
        </button>
        <span className="pr-hint">← → space · PgUp PgDn · Esc leaves</span>
        <button onClick={onClose} data-testid="pr-close">
          ✕ leave
        </button>
      </footer>
    </div>
  );
}
