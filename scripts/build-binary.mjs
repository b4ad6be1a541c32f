#!/usr/bin/env node
// Builds dist/governor: ONE executable file that runs governor and governorctl (every subcommand) on a
// machine with no Node.js and no node_modules. `make binary` runs this.
//
// Why Node's Single Executable Applications (SEA) and not pkg: vercel/pkg is deprecated and both it and its
// fork @yao-pkg/pkg download prebuilt, patched Node base binaries at build time (not possible here, and a
// binary we did not build from the Node we test with). SEA is part of Node itself: the exact `node` we run
// the tests with gets our script injected as a resource (postject), nothing is downloaded, and
// `node:sea` lets the program know it is the single executable (src/cli/self.ts).
//
// Steps:
//   1. esbuild bundles src/cli/main-binary.ts and every dependency into ONE CommonJS script
//      (SEA in Node 20 runs a single CommonJS script whose `require` knows only built-in modules).
//   2. etcd3 reads its .proto files from node_modules at require time. They are parsed HERE, with the
//      options etcd3 passes, into protobufjs JSON, and etcd3's `loadSync(path)` becomes proto-loader's
//      `fromJSON(<that JSON>)` in the bundle, run when etcd3 is required as before: nothing is read from disk. The
//      build checks that the embedded definition equals what loadSync makes of the files, and fails if the
//      code it replaces is not found (another etcd3 version).
//   3. WASM: `.wasm` files imported by any module are inlined as bytes (loader 'binary'); the codecs used
//      today (xxhash-wasm for lz4, @hpcc-js/wasm-zstd) already carry their wasm inline in their JS. Loading
//      wasm from a file beside a module (`new URL('x.wasm', import.meta.url)`) cannot work in a single
//      executable: any `import.meta` left in the bundle fails the build, a `.wasm` file name is reported.
//   4. Native addons (.node) cannot be loaded from inside the executable: any in the bundle fails the build.
//   5. Start time: the V8 code cache goes into the blob (sea-config useCodeCache), pg skips its Cloudflare probe.
//      Modules are not made lazy here: the CLI's own imports decide what loads at start (src/cli/governor.ts),
//      and loading etcd3 later than the unbundled program does would move that cost into etcd call budgets.
//   6. node --experimental-sea-config → blob; a copy of this `node` (symbol table stripped) + postject
//      → dist/governor (mode 755: PostgreSQL's OS user runs it as archive_command).
//
// Usage: node scripts/build-binary.mjs [--no-strip] [--no-minify] [--keep-intermediate]

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const work = path.join(dist, 'binary');
const bundleFile = path.join(work, 'governor.cjs');
const blobFile = path.join(work, 'governor.blob');
const seaConfigFile = path.join(work, 'sea-config.json');
const output = path.join(dist, 'governor');
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const args = new Set(process.argv.slice(2));
const strip = !args.has('--no-strip');

const t0 = Date.now();
const log = (message) => console.log(`[build-binary ${((Date.now() - t0) / 1000).toFixed(1)}s] ${message}`);
const fail = (message) => {
  console.error(`build-binary: ${message}`);
  process.exit(1);
};

if (Number(process.versions.node.split('.')[0]) < 20) fail(`Node ${process.versions.node}: single executables need Node >= 20`);

// ---------------------------------------------------------------------------------------------- patches

// const packageDefinition = (0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {...options...});
// const services = grpc.loadPackageDefinition(packageDefinition);
// const etcdserverpb = services.etcdserverpb;
const ETCD3_LOAD =
  /const packageDefinition = \(0,\s*(\w+)\.loadSync\)\(\s*`\$\{__dirname\}\/\.\.\/proto\/(\w+\.proto)`\s*,\s*(\{[^}]*\})\s*\);\s*const services = (\w+)\.loadPackageDefinition\(packageDefinition\);\s*const etcdserverpb = services\.etcdserverpb;/;

/** etcd3's connection pool with its proto files replaced by their protobufjs JSON. */
function patchEtcd3Pool(source, file) {
  const match = ETCD3_LOAD.exec(source);
  if (!match) fail(`${file}: did not find the loadSync(\`\${__dirname}/../proto/...\`) block to embed (etcd3 changed?)`);
  const [block, loader, protoName, optionsText, grpc] = match;
  const options = new Function(`return (${optionsText});`)();
  const requireFromEtcd = createRequire(file);
  const protoLoader = requireFromEtcd('@grpc/proto-loader');
  const protobuf = createRequire(requireFromEtcd.resolve('@grpc/proto-loader'))('protobufjs');
  const protoFile = path.join(path.dirname(file), '..', 'proto', protoName);

  // The parse etcd3 does at require time (proto-loader hands its options to protobufjs: keepCase ...).
  const parsed = new protobuf.Root().loadSync(protoFile, options);
  parsed.resolveAll();
  const json = JSON.stringify(parsed.toJSON());

  // Check: the package definition from the embedded JSON equals the one proto-loader makes from the files.
  const fromFiles = protoLoader.loadSync(protoFile, options);
  const fromJson = protoLoader.fromJSON(JSON.parse(json), options);
  const shape = (definition) =>
    Object.fromEntries(
      Object.entries(definition).map(([name, value]) => [
        name,
        value.format
          ? { format: value.format, type: value.type }
          : Object.fromEntries(
              Object.entries(value).map(([method, m]) => [
                method,
                { path: m.path, requestStream: m.requestStream, responseStream: m.responseStream, originalName: m.originalName, request: m.requestType.type, response: m.responseType.type },
              ]),
            ),
      ]),
    );
  if (!isDeepStrictEqual(shape(fromFiles), shape(fromJson))) fail(`the embedded etcd3 proto definition differs from ${protoFile} loaded by proto-loader`);
  const services = Object.values(fromFiles).filter((v) => !v.format).length;
  log(`etcd3 protos embedded: ${protoName} and its imports as protobufjs JSON (${Object.keys(fromFiles).length} definitions, ${services} services, ${(json.length / 1024).toFixed(0)} KiB), checked against proto-loader`);
  // Same statements, same moment (when etcd3 is required), without the file: the definition comes from the JSON.
  return source.replace(
    block,
    () =>
      `const packageDefinition = (0, ${loader}.fromJSON)(JSON.parse(${JSON.stringify(json)}), ${optionsText});\n` +
      `const services = ${grpc}.loadPackageDefinition(packageDefinition);\nconst etcdserverpb = services.etcdserverpb;`,
  );
}

/** Small source patches: [file, pattern, replacement, why]. The build fails when a pattern is not found. */
const PATCHES = [
  [/[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/, patchEtcd3Pool],
  [
    /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/,
    (source, file) => {
      // pg probes for Cloudflare Workers at require time with `new Response(...)`, which loads undici
      // (~20 ms of every start); this executable is Node.
      const from = 'const { getStream, getSecureStream } = getStreamFuncs()';
      if (!source.includes(from)) fail(`${file}: did not find "${from}" (pg changed?)`);
      return source.replace(from, () => 'const { getStream, getSecureStream } = getNodejsStreamFuncs()');
    },
  ],
];

const patchPlugin = {
  name: 'patches',
  setup(build) {
    for (const [filter, patch] of PATCHES) {
      build.onLoad({ filter }, (args) => ({ contents: patch(readFileSync(args.path, 'utf8'), args.path), loader: 'js' }));
    }
  },
};

/** esbuild plugin: native addons cannot be loaded from inside a single executable; say which. */
const nativeAddonPlugin = {
  name: 'no-native-addons',
  setup(build) {
    build.onLoad({ filter: /\.node$/ }, (args) => ({
      errors: [{ text: `native addon ${path.relative(root, args.path)} cannot be loaded from a single executable` }],
    }));
  },
};

// ---------------------------------------------------------------------------------------------- bundle

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: [path.join(root, 'src/cli/main-binary.ts')],
  outfile: bundleFile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: !args.has('--no-minify'), // --no-minify: a readable bundle, for profiling (node --cpu-prof dist/binary/governor.cjs)
  keepNames: true, // readable function and class names in stack traces
  legalComments: 'eof', // licence texts stay inside the one file we ship
  sourcemap: false,
  metafile: true,
  logLevel: 'warning',
  logOverride: { 'empty-import-meta': 'error' },
  loader: { '.wasm': 'binary' },
  // No module in the bundle may see import.meta: a single executable has no module URL. Anything that asks
  // for its own URL gets the executable's (and nothing may read files beside it: see the checks below).
  define: {
    'import.meta.url': '__governor_import_meta_url',
    'import.meta.dirname': '__governor_import_meta_dirname',
    'import.meta.filename': '__governor_import_meta_filename',
  },
  banner: {
    js: [
      `/* governor ${pkg.version}: single-executable bundle (scripts/build-binary.mjs) */`,
      'var __governor_import_meta_filename=process.execPath,__governor_import_meta_dirname=require("node:path").dirname(process.execPath),__governor_import_meta_url=require("node:url").pathToFileURL(process.execPath).href;',
    ].join('\n'),
  },
  plugins: [patchPlugin, nativeAddonPlugin],
});
for (const warning of result.warnings) log(`warning: ${warning.text}${warning.location ? ` (${warning.location.file}:${warning.location.line})` : ''}`);

// ---------------------------------------------------------------------------------------------- checks

const bundle = readFileSync(bundleFile, 'utf8');
const inputs = Object.keys(result.metafile.inputs).filter((f) => !/^[a-z-]+:/.test(f)); // files (not plugin namespaces)
const native = inputs.filter((f) => f.endsWith('.node'));
if (native.length) fail(`native addons in the bundle: ${native.join(', ')}`);
const wasmInputs = inputs.filter((f) => f.endsWith('.wasm'));
if (/\bimport\.meta\b/.test(bundle)) fail('import.meta is left in the bundle');
const wasmNames = [...new Set([...bundle.matchAll(/["'`]([^"'`\s]*\.wasm)["'`]/g)].map((m) => m[1]))];
if (wasmNames.length) log(`REVIEW: the bundle names wasm files (${wasmNames.join(', ')}): a module that reads them from disk fails in the executable`);
// A require of anything but a built-in throws inside the executable (its require knows only built-ins).
// esbuild leaves such a require only where the module could not be resolved and the require is guarded
// (try/catch: optional dependencies such as pg-native); list them.
const leftRequires = [
  ...new Set(Object.entries(result.metafile.inputs).flatMap(([file, input]) => input.imports.filter((i) => i.external && i.path !== '<runtime>' && !isBuiltin(i.path)).map((i) => `${i.path} (${file.replace(/^.*node_modules\//, '')})`))),
];
if (leftRequires.length) log(`modules not in the bundle, required only inside try/catch (optional): ${leftRequires.join(', ')}`);
// Modules that look for files next to themselves: each must be known not to do so on any path governor takes.
const DIRNAME_REVIEWED = {
  'commander/lib/command.js': 'only for executable subcommands (separate files), which governor does not use',
  '@grpc/grpc-js/build/src/channelz.js': 'loads channelz.proto only when a gRPC server adds the admin services',
  '@grpc/grpc-js/build/src/orca.js': 'loads orca.proto only for ORCA load reports (servers, weighted_round_robin)',
  'etcd3/lib/connection-pool.js': 'its one use, the path of rpc.proto, is replaced by the embedded JSON (patchEtcd3Pool)',
};
const dirnameUsers = inputs
  .filter((f) => !f.endsWith('.json') && /\b__dirname\b|\b__filename\b/.test(readFileSync(path.join(root, f), 'utf8')))
  .map((f) => f.replace(/^.*node_modules\//, ''));
const unreviewed = dirnameUsers.filter((f) => !(f in DIRNAME_REVIEWED));
if (unreviewed.length) log(`REVIEW: modules using __dirname/__filename (files beside them do not exist in the executable): ${unreviewed.join(', ')}`);
const bundleBytes = statSync(bundleFile).size;
const heaviest = Object.entries(
  Object.entries(result.metafile.outputs[path.relative(root, bundleFile)].inputs).reduce((acc, [file, info]) => {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    const key = m ? m[1] : 'src';
    acc[key] = (acc[key] ?? 0) + info.bytesInOutput;
    return acc;
  }, {}),
)
  .sort((a, b) => b[1] - a[1])
  .slice(0, 8)
  .map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(0)}K`);
log(`bundle ${path.relative(root, bundleFile)}: ${(bundleBytes / 1024 / 1024).toFixed(2)} MiB from ${inputs.length} modules${wasmInputs.length ? `, wasm inlined: ${wasmInputs.join(', ')}` : ''}; largest: ${heaviest.join(', ')}`);

// ---------------------------------------------------------------------------------------------- executable

writeFileSync(
  seaConfigFile,
  `${JSON.stringify(
    {
      main: bundleFile,
      output: blobFile,
      disableExperimentalSEAWarning: true, // archive_command output ends up in PostgreSQL's log
      useCodeCache: true, // compiled once here: faster start for every wal-push
    },
    null,
    2,
  )}\n`,
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfigFile], { stdio: 'pipe' });
log(`SEA blob ${path.relative(root, blobFile)}: ${(statSync(blobFile).size / 1024 / 1024).toFixed(2)} MiB`);

const base = readFileSync(process.execPath);
if (!base.includes(`${FUSE}:0`)) fail(`${process.execPath} has no unflipped SEA fuse: not an official Node build, or already a single executable`);
const tmp = `${output}.tmp-${process.pid}`;
process.on('exit', () => rmSync(tmp, { force: true })); // a failed build leaves no half-made executable
copyFileSync(process.execPath, tmp);
chmodSync(tmp, 0o755);
if (strip) {
  // The static symbol table and debug info (~12 MiB) serve debuggers only: JavaScript stack traces do not use
  // them, and the dynamic symbols native code would link against stay.
  try {
    execFileSync('strip', ['--strip-all', tmp], { stdio: 'inherit' });
  } catch (error) {
    log(`strip failed (${error.message}); keeping debug info`);
  }
}
const postject = path.join(root, 'node_modules/postject/dist/cli.js');
// postject (LIEF) warns "Can't find string offset for section name '.note...'" for every note section of
// this node build; harmless (LIEF; nodejs/postject#83), so only other output is shown.
const injected = spawnSync(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', blobFile, '--sentinel-fuse', FUSE], { encoding: 'utf8' });
const postjectOutput = `${injected.stdout}${injected.stderr}`.split('\n').filter((l) => l.trim() && !/Can't find string offset for section name|Start injection|Injection done/.test(l));
if (postjectOutput.length) console.error(postjectOutput.join('\n'));
if (injected.status !== 0) fail(`postject failed (exit ${injected.status})`);
chmodSync(tmp, 0o755); // rwx for the owner, r-x for everyone: PostgreSQL runs `<binary> wal-push` as its own user
renameSync(tmp, output);

// Smoke test: the executable starts and knows its version.
const version = execFileSync(output, ['--version'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } }).trim();
if (version !== pkg.version) fail(`${output} --version printed ${JSON.stringify(version)}, expected ${pkg.version}`);
if (!args.has('--keep-intermediate')) rmSync(blobFile, { force: true });
log(`${path.relative(root, output)}: ${(statSync(output).size / 1024 / 1024).toFixed(1)} MiB (node ${process.version} + ${(bundleBytes / 1024 / 1024).toFixed(2)} MiB script), version ${version}`);
