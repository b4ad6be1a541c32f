// Reading systemd unit files the way systemd does, as far as the packaging tests need: sections,
// repeated keys, an empty assignment resetting a list, backslash continuation lines, and the
// expansion of ExecStart= command lines (quoting, ${VAR} as one word, $VAR split on whitespace).
// The tests run a unit's real command line with it, so a flag changed in the unit is what runs.

export type UnitFile = Map<string, Array<[string, string]>>;

/** Sections of a unit file, each an ordered list of [key, value] (duplicates kept). */
export function parseUnitFile(text: string): UnitFile {
  const sections: UnitFile = new Map();
  let current: Array<[string, string]> | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      current = sections.get(section[1]!) ?? [];
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === null || eq <= 0) throw new Error(`unit file line ${i + 1}: expected [Section] or Key=value, got ${JSON.stringify(line)}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** The values of `key` in `section`, after the last empty assignment (which resets a list). */
export function unitValues(unit: UnitFile, section: string, key: string): string[] {
  const values: string[] = [];
  for (const [k, v] of unit.get(section) ?? []) {
    if (k !== key) continue;
    if (v === '') values.length = 0;
    else values.push(v);
  }
  return values;
}

/** The single value of `key`, or an error naming it. */
export function unitValue(unit: UnitFile, section: string, key: string): string {
  const values = unitValues(unit, section, key);
  if (values.length !== 1) throw new Error(`[${section}] ${key}=: expected one value, found ${values.length}`);
  return values[0]!;
}

/** Environment= assignments ("A=1" "B=two words"), in order. */
export function unitEnvironment(unit: UnitFile): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of unitValues(unit, 'Service', 'Environment')) {
    for (const word of splitWords(value)) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw new Error(`Environment=: expected NAME=value, got ${JSON.stringify(word)}`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** A systemd EnvironmentFile: KEY=value lines, # comments, optional quotes around the value. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`environment file line ${i + 1}: expected KEY=value, got ${JSON.stringify(line)}`);
    let value = match[2]!;
    if (/^(".*"|'.*')$/.test(value)) value = value.slice(1, -1);
    env[match[1]!] = value;
  }
  return env;
}

/** Words of a command line or an Environment= value: whitespace-separated, "double" and 'single'
 *  quotes group, backslash escapes the next character. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (quote) {
      if (c === quote) quote = null;
      else word = (word ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} in ${JSON.stringify(text)}`);
  if (word !== null) words.push(word);
  return words;
}

/** ExecStart= as systemd runs it: leading prefixes (-@:+!) dropped, ${VAR} replaced inside its
 *  word, a word that is exactly $VAR split into several (nothing if unset), %% unescaped. */
export function expandCommandLine(line: string, env: Record<string, string>): string[] {
  const command = line.replace(/^[-@:+!]+/, '');
  const argv: string[] = [];
  for (const word of splitWords(command)) {
    const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (bare) {
      argv.push(...(env[bare[1]!] ?? '').split(/\s+/).filter((w) => w !== ''));
      continue;
    }
    argv.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '').replace(/%%/g, '%'));
  }
  return argv;
}
