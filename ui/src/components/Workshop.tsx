// Workshop mode: one hop at a time, in large type, with what the kernel did and why.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { explainHop } from '../domain/explain.ts';
import { journeyStory, storyText } from '../domain/format.ts';
import { HopDiagram } from './HopDiagram.tsx';
import { useStepKeys } from './useStepKeys.ts';

export function Workshop({ journey, reply, step, onStep }: { journey: Journey | undefined; reply?: Journey; step: number; onStep(delta: number): void }) {
  useStepKeys({ step, count: journey?.hops.length ?? 0, onStep, enabled: journey !== undefined });
  if (!journey) return <div className="workshop empty">Pick a journey in the Live view (or make one with the buttons above), then come back here.</div>;
  const ex = explainHop(journey, step);
  return (
    <div className="workshop">
      <section className="ws-text" data-testid="workshop-step" data-step={step}>
        <div className="ws-story">{storyText(journeyStory(journey))}</div>
        <div className="ws-counter">
          step {step + 1} of {journey.hops.length}
        </div>
        <h2 data-testid="workshop-title">{ex.title}</h2>
        {ex.text.map((t, i) => (
          <p key={i}>{t}</p>
        ))}
        <ul className="ws-facts">
          {ex.facts.map((f, i) => (
            <li key={i}>{f}</li>
          ))}
        </ul>
        <div className="ws-nav">
          <button onClick={() => onStep(-1)} disabled={step === 0} data-testid="ws-prev">
            ← back
          </button>
          <button onClick={() => onStep(1)} disabled={step >= journey.hops.length - 1} data-testid="ws-next">
            next →
          </button>
          <span className="ws-hint">← → space · PgUp PgDn · Home End</span>
        </div>
      </section>
      <section className="ws-diagram">
        <HopDiagram request={journey} {...(reply ? { reply } : {})} activeIndex={step} follow />
      </section>
    </div>
  );
}
