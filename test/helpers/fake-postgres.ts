// A hostile stand-in for a member's PostgreSQL on loopback: it speaks just enough of the protocol
// (SSLRequest, optionally answered with TLS; the startup message) to ask the client for its
// password the way an impostor would (in clear text, MD5, or SCRAM without channel binding), and
// records what the client sends back. A client that behaves never sends a PasswordMessage ('p').

import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

export type FakeAuthRequest = 'cleartext' | 'md5' | 'scram-without-binding';

export interface FakePostgres {
  port: number;
  /** Startup parameters of each session that got that far (user, database, replication ...). */
  startups: Array<Record<string, string>>;
  /** Sessions that were upgraded to TLS. */
  tlsSessions: number;
  /** Payloads of the PasswordMessage / SASLInitialResponse ('p') messages received. */
  passwordMessages: Buffer[];
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

function authRequest(kind: FakeAuthRequest): Buffer {
  const body =
    kind === 'cleartext'
      ? Buffer.from([0, 0, 0, 3])
      : kind === 'md5'
        ? Buffer.from([0, 0, 0, 5, 1, 2, 3, 4])
        : Buffer.concat([Buffer.from([0, 0, 0, 10]), Buffer.from('SCRAM-SHA-256\0\0')]);
  const header = Buffer.alloc(5);
  header.write('R', 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** Reads whole length-prefixed messages off a stream: the first ones untyped (startup phase). */
class MessageReader {
  private buffer = Buffer.alloc(0);
  constructor(private typed: boolean) {}
  push(chunk: Buffer): Array<{ type: string | null; payload: Buffer }> {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const out: Array<{ type: string | null; payload: Buffer }> = [];
    for (;;) {
      const offset = this.typed ? 1 : 0;
      if (this.buffer.length < offset + 4) break;
      const length = this.buffer.readInt32BE(offset);
      if (this.buffer.length < offset + length) break;
      out.push({ type: this.typed ? this.buffer.toString('latin1', 0, 1) : null, payload: this.buffer.subarray(offset + 4, offset + length) });
      this.buffer = this.buffer.subarray(offset + length);
    }
    return out;
  }
  typedFromNowOn(): void {
    this.typed = true;
  }
}

/** Listen on 127.0.0.1 (a free port); with `tlsFiles` it accepts TLS (the certificate must be for
 *  127.0.0.1, test/helpers/tls.ts makes one), without it it answers 'N' to an SSLRequest. */
export async function startFakePostgres(ask: FakeAuthRequest, tlsFiles?: { cert: string; key: string }): Promise<FakePostgres> {
  const fake: FakePostgres = { port: 0, startups: [], tlsSessions: 0, passwordMessages: [], close: async () => undefined };
  const sockets = new Set<net.Socket>();
  const context = tlsFiles ? tls.createSecureContext({ cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) }) : null;

  const serve = (socket: net.Socket | tls.TLSSocket, reader: MessageReader) => {
    const onData = (chunk: Buffer) => {
      for (const message of reader.push(chunk)) {
        if (message.type === null) {
          const code = message.payload.readInt32BE(0);
          if (code === SSL_REQUEST && context && !(socket instanceof tls.TLSSocket)) {
            socket.off('data', onData);
            socket.write('S');
            const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
            secure.on('error', () => undefined);
            secure.once('secure', () => fake.tlsSessions++);
            sockets.add(secure);
            serve(secure, new MessageReader(false));
            return;
          }
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write('N');
            continue;
          }
          // The startup message: protocol version, then name\0value\0 pairs.
          const words = message.payload.subarray(4).toString('utf8').split('\0');
          const params: Record<string, string> = {};
          for (let i = 0; i + 1 < words.length && words[i] !== ''; i += 2) params[words[i]!] = words[i + 1]!;
          fake.startups.push(params);
          reader.typedFromNowOn();
          socket.write(authRequest(ask));
        } else if (message.type === 'p') {
          fake.passwordMessages.push(Buffer.from(message.payload));
          // Whatever it was, the impostor has it now; end the session as a failed login would.
          socket.end();
        }
      }
    };
    socket.on('data', onData);
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    serve(socket, new MessageReader(false));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.port = (server.address() as net.AddressInfo).port;
  fake.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return fake;
}
