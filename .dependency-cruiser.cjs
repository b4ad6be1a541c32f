// The architecture of shared/DESIGN.md, checked: `npx depcruise src` (make lint-deps) and
// test/unit/layout.test.ts run these rules over src/.
//
// Layers, from the top:   cli, api  →  ha  →  dcs, postgres, haproxy, archive  →  config  →  util, log
// A module may import its own layer and any layer below it, never one above. src/version.ts sits
// at the bottom beside util and log. Within the middle layer, imports between siblings are left to
// review: archive runs PostgreSQL programs (archive → postgres) and haproxy renders the cluster
// view (haproxy → dcs types); none of them imports ha, api or cli.
//
// api sits beside cli: the daemon (cli/daemon.ts) hands the REST server an ApiBackend that reads
// the HA loop's state, so api never needs the loop, the executor or the lease keeper. What api does
// take from ha are its pure, I/O-free pieces, which a health check or a switchover request must
// judge exactly as the loop does: ha/candidate (who may take over), ha/failsafe-proof (the failsafe
// question and answer), ha/member (a member's PostgreSQL address) and ha/types. Anything else in ha
// would let an HTTP request reach the HA runtime around the loop, so it is forbidden.
//
// Type-only imports count (tsPreCompilationDeps): a cycle of types is still a cycle for a reader.

/** A path pattern for the given top-level directories of src/. */
const under = (...dirs) => `^src/(${dirs.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'An import cycle: move the shared piece (types, a small helper) into its own module lower down.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'bottom-imports-nothing-above',
      severity: 'error',
      comment: 'util and log sit at the bottom: they import only each other (and node or npm modules).',
      from: { path: under('util', 'log') },
      to: { path: '^src/', pathNot: under('util', 'log') },
    },
    {
      name: 'config-imports-no-component',
      severity: 'error',
      comment: 'config is below every component: it imports only util and log.',
      from: { path: under('config') },
      to: { path: under('dcs', 'postgres', 'haproxy', 'archive', 'ha', 'api', 'cli') },
    },
    {
      name: 'components-import-no-ha-api-cli',
      severity: 'error',
      comment: 'dcs, postgres, haproxy and archive sit below ha: they never import ha, api or cli.',
      from: { path: under('dcs', 'postgres', 'haproxy', 'archive') },
      to: { path: under('ha', 'api', 'cli') },
    },
    {
      name: 'ha-imports-no-api-cli',
      severity: 'error',
      comment: 'ha decides and acts; the daemon (cli) wires it to the REST API, never the other way.',
      from: { path: under('ha') },
      to: { path: under('api', 'cli') },
    },
    {
      name: 'api-imports-no-cli',
      severity: 'error',
      comment: 'api sits beside cli: the daemon starts the REST server, the server never reaches into cli.',
      from: { path: under('api') },
      to: { path: under('cli') },
    },
    {
      name: 'api-imports-only-pure-ha',
      severity: 'error',
      comment: 'api may use the pure pieces of ha (candidate, failsafe-proof, member, types), never the HA runtime: it reads the loop through the ApiBackend the daemon gives it.',
      from: { path: under('api') },
      to: { path: under('ha'), pathNot: '^src/ha/(candidate|failsafe-proof|member|types)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
