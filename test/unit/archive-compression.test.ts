// Every codec round-trips any input cut at any chunk boundary, fails loudly (never hangs) on
// corrupt input, streams in bounded memory, and speaks the standard format of its CLI tool:
// what we write, `lz4 -d` / `zstd -d` read, and what they write, we read.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { compressBuffer, compressStream, decompressBuffer, decompressStream } from '../../src/archive/compression.js';
import { ByteQueue } from '../../src/archive/codecs/byte-queue.js';
import { scanFrame } from '../../src/archive/codecs/zstd.js';
import { decodeLz4Block, encodeLz4Block, lz4Bound, newLz4HashTable } from '../../src/archive/codecs/lz4-block.js';
import type { CompressionMethod } from '../../src/archive/types.js';

const METHODS: CompressionMethod[] = ['lz4', 'zstd', 'brotli', 'gzip', 'none'];
const MiB = 1024 * 1024;

/** A small seeded generator (mulberry32) so a failing chunking can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cut `data` into chunks of random sizes (1 byte up to ~2 * mean). */
function* chunks(data: Buffer, random: () => number, mean: number): Generator<Buffer> {
  let offset = 0;
  while (offset < data.length) {
    const size = 1 + Math.floor(random() * 2 * mean);
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

async function through(transform: Transform, data: Buffer, random: () => number, mean: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks(data, random, mean)), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

/** pg_wal-like content: 8 KiB pages, some random (full-page images), some records, some zeros. */
function walLike(size: number): Buffer {
  const data = Buffer.alloc(size);
  const random = prng(7);
  for (let page = 0; page < size; page += 8192) {
    const kind = random();
    const end = Math.min(page + 8192, size);
    if (kind < 0.3) randomBytes(end - page).copy(data, page);
    else if (kind < 0.8) {
      for (let o = page; o + 64 <= end; o += 64) data.write(`rmgr: Heap len: 54 tx: ${Math.floor(random() * 1e6)} INSERT off 7`, o);
    }
  }
  return data;
}

const INPUTS: Array<[string, () => Buffer]> = [
  ['empty input', () => Buffer.alloc(0)],
  ['1 byte', () => Buffer.from([0x42])],
  ['random 10 MiB', () => randomBytes(10 * MiB)],
  ['highly compressible 10 MiB', () => Buffer.alloc(10 * MiB, 'the same WAL record, again and again. ')],
  ['WAL-like 10 MiB', () => walLike(10 * MiB)],
];

describe('round trips: every method, any input, any chunking', () => {
  for (const method of METHODS) {
    for (const [name, make] of INPUTS) {
      it(`${method}: ${name}`, async () => {
        const data = make();
        const seed = Math.floor(Math.random() * 2 ** 31);
        const random = prng(seed);
        // Small chunks for small inputs, so boundaries land inside headers and blocks too.
        const mean = data.length > MiB ? 300_000 : 3;
        const compressed = await through(compressStream(method), data, random, mean);
        if (method !== 'none' && name.startsWith('highly')) assert.ok(compressed.length < data.length / 20, `${method} compresses`);
        const restored = await through(decompressStream(method), compressed, random, data.length > MiB ? 70_000 : 2);
        assert.ok(restored.equals(data), `${method} ${name} round trip (seed ${seed})`);
      });
    }
  }

  it('buffer helpers agree with the streams', async () => {
    const data = walLike(MiB);
    for (const method of METHODS) assert.ok((await decompressBuffer(method, await compressBuffer(method, data))).equals(data), method);
  });
});

/** Resolves with the error the stream failed with; fails the test after 10 s (a hang). */
async function failure(method: CompressionMethod, input: Buffer): Promise<Error> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${method}: decompressStream hung on corrupt input`)), 10_000).unref());
  const run = through(decompressStream(method), input, prng(1), 4096).then(
    () => assert.fail(`${method}: corrupt input decompressed without an error`),
    (error: Error) => error,
  );
  return Promise.race([run, timeout]);
}

describe('corrupt input fails, never hangs', () => {
  const data = walLike(3 * MiB);
  for (const method of METHODS.filter((m) => m !== 'none')) {
    it(`${method}: garbage, truncation, empty input`, async () => {
      const compressed = await compressBuffer(method, data);
      await failure(method, randomBytes(64 * 1024));
      await failure(method, compressed.subarray(0, Math.floor(compressed.length / 2)));
      await failure(method, compressed.subarray(0, compressed.length - 1));
      if (method !== 'brotli') await failure(method, Buffer.alloc(0)); // brotli's empty stream is one byte, not zero
      if (method === 'lz4' || method === 'zstd') {
        const message = (await failure(method, Buffer.concat([compressed, Buffer.from('trailing junk!')]))).message;
        assert.match(message, new RegExp(`^${method}: `));
      }
    });
  }

  it('lz4: a flipped byte inside a block is caught by the content checksum', async () => {
    const compressed = Buffer.from(await compressBuffer('lz4', data));
    compressed[Math.floor(compressed.length / 2)]! ^= 0x55;
    assert.match((await failure('lz4', compressed)).message, /^lz4: .*(checksum|corrupt)/);
  });

  it('lz4: a damaged frame header is caught by its checksum', async () => {
    const compressed = Buffer.from(await compressBuffer('lz4', data));
    compressed[5]! ^= 0x10; // block size id 7 -> 6
    assert.match((await failure('lz4', compressed)).message, /^lz4: frame header checksum mismatch/);
  });

  it('gzip: a flipped byte is caught by the CRC', async () => {
    const compressed = Buffer.from(await compressBuffer('gzip', data));
    compressed[compressed.length - 6]! ^= 0x01;
    await failure('gzip', compressed);
  });

  it('names the codec in lz4 and zstd errors', async () => {
    assert.match((await failure('lz4', Buffer.from('definitely not lz4 data'))).message, /^lz4: not lz4 data \(magic number/);
    assert.match((await failure('zstd', Buffer.from('definitely not zstd data'))).message, /^zstd: not zstd data or corrupt/);
  });
});

describe('lz4 block decoder', () => {
  const decode = (block: number[], history = 0, limit = 64) => decodeLz4Block(Uint8Array.from(block), new Uint8Array(limit), history, limit);

  it('decodes literals, copies, overlapping and run-length matches', () => {
    const dst = new Uint8Array(64);
    // "abc", then a match of 6 at offset 3 (overlapping: abcabc), then a run of 5 x "c" (offset 1), then "!"
    const block = Uint8Array.from([0x32, 0x61, 0x62, 0x63, 3, 0, 0x01, 1, 0, 0x10, 0x21]);
    const end = decodeLz4Block(block, dst, 0, 64);
    assert.equal(Buffer.from(dst.subarray(0, end)).toString(), 'abcabcabcccccc!');
  });

  it('refuses corrupt blocks instead of writing garbage', () => {
    assert.equal(decode([0x10, 0x61, 5, 0]), -1, 'match before the start of the history');
    assert.equal(decode([0x10, 0x61, 0, 0]), -1, 'offset 0');
    assert.equal(decode([0x50, 0x61, 0x62]), -1, 'literals past the end of the block');
    assert.equal(decode([0xf0, 255, 255]), -1, 'length bytes past the end of the block');
    assert.equal(decode([0x10, 0x61, 1]), -1, 'truncated offset');
    assert.equal(decode([0x1f, 0x61, 1, 0, 200], 0, 64), -1, 'output past the limit');
    assert.equal(decode([0x10, 0x61, 4, 0], 3), 8, 'a match into the history is fine');
  });
});

describe('bounded memory', () => {
  for (const method of ['lz4', 'zstd'] as const) {
    it(`${method}: 256 MiB stream through compress and decompress without holding it`, async () => {
      const total = 256 * MiB;
      const page = walLike(4 * MiB);
      let produced = 0;
      const source = new Readable({
        read() {
          if (produced >= total) this.push(null);
          else {
            produced += page.length;
            this.push(page);
          }
        },
      });
      let restored = 0;
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 20);
      try {
        await pipeline(source, compressStream(method), decompressStream(method), async (stream: AsyncIterable<Buffer>) => {
          for await (const chunk of stream) restored += chunk.length;
        });
      } finally {
        clearInterval(sampler);
      }
      assert.equal(restored, total);
      assert.ok(peak < 96 * MiB, `${method}: peak ${Math.round(peak / MiB)} MiB of buffers for a ${total / MiB} MiB stream`);
    });
  }
});

describe('interoperability with the lz4 and zstd command line tools', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'governor-codec-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string) => path.join(dir, name);
  const data = walLike(9 * MiB + 12345);
  writeFileSync(file('raw'), data);

  function tool(name: 'lz4' | 'zstd', args: string[]): void {
    try {
      execFileSync(name, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT') assert.fail(`the ${name} command is missing: apt-get install -y lz4 zstd (scripts/install-deps.sh does)`);
      throw new Error(`${name} ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
    }
  }

  for (const [method, cli, decompressArgs] of [
    ['lz4', 'lz4', (input: string, output: string) => ['-d', '-f', '-q', input, output]],
    ['zstd', 'zstd', (input: string, output: string) => ['-d', '-f', '-q', input, '-o', output]],
  ] as const) {
    it(`${cli} -d reads what compressStream('${method}') writes (including an empty input)`, async () => {
      for (const [name, input] of [['data', data], ['empty', Buffer.alloc(0)], ['tiny', Buffer.from('x')]] as const) {
        writeFileSync(file(`ours-${name}.${method}`), await through(compressStream(method), input, prng(3), 100_000));
        tool(cli, decompressArgs(file(`ours-${name}.${method}`), file(`ours-${name}.out`)));
        assert.ok(readFileSync(file(`ours-${name}.out`)).equals(input), `${cli} -d of ${name}`);
      }
    });
  }

  const lz4Variants: Array<[string, string[]]> = [
    ['defaults (independent 4 MiB blocks, content checksum)', []],
    ['linked blocks (-BD)', ['-BD']],
    ['64 KiB linked blocks (-B4 -BD)', ['-B4', '-BD']],
    ['block checksums and content size (-BX --content-size)', ['-BX', '--content-size']],
    ['high compression, no content checksum (-9 --no-frame-crc)', ['-9', '--no-frame-crc']],
  ];
  for (const [name, args] of lz4Variants) {
    it(`decompressStream('lz4') reads lz4 ${name}`, async () => {
      tool('lz4', ['-f', '-q', ...args, file('raw'), file('cli.lz4')]);
      const restored = await through(decompressStream('lz4'), readFileSync(file('cli.lz4')), prng(5), 50_000);
      assert.ok(restored.equals(data));
    });
  }

  // [name, arguments, input bytes]: the slow high levels get a smaller input.
  const zstdVariants: Array<[string, string[], number]> = [
    ['defaults', [], data.length],
    ['level 19', ['-19'], 2 * MiB],
    ['without checksum (--no-check)', ['--no-check'], data.length],
    ['long window (--long=24)', ['--long=24'], data.length],
  ];
  for (const [name, args, size] of zstdVariants) {
    it(`decompressStream('zstd') reads zstd ${name}`, async () => {
      writeFileSync(file('raw-part'), data.subarray(0, size));
      tool('zstd', ['-f', '-q', ...args, file('raw-part'), '-o', file('cli.zst')]);
      const restored = await through(decompressStream('zstd'), readFileSync(file('cli.zst')), prng(6), 50_000);
      assert.ok(restored.equals(data.subarray(0, size)));
    });
  }

  it('reads concatenated CLI frames (files joined with cat) for lz4 and zstd', async () => {
    writeFileSync(file('half1'), data.subarray(0, 1000));
    writeFileSync(file('half2'), data.subarray(1000));
    tool('lz4', ['-f', '-q', file('half1'), file('half1.lz4')]);
    tool('lz4', ['-f', '-q', '-BD', file('half2'), file('half2.lz4')]);
    tool('zstd', ['-f', '-q', file('half1'), '-o', file('half1.zst')]);
    tool('zstd', ['-f', '-q', file('half2'), '-o', file('half2.zst')]);
    for (const [method, ext] of [['lz4', 'lz4'], ['zstd', 'zst']] as const) {
      const joined = Buffer.concat([readFileSync(file(`half1.${ext}`)), readFileSync(file(`half2.${ext}`))]);
      assert.ok((await through(decompressStream(method), joined, prng(8), 30_000)).equals(data), method);
    }
  });

  it('reads data from an lz4 stream piped through stdin (no content size)', async () => {
    const piped = execFileSync('lz4', ['-c', '-q'], { input: data, maxBuffer: 64 * MiB });
    assert.ok((await decompressBuffer('lz4', piped)).equals(data));
    const zpiped = execFileSync('zstd', ['-c', '-q'], { input: data, maxBuffer: 64 * MiB });
    assert.ok((await decompressBuffer('zstd', zpiped)).equals(data));
  });
});

describe('zstd frame scanner (which frames the wasm decoder takes whole)', () => {
  const queue = (data: Buffer) => {
    const q = new ByteQueue();
    q.push(data);
    return q;
  };

  it('our frames declare their size and are found whole; a cut frame asks for more', async () => {
    const data = walLike(6 * MiB);
    const compressed = await compressBuffer('zstd', data);
    const first = scanFrame(queue(compressed));
    assert.ok(first && first !== 'more');
    assert.equal(first.contentSize, 4 * MiB, 'the first frame holds 4 MiB');
    assert.ok(first.size < compressed.length);
    const second = scanFrame(queue(compressed.subarray(first.size)));
    assert.ok(second && second !== 'more');
    assert.equal(second.contentSize, 2 * MiB);
    assert.equal(first.size + second.size, compressed.length);
    assert.equal(scanFrame(queue(compressed.subarray(0, first.size - 1))), 'more');
  });

  it('a piped CLI frame declares no size (fzstd decodes it); garbage is no frame', () => {
    const piped = execFileSync('zstd', ['-c', '-q'], { input: walLike(MiB) });
    const frame = scanFrame(queue(piped));
    assert.ok(frame && frame !== 'more');
    assert.equal(frame.contentSize, null);
    assert.equal(frame.size, piped.length);
    assert.equal(scanFrame(queue(Buffer.from('definitely not zstd'))), null);
  });
});

describe('lz4 block encoder', () => {
  const roundTrip = (src: Uint8Array): number => {
    const dst = new Uint8Array(lz4Bound(src.length));
    const size = encodeLz4Block(src, dst, newLz4HashTable());
    assert.ok(size <= lz4Bound(src.length));
    const out = new Uint8Array(src.length);
    const end = decodeLz4Block(dst.subarray(0, size), out, 0, src.length);
    assert.equal(end, src.length, 'decodes to the input length');
    assert.ok(Buffer.from(out).equals(Buffer.from(src)), 'decodes to the input');
    // The format's end rules, which the reference decoder relies on: the last sequence is at least
    // 5 literals (or the whole input when shorter than 13 bytes).
    return size;
  };
  const rng = prng(11);
  const table: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['12 bytes (too short for any match)', new Uint8Array(12).fill(1)],
    ['13 zero bytes', new Uint8Array(13)],
    ['1 MiB of zeros', new Uint8Array(MiB)],
    ['random (incompressible)', randomBytes(256 * 1024)],
    ['a repeated 7-byte pattern', Uint8Array.from({ length: 100_000 }, (_, i) => 'abcdefg'.charCodeAt(i % 7))],
    ['matches further back than 64 KiB are not used', Buffer.concat([randomBytes(70_000), randomBytes(10)]).fill(3, 70_000)],
    ['WAL-like pages', walLike(MiB)],
    ['random with runs', Uint8Array.from({ length: 300_000 }, () => (rng() < 0.7 ? 0 : Math.floor(rng() * 256)))],
  ];
  for (const [name, src] of table) it(`round trip: ${name}`, () => void roundTrip(src));

  it('compresses WAL-like data and zeros, not random data', () => {
    assert.ok(roundTrip(new Uint8Array(MiB)) < 8 * 1024);
    assert.ok(roundTrip(walLike(MiB)) < MiB / 2);
    assert.ok(roundTrip(randomBytes(64 * 1024)) > 64 * 1024);
  });
});
