// Lessons: a workshop scenario from lessons/*.yaml, run live. The page switches the lab to the
// lesson's mode (a rebuild, which the tracer follows), makes the traffic, picks the journey and
// walks it hop by hop: the workshop's narration, the lesson's notes, and at each hop what you
// would type to see it yourself, run in the lab, with its real output.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { InspectCheck, LabAction } from '@hopscope/agent/protocol/messages.ts';
import type { Lesson, LessonsResponse } from '@hopscope/agent/protocol/lessons.ts';
import { modeText, type LabMode } from '@hopscope/agent/protocol/lab-modes.ts';
import { inspectCommand, parseTranscript } from '@hopscope/agent/protocol/inspect.ts';
import { actionText, type ActionEntry, type UiState } from '../store/reducer.ts';
import { fetchLessons, fetchTopology } from '../api/rest.ts';
import { explainHop } from '../domain/explain.ts';
import { hopChecks, pickJourney, resolveTraffic, trafficLabel, walkSteps } from '../domain/lessons.ts';
import { HopDiagram } from './HopDiagram.tsx';
import { useStepKeys } from './useStepKeys.ts';

/** What the page can do for a lesson. */
export interface LessonControls {
  /** Run a lab action (shown with the traffic buttons); returns its id. */
  run(label: string, a: LabAction): string;
  /** Run an inspection; returns its id (answered in `probes`). */
  probe(check: InspectCheck): string;
  select(id: string): void;
  /** All journeys listed, and loopback ones too when the part walks one. */
  prepare(showLoopback: boolean): void;
}

type Phase =
  | { kind: 'idle' }
  | { kind: 'rebuilding'; to: LabMode }
  | { kind: 'traffic'; attempt: number; of: number }
  | { kind: 'walk'; journeyId: string }
  | { kind: 'failed'; why: string };

const POLL_MS = 150;
const REBUILD_WAIT_MS = 180_000;
const ACTION_WAIT_MS = 20_000;
/** How long a try waits for its journey before making the traffic again. */
const TRY_WAIT_MS = 2500;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function phaseText(p: Phase): string {
  switch (p.kind) {
    case 'idle':
      return '';
    case 'rebuilding':
      return `Rebuilding the lab as ${modeText(p.to)}; the tracer follows the new lab…`;
    case 'traffic':
      return `Making the traffic (try ${p.attempt} of ${p.of}) and waiting for its journey…`;
    case 'walk':
      return '';
    case 'failed':
      return p.why;
    default: {
      const never: never = p;
      return String(never);
    }
  }
}

function Command({ check, mode, entry }: { check: InspectCheck; mode: LabMode; entry: ActionEntry | undefined }) {
  // Until the agent answers, the line as rendered here (the same function the agent uses).
  const t = entry && entry.state !== 'running' ? parseTranscript(entry.output) : undefined;
  const planned = inspectCommand(check, mode);
  return (
    <div className="lesson-cmd" data-testid="cmd" data-state={entry?.state ?? 'waiting'} data-what={check.what}>
      <code data-testid="cmd-line">
        <span className="dim">{t?.prompt ?? ''} </span>
        {t?.line ?? planned.line}
      </code>
      {t ? (
        <pre data-testid="cmd-output">{t.output}</pre>
      ) : (
        <pre className="dim">running in the lab…</pre>
      )}
      {t && t.output === '' && <div className="dim">(printed nothing)</div>}
      {entry?.state === 'failed' && (
        <div className="a-failed" data-testid="cmd-error">
          {entry.error}
        </div>
      )}
    </div>
  );
}

export function Lessons({ s, c }: { s: UiState; c: LessonControls }) {
  const [data, setData] = useState<LessonsResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [chosen, setChosen] = useState<Lesson | null>(null);
  const [part, setPart] = useState(0);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [step, setStep] = useState(0);
  const [probes, setProbes] = useState<Record<string, string[]>>({});
  const latest = useRef(s);
  latest.current = s;
  const runToken = useRef(0);

  useEffect(() => {
    fetchLessons().then(setData, (e: unknown) => setError((e as Error).message));
  }, []);

  const waitFor = useCallback(async <T,>(f: () => T | undefined, ms: number, token: number): Promise<T | undefined> => {
    const end = Date.now() + ms;
    for (;;) {
      if (token !== runToken.current) return undefined;
      const v = f();
      if (v !== undefined) return v;
      if (Date.now() > end) return undefined;
      await sleep(POLL_MS);
    }
  }, []);

  const finished = (id: string) => () => latest.current.actions.find((a) => a.id === id && a.state !== 'running');

  const runPart = useCallback(
    async (lesson: Lesson, pi: number) => {
      const token = ++runToken.current;
      const p = lesson.parts[pi]!;
      setStep(0);
      const lab = latest.current.status?.lab;
      if (lab && (lab.cni !== lesson.mode.cni || lab.kubeProxy !== lesson.mode.kubeProxy)) {
        setPhase({ kind: 'rebuilding', to: lesson.mode });
        const id = c.run(`rebuild as ${modeText(lesson.mode)}`, { kind: 'rebuild', ...lesson.mode });
        const done = await waitFor(finished(id), REBUILD_WAIT_MS, token);
        if (!done || done.state === 'failed') return setPhase({ kind: 'failed', why: `The lab could not be rebuilt: ${done ? actionText(done) : 'no answer'}` });
        const up = await waitFor(
          () => {
            const st = latest.current.status;
            return st?.tracer === 'running' && st.lab?.cni === lesson.mode.cni && !st.lab.rebuilding ? true : undefined;
          },
          60_000,
          token,
        );
        if (!up) return setPhase({ kind: 'failed', why: 'The lab was rebuilt but the tracer did not come back.' });
      }
      c.prepare(p.journey.loopback);
      const act = async (a: LabAction) => {
        const id = c.run(trafficLabel(a), a);
        await waitFor(finished(id), ACTION_WAIT_MS, token);
      };
      try {
        let topo = await fetchTopology();
        for (const t of p.setup) await act(resolveTraffic(t, topo));
        topo = await fetchTopology();
        const before = new Set(topo.pods.map((x) => x.name));
        const seen = new Set(latest.current.journeys.map((r) => r.id));
        for (let attempt = 1; attempt <= p.tries; attempt++) {
          if (token !== runToken.current) return;
          setPhase({ kind: 'traffic', attempt, of: p.tries });
          for (const t of p.traffic) await act(resolveTraffic(t, topo));
          const hit = await waitFor(() => pickJourney(latest.current.journeys, p.journey, seen, before), TRY_WAIT_MS, token);
          if (hit) {
            c.select(hit.id);
            setPhase({ kind: 'walk', journeyId: hit.id });
            return;
          }
        }
        setPhase({ kind: 'failed', why: `No journey matched this part after ${p.tries} tries. Try again: kube-proxy's pick is random.` });
      } catch (e) {
        setPhase({ kind: 'failed', why: (e as Error).message });
      }
    },
    [c, waitFor],
  );

  const sel = phase.kind === 'walk' && s.selection?.id === phase.journeyId ? s.selection : null;
  const steps = sel ? walkSteps(sel.request, sel.reply) : [];
  const cur = steps[Math.min(step, steps.length - 1)];
  const mode: LabMode | null = chosen ? chosen.mode : null;
  const checks = sel && cur && mode ? hopChecks(cur.journey, cur.index, mode, s.topology, sel.request) : [];
  const stepKey = sel && cur ? `${sel.id}:${cur.direction}:${cur.index}` : '';

  // Run this hop's commands once, one after another (the agent runs one action per page at a time).
  useEffect(() => {
    // Back on a step: its answers are shown again, unless the bounded list let them go.
    const had = probes[stepKey];
    if (!stepKey || checks.length === 0 || (had && had.every((id) => latest.current.probes.some((x) => x.id === id)))) return;
    const token = runToken.current;
    const ids: string[] = [];
    setProbes((m) => ({ ...m, [stepKey]: ids }));
    void (async () => {
      for (const ch of checks) {
        const id = c.probe(ch);
        ids.push(id);
        setProbes((m) => ({ ...m, [stepKey]: [...ids] }));
        await waitFor(() => latest.current.probes.find((x) => x.id === id && x.state !== 'running'), ACTION_WAIT_MS, token);
      }
    })();
    // `checks` is a function of the step: stepKey names it.
  }, [stepKey]);

  const onStep = useCallback((d: number) => setStep((x) => Math.max(0, Math.min(x + d, Math.max(0, steps.length - 1)))), [steps.length]);
  useStepKeys({ step, count: steps.length, onStep, enabled: phase.kind === 'walk' });

  if (error) return <div className="empty">Lessons could not be loaded: {error}</div>;
  if (!data) return <div className="empty">Loading lessons…</div>;
  const choose = (l: Lesson) => {
    runToken.current++;
    setChosen(l);
    setPart(0);
    setPhase({ kind: 'idle' });
  };
  const p = chosen?.parts[part];
  const lab = s.status?.lab;
  const ex = cur ? explainHop(cur.journey, cur.index) : undefined;
  const hop = cur ? cur.journey.hops[cur.index] : undefined;
  const note = hop && p ? p.notes[hop.kind] : undefined;
  const entries = (probes[stepKey] ?? []).map((id) => s.probes.find((x) => x.id === id));

  return (
    <div className="lessons">
      <nav className="lesson-list" aria-label="lessons">
        {data.lessons.map((l) => (
          <button key={l.id} className={chosen?.id === l.id ? 'lesson-item on' : 'lesson-item'} onClick={() => choose(l)} data-testid={`lesson-item-${l.id}`}>
            <span>{l.title}</span>
            <span className="dim">{modeText(l.mode)}</span>
          </button>
        ))}
        {data.problems.map((x) => (
          <div key={x.file} className="warn" data-testid="lesson-problem">
            {x.file}: {x.error}
          </div>
        ))}
      </nav>
      {data.lessons.length === 0 ? (
        <div className="empty">No lessons here: lessons run on the lab that `hopscope start` brings up (files in lessons/).</div>
      ) : !chosen || !p ? (
        <div className="empty">Pick a lesson. Each one switches the lab to the mode it needs, makes its traffic and walks one packet through, hop by hop.</div>
      ) : (
        <div className="lesson" data-testid="lesson" data-lesson={chosen.id} data-part={part} data-phase={phase.kind}>
          <section className="ws-text lesson-text">
            <h2 data-testid="lesson-title">{chosen.title}</h2>
            <div className="ws-story">
              {chosen.parts.length > 1 ? `Part ${part + 1} of ${chosen.parts.length}: ` : ''}
              {p.title} · needs {modeText(chosen.mode)}
              {lab && (lab.cni !== chosen.mode.cni || lab.kubeProxy !== chosen.mode.kubeProxy) && phase.kind === 'idle' ? ` (the lab is ${lab.cni} + ${lab.kubeProxy ?? '?'}: it will be rebuilt)` : ''}
            </div>
            {phase.kind !== 'walk' && (
              <>
                {part === 0 && chosen.summary && <p>{chosen.summary}</p>}
                {p.intro && <p>{p.intro}</p>}
                <button className="lesson-go" onClick={() => void runPart(chosen, part)} disabled={phase.kind === 'rebuilding' || phase.kind === 'traffic' || s.connection !== 'open'} data-testid="lesson-run">
                  ▶ run {chosen.parts.length > 1 ? 'this part' : 'the lesson'}
                </button>
                <div className={phase.kind === 'failed' ? 'warn' : 'dim'} data-testid="lesson-phase">
                  {phaseText(phase)}
                </div>
              </>
            )}
            {phase.kind === 'walk' && !sel && <div className="dim">Fetching the journey…</div>}
            {cur && ex && (
              <div data-testid="lesson-step" data-step={step} data-direction={cur.direction} data-kind={hop?.kind}>
                <div className="ws-counter">
                  step {step + 1} of {steps.length}
                  {cur.direction === 'reply' ? ' · the reply' : ''}
                </div>
                <h3 data-testid="lesson-step-title">{ex.title}</h3>
                {ex.text.map((t, i) => (
                  <p key={i}>{t}</p>
                ))}
                {note && <p className="lesson-note">{note}</p>}
                <div className="ws-nav">
                  <button onClick={() => onStep(-1)} disabled={step === 0} data-testid="lesson-prev">
                    ← back
                  </button>
                  <button onClick={() => onStep(1)} disabled={step >= steps.length - 1} data-testid="lesson-next">
                    next →
                  </button>
                  {step >= steps.length - 1 && part + 1 < chosen.parts.length && (
                    <button
                      onClick={() => {
                        setPart(part + 1);
                        setPhase({ kind: 'idle' });
                      }}
                      data-testid="lesson-next-part"
                    >
                      next part →
                    </button>
                  )}
                  <span className="ws-hint">← → space · PgUp PgDn · Home End</span>
                </div>
              </div>
            )}
          </section>
          <section className="ws-diagram lesson-right">
            {sel && cur && <HopDiagram request={sel.request} {...(sel.reply ? { reply: sel.reply } : {})} activeIndex={cur.index} activeDirection={cur.direction} follow />}
            {/* Beside the hop, not below the narration: both stay on the projector at once. */}
            {/* Always there during a walk: the diagram keeps its size (and its zoom on the hop) from step to step. */}
            {sel && cur && (
              <div className="lesson-try" {...(checks.length > 0 ? { 'data-testid': 'lesson-try' } : {})}>
                <h4>See it yourself</h4>
                {checks.length === 0 && <div className="dim">Nothing of its own to show at this hop: the commands come with the hops around it.</div>}
                {checks.map((ch, i) => (
                  <Command key={`${stepKey}:${i}`} check={ch} mode={chosen.mode} entry={entries[i]} />
                ))}
              </div>
            )}
          </section>
        </div>
      )}
    </div>
  );
}
