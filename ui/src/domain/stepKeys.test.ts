import { describe, expect, it } from 'vitest';
import { stepAfter, stepMove, type StepKeyEvent } from './stepKeys.ts';

const key = (k: string, more: Partial<StepKeyEvent> = {}): StepKeyEvent => ({ key: k, ctrlKey: false, altKey: false, metaKey: false, target: { tagName: 'BODY' }, ...more });

describe('stepping keys', () => {
  it('a clicker (PageDown/PageUp) and the keyboard step alike', () => {
    for (const k of ['PageDown', 'ArrowRight', 'ArrowDown', ' ', 'Enter']) expect(stepMove(key(k)), k).toBe('next');
    for (const k of ['PageUp', 'ArrowLeft', 'ArrowUp', 'Backspace']) expect(stepMove(key(k)), k).toBe('prev');
    expect(stepMove(key('Home'))).toBe('first');
    expect(stepMove(key('End'))).toBe('last');
    expect(stepMove(key('Escape'))).toBe('leave');
    for (const k of ['a', 'Tab', 'F5', 'Shift']) expect(stepMove(key(k)), k).toBeUndefined();
  });
  it('keys typed in a form field stay there, as do the browser’s own', () => {
    for (const tagName of ['INPUT', 'input', 'SELECT', 'TEXTAREA'])
      for (const k of [' ', 'ArrowRight', 'ArrowLeft', 'Backspace', 'Home', 'End', 'PageDown', 'Enter']) {
        expect(stepMove(key(k, { target: { tagName } })), `${k} in ${tagName}`).toBeUndefined();
        expect(stepMove(key(k, { target: { tagName } }), true), `${k} in ${tagName} under an overlay`).toBeUndefined();
      }
    expect(stepMove(key(' ', { target: { tagName: 'DIV', isContentEditable: true } }))).toBeUndefined();
    expect(stepMove(key('ArrowLeft', { altKey: true }))).toBeUndefined();
    expect(stepMove(key('Home', { ctrlKey: true }))).toBeUndefined();
    expect(stepMove(key('ArrowRight', { metaKey: true }))).toBeUndefined();
    expect(stepMove(key('PageDown', { target: null }))).toBe('next');
  });
  it('Enter presses a focused button, except in an overlay over the page', () => {
    expect(stepMove(key('Enter', { target: { tagName: 'BUTTON' } }))).toBeUndefined();
    expect(stepMove(key('Enter', { target: { tagName: 'A' } }))).toBeUndefined();
    expect(stepMove(key('Enter', { target: { tagName: 'BUTTON' } }), true)).toBe('next');
    // space and the arrows step from a button just clicked (a tab, "run the lesson")
    expect(stepMove(key(' ', { target: { tagName: 'BUTTON' } }))).toBe('next');
    expect(stepMove(key('ArrowLeft', { target: { tagName: 'BUTTON' } }))).toBe('prev');
  });
  it('moves stay within the steps', () => {
    expect(stepAfter('next', 0, 5)).toBe(1);
    expect(stepAfter('next', 4, 5)).toBe(4);
    expect(stepAfter('prev', 0, 5)).toBe(0);
    expect(stepAfter('prev', 3, 5)).toBe(2);
    expect(stepAfter('first', 3, 5)).toBe(0);
    expect(stepAfter('last', 1, 5)).toBe(4);
    expect(stepAfter('leave', 1, 5)).toBeUndefined();
    expect(stepAfter('next', 0, 0)).toBe(0);
    expect(stepAfter('last', 0, 0)).toBe(0);
  });
});
