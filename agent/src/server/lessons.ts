// Lesson files (lessons/*.yaml) read and validated at start: a bad file is reported by name
// with what is wrong, and the others still load.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { sortLessons, validateLesson, type Lesson, type LessonsResponse } from '../protocol/lessons.ts';

/** The lessons that ship with hopscope (a folder beside the agent package). */
export const BUILTIN_LESSONS_DIR = fileURLToPath(new URL('../../../lessons', import.meta.url));

/** Most lesson files read from one folder, and most bytes of one file. */
const MAX_FILES = 200;
const MAX_FILE_BYTES = 64 * 1024;

/** Parse one lesson file's text; throws with the problem. */
export function parseLesson(text: string): Lesson {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new Error(`not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateLesson(raw);
}

/** Every *.yaml / *.yml / *.json lesson of a folder, sorted as the page lists them. */
export function loadLessons(dir: string): LessonsResponse {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
  } catch (e) {
    return { lessons: [], problems: [{ file: dir, error: `cannot read the lessons folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }] };
  }
  const lessons: Lesson[] = [];
  const problems: LessonsResponse['problems'] = [];
  if (names.length > MAX_FILES) problems.push({ file: dir, error: `${names.length} files: only the first ${MAX_FILES} are read` });
  for (const n of names.slice(0, MAX_FILES)) {
    try {
      const file = path.join(dir, n);
      // Sized before it is read: a stray huge file is refused without being loaded.
      if (statSync(file).size > MAX_FILE_BYTES) throw new Error(`over ${MAX_FILE_BYTES} bytes`);
      const l = parseLesson(readFileSync(file, 'utf8'));
      const dup = lessons.find((x) => x.id === l.id);
      if (dup) throw new Error(`id "${l.id}" is taken by another lesson`);
      lessons.push(l);
    } catch (e) {
      problems.push({ file: n, error: (e as Error).message });
    }
  }
  return { lessons: sortLessons(lessons), problems };
}
