// Pure editing of the dynamic configuration (the DCS `config` key): JSON merge patches (PATCH
// /config, `governorctl pause`), `--set a.b=value` and `--pg name=value` arguments of
// `governorctl edit-config`, and the line diff it shows before asking.

import { parse as parseYaml, stringify } from 'yaml';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 7386 merge patch: objects merge key by key, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value) as Json;
  }
  return result;
}

/** One `--set` edit: a dotted path and its value (null deletes). */
export interface PathEdit {
  path: string[];
  value: unknown;
}

/** `key.path=value`, the value read as YAML (`8` is a number, `on`/`true` booleans per YAML 1.2,
 *  `null` deletes, `'8'` a string). `argument` names the option in errors. */
export function parseSetArgument(text: string, argument = '--set'): PathEdit {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`${argument}: expected key.path=value, got ${JSON.stringify(text)}`);
  const path = text.slice(0, eq).trim().split('.');
  if (path.some((part) => part === '' || part === '__proto__')) throw new Error(`${argument}: invalid key path ${JSON.stringify(text.slice(0, eq))}`);
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    value = raw.trim() === '' ? '' : parseYaml(raw);
  } catch (error) {
    throw new Error(`${argument} ${path.join('.')}: value is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  return { path, value: value === undefined ? null : value };
}

/** `-p name=value`: shorthand for --set postgresql.parameters.name=value. */
export function parsePgArgument(text: string): PathEdit {
  const edit = parseSetArgument(text, '--pg');
  if (edit.path.length !== 1) throw new Error(`--pg: expected a parameter name without dots, got ${JSON.stringify(edit.path.join('.'))}`);
  return { path: ['postgresql', 'parameters', edit.path[0]!], value: edit.value };
}

/** A copy of `config` with each edit applied in order; objects along the path are created as needed. */
export function applyEdits(config: unknown, edits: PathEdit[]): unknown {
  let result: unknown = structuredClone(config ?? {});
  for (const edit of edits) {
    const patch: JsonObject = {};
    let cursor = patch;
    edit.path.forEach((part, i) => {
      if (i === edit.path.length - 1) cursor[part] = edit.value as Json;
      else cursor = cursor[part] = {};
    });
    result = mergePatch(result, patch);
  }
  return result;
}

/** YAML for people: keys sorted, so a diff shows what changed rather than where keys moved. */
export function toYaml(config: unknown): string {
  return stringify(config ?? {}, { sortMapEntries: true });
}

/** A document an operator wrote (--apply FILE, the editor): YAML or JSON, a mapping at the top. */
export function parseConfigDocument(text: string, source: string): unknown {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new Error(`${source}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (!isObject(value)) throw new Error(`${source}: expected a mapping of settings at the top level`);
  return value;
}

/** Line diff (longest common subsequence), unified style without hunk headers: ' ' kept, '-' removed,
 *  '+' added. Unchanged lines further than `context` from a change are left out ('...'). */
export function diffLines(before: string, after: string, context = 3): string {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.at(-1) === '') a.pop();
  if (b.at(-1) === '') b.pop();
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Array<[' ' | '-' | '+', string]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push([' ', a[i]!]);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push(['-', a[i]!]);
      i++;
    } else {
      ops.push(['+', b[j]!]);
      j++;
    }
  }
  const changed = ops.map((op, k) => (op[0] !== ' ' ? k : -1)).filter((k) => k >= 0);
  if (changed.length === 0) return '';
  const near = (k: number) => changed.some((c) => Math.abs(c - k) <= context);
  const lines: string[] = [];
  let skipped = false;
  ops.forEach(([mark, line], k) => {
    if (mark === ' ' && !near(k)) {
      if (!skipped) lines.push('...');
      skipped = true;
      return;
    }
    skipped = false;
    lines.push(`${mark}${line}`);
  });
  return lines.join('\n') + '\n';
}
