import { describe, expect, it } from 'vitest';
import { READABLE_ZOOM, boundsOf, readableView } from './viewport.ts';

describe('the diagram viewport', () => {
  it('fits and centres a diagram that is readable whole', () => {
    const v = readableView({ x: 0, y: 0, width: 800, height: 400 }, { width: 1000, height: 600 });
    expect(v.cramped).toBe(false);
    expect(v.zoom).toBeCloseTo(968 / 800, 5);
    expect(v.x).toBeCloseTo(16, 5);
    expect(v.y).toBeCloseTo(58, 5);
    // never blown up past maxZoom
    expect(readableView({ x: 0, y: 0, width: 100, height: 50 }, { width: 1000, height: 600 }).zoom).toBe(1.5);
  });
  it('never goes under the readable zoom: a big diagram starts at its top left', () => {
    const v = readableView({ x: 30, y: 10, width: 2600, height: 1400 }, { width: 860, height: 450 });
    expect(v).toEqual({ x: 16 - 30 * READABLE_ZOOM, y: 16 - 10 * READABLE_ZOOM, zoom: READABLE_ZOOM, cramped: true });
    expect(READABLE_ZOOM * 16).toBe(14);
    // a wide but short diagram fills the height, larger than the floor
    const w = readableView({ x: 0, y: 0, width: 3000, height: 400 }, { width: 860, height: 600 });
    expect(w.zoom).toBeCloseTo(568 / 400, 5);
    expect(w.cramped).toBe(true);
  });
  it("a cramped diagram starts at the request's first lane, wherever the layout put it", () => {
    const content = { x: 0, y: 10, width: 2600, height: 1400 };
    const v = readableView(content, { width: 860, height: 450 }, { start: { x: 1200, y: 10 } });
    expect(v).toEqual({ x: 16 - 1200 * READABLE_ZOOM, y: 16 - 10 * READABLE_ZOOM, zoom: READABLE_ZOOM, cramped: true });
    // a diagram readable whole is still fitted and centred, start or not
    expect(readableView({ x: 0, y: 0, width: 800, height: 400 }, { width: 1000, height: 600 }, { start: { x: 500, y: 0 } }).x).toBeCloseTo(16, 5);
  });
  it('spans the lanes', () => {
    expect(boundsOf({ a: { x: 10, y: 5, width: 100, height: 50 }, b: { x: 200, y: 0, width: 50, height: 300 } })).toEqual({ x: 10, y: 0, width: 240, height: 300 });
    expect(readableView(boundsOf({}), { width: 800, height: 600 })).toEqual({ x: 0, y: 0, zoom: 1, cramped: false });
  });
});
