// Where the hop diagram's view starts: the whole diagram when it fits at a readable size, else
// its start (where the request begins) at the smallest readable zoom. Pure.

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Smallest font of the diagram (styles.css: `.hop-rule`, 16 px) and the least it may be drawn at. */
export const SMALLEST_DIAGRAM_FONT_PX = 16;
export const MIN_TEXT_PX = 14;
/** Below this zoom some diagram text is drawn under 14 px. */
export const READABLE_ZOOM = MIN_TEXT_PX / SMALLEST_DIAGRAM_FONT_PX;

/** The extent of the lanes (the diagram's drawing). */
export function boundsOf(lanes: Record<string, Rect>): Rect {
  const rs = Object.values(lanes);
  if (rs.length === 0) return { x: 0, y: 0, width: 0, height: 0 };
  const x = Math.min(...rs.map((r) => r.x));
  const y = Math.min(...rs.map((r) => r.y));
  return { x, y, width: Math.max(...rs.map((r) => r.x + r.width)) - x, height: Math.max(...rs.map((r) => r.y + r.height)) - y };
}

/**
 * The viewport (translation and zoom, as React Flow takes it) for `content` in a pane: fitted and
 * centred when that zoom is readable (up to `maxZoom`); otherwise as large as the height allows
 * but never under READABLE_ZOOM, with `start` (where the request begins: its first hop's lane;
 * default the content's top-left corner) at the pane's top left. `cramped`: part of it is out of
 * view (the page then offers a mini-map to move around).
 */
export function readableView(content: Rect, pane: { width: number; height: number }, opts: { padding?: number; maxZoom?: number; start?: { x: number; y: number } } = {}): { x: number; y: number; zoom: number; cramped: boolean } {
  const pad = opts.padding ?? 16;
  const maxZoom = opts.maxZoom ?? 1.5;
  if (content.width <= 0 || content.height <= 0 || pane.width <= 2 * pad || pane.height <= 2 * pad) return { x: 0, y: 0, zoom: 1, cramped: false };
  const fitW = (pane.width - 2 * pad) / content.width;
  const fitH = (pane.height - 2 * pad) / content.height;
  const fit = Math.min(fitW, fitH);
  if (fit >= READABLE_ZOOM) {
    const zoom = Math.min(fit, maxZoom);
    return { x: (pane.width - content.width * zoom) / 2 - content.x * zoom, y: (pane.height - content.height * zoom) / 2 - content.y * zoom, zoom, cramped: false };
  }
  const zoom = Math.max(READABLE_ZOOM, Math.min(fitH, maxZoom));
  const start = opts.start ?? content;
  return { x: pad - start.x * zoom, y: pad - start.y * zoom, zoom, cramped: true };
}
