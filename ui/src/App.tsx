// The app shell: one socket, one reducer, three views.
import { useCallback, useEffect, useMemo, useReducer, useRef } from 'react';
import type { ClientFilter, LabAction } from '@hopscope/agent/protocol/messages.ts';
import { initialState, reduce, selectedJourney, visibleJourneys, type View } from './store/reducer.ts';
import { connectAgent, type AgentSocket } from './api/socket.ts';
import { fetchTopology } from './api/rest.ts';
import { pairOf } from './domain/diagram.ts';
import { JourneyList } from './components/JourneyList.tsx';
import { HopDiagram } from './components/HopDiagram.tsx';
import { Waterfall } from './components/Waterfall.tsx';
import { FilterBar } from './components/FilterBar.tsx';
import { LabButtons } from './components/LabButtons.tsx';
import { StatusBar } from './components/StatusBar.tsx';
import { TopologyView } from './components/TopologyView.tsx';
import { Workshop } from './components/Workshop.tsx';

let actionCounter = 0;

export function App() {
  const [s, dispatch] = useReducer(reduce, initialState);
  const sock = useRef<AgentSocket | null>(null);
  const latest = useRef(s);
  latest.current = s;

  useEffect(() => {
    sock.current = connectAgent(dispatch, () => latest.current.filter, () => latest.current.paused);
    return () => sock.current?.close();
  }, []);

  useEffect(() => {
    if (!s.topologyStale || s.connection !== 'open') return;
    fetchTopology().then(
      (topology) => dispatch({ type: 'topology', topology }),
      (e: unknown) => dispatch({ type: 'invalid', reason: (e as Error).message }),
    );
  }, [s.topologyStale, s.connection]);

  const setFilter = useCallback((f: ClientFilter) => {
    dispatch({ type: 'filter', filter: f });
    sock.current?.subscribe(f);
  }, []);
  const togglePause = () => {
    if (s.paused) {
      dispatch({ type: 'resume' });
      sock.current?.resume();
    } else {
      dispatch({ type: 'pause' });
      sock.current?.pause();
    }
  };
  const runAction = (label: string, a: LabAction) => {
    const id = `a${++actionCounter}`;
    dispatch({ type: 'actionStarted', id, describe: label });
    sock.current?.action(id, a);
  };
  const onStep = useCallback((d: number) => dispatch({ type: 'step', delta: d }), []);
  const setView = (view: View) => dispatch({ type: 'view', view });

  const list = useMemo(() => visibleJourneys(s), [s]);
  const sel = selectedJourney(s);
  const pair = sel ? pairOf(sel, s.journeys) : undefined;

  return (
    <div className="app">
      <header className="top">
        <h1>hopscope</h1>
        <nav>
          {(['live', 'topology', 'workshop'] as const).map((v) => (
            <button key={v} className={s.view === v ? 'tab on' : 'tab'} onClick={() => setView(v)} data-testid={`tab-${v}`}>
              {v}
            </button>
          ))}
        </nav>
        <button className={s.paused ? 'pause on' : 'pause'} onClick={togglePause} data-testid="pause">
          {s.paused ? '▶ resume' : '❚❚ pause'}
        </button>
        <button className="pause" onClick={() => dispatch({ type: 'clear' })}>
          clear
        </button>
      </header>
      <LabButtons topology={s.topology} actions={s.actions} onAction={runAction} disabled={s.connection !== 'open'} />
      <main className={`view-${s.view}`}>
        {s.view === 'live' && (
          <div className="live">
            <section className="left">
              <FilterBar filter={s.filter} onApply={setFilter} />
              <JourneyList journeys={list} selectedId={s.selectedId} onSelect={(id) => dispatch({ type: 'select', id })} />
            </section>
            <section className="right">
              {pair ? (
                <>
                  <HopDiagram request={pair.request} {...(pair.reply ? { reply: pair.reply } : {})} />
                  <Waterfall journey={pair.request} />
                </>
              ) : (
                <div className="empty">Select a journey to see every hop.</div>
              )}
            </section>
          </div>
        )}
        {s.view === 'topology' && (s.topology ? <TopologyView topology={s.topology} journeys={s.journeys} /> : <div className="empty">Loading topology…</div>)}
        {s.view === 'workshop' && <Workshop journey={sel} {...(pair?.reply && pair.reply !== sel ? { reply: pair.reply } : {})} step={s.step} onStep={onStep} />}
      </main>
      <StatusBar s={s} />
    </div>
  );
}
