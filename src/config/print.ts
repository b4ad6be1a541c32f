// `governor config --print`: the effective configuration, every secret masked, and for each value
// where it came from. Masking follows the fields validation declared secret (LoadedConfig.secrets),
// not their names, so a new secret field is masked as soon as it is checked as one.

import { Document, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { LoadedConfig } from './load.js';
import { valueAt } from './load.js';

export const MASK = '******';

/** A deep copy of the configuration with every secret field that is set replaced by MASK. */
export function maskedConfig(loaded: Pick<LoadedConfig, 'config' | 'secrets'>): Record<string, unknown> {
  const copy = structuredClone(loaded.config) as unknown as Record<string, unknown>;
  for (const dotted of loaded.secrets) {
    const keys = dotted.split('.');
    const leaf = keys.pop()!;
    const parent = keys.length > 0 ? valueAt(copy, keys.join('.')) : copy;
    if (parent === null || typeof parent !== 'object') continue; // e.g. restapi.authentication: null
    const record = parent as Record<string, unknown>;
    if (record[leaf] !== null && record[leaf] !== undefined) record[leaf] = MASK;
  }
  return copy;
}

/** Where the value at `dotted` came from, in words: default, file NAME:LINE, env VAR, imds. */
export function describeSource(loaded: Pick<LoadedConfig, 'sources' | 'lines' | 'file'>, dotted: string): string | null {
  const source = loaded.sources[dotted];
  if (source === undefined) return null;
  if (source.startsWith('env:')) return `env ${source.slice(4)}`;
  if (source !== 'file') return source;
  const line = loaded.lines.get(dotted) ?? lineIgnoringCase(loaded.lines, dotted);
  const name = loaded.file ?? 'file';
  return line === undefined ? `file ${name}` : `file ${name}:${line}`;
}

/** PostgreSQL parameter names are lower-cased by validation but may be written in any case. */
function lineIgnoringCase(lines: ReadonlyMap<string, number>, dotted: string): number | undefined {
  const wanted = dotted.toLowerCase();
  for (const [key, line] of lines) if (key.toLowerCase() === wanted) return line;
  return undefined;
}

/** Every dotted path with a source, in the JSON form: { path: "env GOVERNOR_TTL", ... }. */
export function sourceTable(loaded: Pick<LoadedConfig, 'sources' | 'lines' | 'file'>): Record<string, string> {
  const table: Record<string, string> = {};
  for (const dotted of Object.keys(loaded.sources).sort()) table[dotted] = describeSource(loaded, dotted)!;
  return table;
}

/** YAML of the masked configuration, a trailing `# source` comment on every value that has one. */
export function printYaml(loaded: LoadedConfig): string {
  const doc = new Document(maskedConfig(loaded));
  const annotate = (node: unknown, dotted: string): void => {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const child = dotted === '' ? String(pair.key.value) : `${dotted}.${String(pair.key.value)}`;
      const value = pair.value as Node | null;
      const source = describeSource(loaded, child);
      // Lists of scalars and empty mappings on one line, so the comment sits beside them.
      if (isSeq(value) && value.items.every((item) => isScalar(item))) value.flow = true;
      if (isMap(value) && value.items.length === 0) value.flow = true;
      if (source !== null && (isScalar(value) || ((isSeq(value) || isMap(value)) && value.flow))) value.comment = ` ${source}`;
      else annotate(value, child);
    }
  };
  annotate(doc.contents, '');
  const header = `# Effective configuration of member ${loaded.config.name} (cluster ${loaded.config.scope}); secrets masked.\n`;
  return header + doc.toString({ lineWidth: 0 });
}

export function printJson(loaded: LoadedConfig): string {
  return JSON.stringify({ config: maskedConfig(loaded), sources: sourceTable(loaded) }, null, 2) + '\n';
}
