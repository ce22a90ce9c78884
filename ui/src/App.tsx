// The app shell: one stream worker, one reducer, three views.
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { MATCH_ALL, type ClientFilter, type InspectCheck, type LabAction } from '@hopscope/agent/protocol/messages.ts';
import { initialState, reduce, selectedJourney, visibleJourneys, type ListMode, type UiState, type View } from './store/reducer.ts';
import { connectAgent, type AgentSocket } from './api/socket.ts';
import { fetchTopology } from './api/rest.ts';
import { JourneyList } from './components/JourneyList.tsx';
import { ConnectionList } from './components/ConnectionList.tsx';
import { HopDiagram } from './components/HopDiagram.tsx';
import { PcapngButton } from './components/PcapngButton.tsx';
import { download } from './api/download.ts';
import { Waterfall } from './components/Waterfall.tsx';
import { FilterBar } from './components/FilterBar.tsx';
import { LabButtons } from './components/LabButtons.tsx';
import { StatusBar } from './components/StatusBar.tsx';
import { TopologyView } from './components/TopologyView.tsx';
import { Workshop } from './components/Workshop.tsx';
import { Presenter } from './components/Presenter.tsx';
import { Lessons, type LessonControls } from './components/Lessons.tsx';

let actionCounter = 0;

/** The list mode the user chose last time (this browser remembers it). */
const MODE_KEY = 'hopscope.listMode';
function initState(s: UiState): UiState {
  const m = globalThis.localStorage?.getItem(MODE_KEY);
  return m === 'packets' || m === 'connections' ? { ...s, listMode: m } : s;
}

export function App() {
  const [s, dispatch] = useReducer(reduce, initialState, initState);
  const sock = useRef<AgentSocket | null>(null);

  const [rec, setRec] = useState({ on: false, journeys: 0, dropped: 0 });
  useEffect(() => {
    sock.current = connectAgent(dispatch, (e) => {
      if (e.type === 'recording') setRec({ on: e.on, journeys: e.journeys, dropped: e.dropped });
      else download(e.name, e.bytes, 'application/gzip');
    });
    return () => sock.current?.close();
  }, []);
  const toggleRecord = () => {
    const lab = s.status?.lab;
    const source = `${lab ? `lab ${lab.name} (${lab.cni})` : location.host}, hopscope UI`;
    sock.current?.record(!rec.on, s.topology, source);
  };

  useEffect(() => {
    if (!s.topologyStale || s.connection !== 'open') return;
    fetchTopology().then(
      (topology) => dispatch({ type: 'topology', topology }),
      (e: unknown) => dispatch({ type: 'invalid', reason: (e as Error).message }),
    );
  }, [s.topologyStale, s.connection]);

  // Stable callbacks: the memoized panels re-render only when what they show changed, not on
  // every list update.
  const setFilter = useCallback((f: ClientFilter) => {
    dispatch({ type: 'filter', filter: f });
    sock.current?.subscribe(f);
  }, []);
  const setHideLoopback = useCallback((on: boolean) => {
    dispatch({ type: 'hideLoopback', on });
    sock.current?.hideLoopback(on);
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
  const clear = () => {
    dispatch({ type: 'clear' });
    sock.current?.clear();
  };
  const runAction = useCallback((label: string, a: LabAction): string => {
    const id = `a${++actionCounter}`;
    dispatch({ type: 'actionStarted', id, describe: label });
    sock.current?.action(id, a);
    return id;
  }, []);
  const onSelect = useCallback((id: string) => {
    dispatch({ type: 'select', id });
    sock.current?.select(id);
  }, []);
  const onOpenConnection = useCallback((id: string | null) => {
    dispatch({ type: 'openConnection', id });
    sock.current?.openConnection(id);
  }, []);
  const setListMode = (mode: ListMode) => {
    globalThis.localStorage?.setItem(MODE_KEY, mode);
    dispatch({ type: 'listMode', mode });
  };
  const onStep = useCallback((d: number) => dispatch({ type: 'step', delta: d }), []);
  const lessonControls = useMemo<LessonControls>(
    () => ({
      run: runAction,
      probe: (check: InspectCheck) => {
        const id = `p${++actionCounter}`;
        dispatch({ type: 'probeStarted', id, describe: check.what });
        sock.current?.action(id, { kind: 'inspect', check });
        return id;
      },
      select: onSelect,
      prepare: (showLoopback: boolean) => {
        setFilter(MATCH_ALL);
        setHideLoopback(!showLoopback);
      },
    }),
    [runAction, onSelect, setFilter, setHideLoopback],
  );
  const setView = (view: View) => dispatch({ type: 'view', view });
  const [presenting, setPresenting] = useState(false);
  const stopPresenting = useCallback(() => setPresenting(false), []);

  // Only the rows decide the list (status updates do not reverse 5000 rows again).
  const journeys = s.journeys;
  const list = useMemo(() => visibleJourneys({ journeys }), [journeys]);
  const connections = s.connections;
  const conns = useMemo(() => [...connections].reverse(), [connections]);
  const sel = selectedJourney(s);
  const pair = sel ? s.selection : null;

  return (
    <div className="app">
      <header className="top">
        <h1>hopscope</h1>
        <nav>
          {(['live', 'topology', 'workshop', 'lessons'] as const).map((v) => (
            <button key={v} className={s.view === v ? 'tab on' : 'tab'} onClick={() => setView(v)} data-testid={`tab-${v}`}>
              {v}
            </button>
          ))}
        </nav>
        <button className={s.paused ? 'pause on' : 'pause'} onClick={togglePause} data-testid="pause">
          {s.paused ? '▶ resume' : '❚❚ pause'}
        </button>
        <button className="pause" onClick={() => setPresenting(true)} disabled={!sel} data-testid="present" title="one hop at a time, full screen, with its narration (Esc leaves)">
          present
        </button>
        <button className="pause" onClick={clear}>
          clear
        </button>
        {!s.status?.recording && (
          <button className={rec.on ? 'pause on' : 'pause'} onClick={toggleRecord} data-testid="record" data-recording={rec.on} title="record what this page receives to a file that hopscope open replays">
            {rec.on ? `■ stop · ${rec.journeys}` : '● record'}
          </button>
        )}
      </header>
      {/* A recording makes no traffic: nothing is there to act on. */}
      {!s.status?.recording && <LabButtons topology={s.topology} actions={s.actions} onAction={runAction} disabled={s.connection !== 'open'} />}
      <main className={`view-${s.view}`}>
        {s.view === 'live' && (
          <div className="live">
            <section className="left">
              <FilterBar filter={s.filter} onApply={setFilter} hideLoopback={s.hideLoopback} onHideLoopback={setHideLoopback} />
              <div className="list-mode" role="group" aria-label="list">
                {(['connections', 'packets'] as const).map((m) => (
                  <button key={m} className={s.listMode === m ? 'tab on' : 'tab'} aria-pressed={s.listMode === m} onClick={() => setListMode(m)} data-testid={`list-mode-${m}`}>
                    {m === 'connections' ? `Connections · ${s.connStats.connections}` : `Packets · ${s.journeys.length}`}
                  </button>
                ))}
                {s.connStats.evicted > 0 && (
                  <span className="dim" title="the oldest connections left the list to keep it bounded" data-testid="conn-evicted">
                    {s.connStats.evicted} older connections dropped
                  </span>
                )}
              </div>
              {s.listMode === 'connections' ? (
                <ConnectionList connections={conns} openId={s.openConnection} packets={s.connectionPackets} selectedId={s.selectedId} onOpen={onOpenConnection} onSelect={onSelect} />
              ) : (
                <JourneyList journeys={list} selectedId={s.selectedId} onSelect={onSelect} />
              )}
            </section>
            <section className="right">
              {pair ? (
                <>
                  <PcapngButton request={pair.request} {...(pair.reply ? { reply: pair.reply } : {})} />
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
        {s.view === 'lessons' && <Lessons s={s} c={lessonControls} />}
        {s.view === 'workshop' && <Workshop journey={sel} {...(pair?.reply && pair.reply !== sel ? { reply: pair.reply } : {})} step={s.step} onStep={onStep} />}
      </main>
      {presenting && sel && <Presenter journey={sel} step={s.step} onStep={onStep} onClose={stopPresenting} />}
      <StatusBar s={s} onReplay={(c) => sock.current?.replay(c)} />
    </div>
  );
}
