// Hostile member keys against the haproxy.cfg governor renders: whatever names, hosts and ports etcd
// holds, the file contains only the directives of governor's template, so nothing in it can make
// HAProxy run a program or load code (external-check, lua-load, program, setenv, insecure-fork ...).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultHaproxyConfig } from '../../src/config/defaults.js';
import { renderHaproxyConfig, routingLayout, type RoutingMember } from '../../src/haproxy/render.js';

/** Every directive (first word of a non-comment line) the template may produce. */
const TEMPLATE_DIRECTIVES = new Set([
  'global', 'master-worker', 'stats', 'pidfile', 'maxconn', 'defaults', 'mode', 'timeout', 'option', 'listen', 'bind',
  'retries', 'http-check', 'default-server', 'server', 'balance',
]);

const INJECTIONS = [
  'x\n    lua-load /tmp/evil.lua',
  'x\nprogram evil\n    command /bin/sh -c id',
  'x\r\n    external-check command /tmp/evil',
  'x\n global\n    insecure-fork-wanted',
  'x\n    setenv PATH /tmp',
  '"x" # \n lua-prepend-path /tmp/?.lua',
];

function member(name: string, n: number, over: Partial<RoutingMember> = {}): RoutingMember {
  return { name, host: `10.0.0.${n}`, port: 5432, apiHost: `10.0.0.${n}`, apiPort: 8008, ...over };
}

function directives(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(/\s+/)[0]!);
}

describe('haproxy.cfg from hostile member keys: only the template\'s directives', () => {
  for (const [index, injection] of INJECTIONS.entries()) {
    it(`injection ${index + 1}: ${JSON.stringify(injection.slice(0, 40))}`, () => {
      const views = [
        { leader: member(injection, 1), replicas: [member(`r${injection}`, 2)] },
        { leader: member('node1', 1, { host: `10.0.0.1${injection}` }), replicas: [member('node2', 2, { apiHost: injection })] },
        { leader: null, replicas: [member(injection, 3), member('node4', 4, { host: injection })] },
      ];
      for (const view of views) {
        for (const manage of [true, false]) {
          const text = renderHaproxyConfig(routingLayout(view), { ...defaultHaproxyConfig(), enabled: true, manage }, injection);
          for (const directive of directives(text)) assert.ok(TEMPLATE_DIRECTIVES.has(directive), `"${directive}" in:\n${text}`);
          // Sanitized to one harmless word: a name may read "lua-load", but never starts a line.
          for (const line of text.split('\n')) assert.doesNotMatch(line, /^\s*(lua|external-check|program|command|setenv|presetenv|insecure-fork)/, text);
        }
      }
    });
  }
});
