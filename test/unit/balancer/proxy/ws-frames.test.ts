// The frame-boundary tracker against frames built by hand and by the `ws` library, cut at every
// possible point, and the close frames against the `ws` library's own parser.
import { describe, expect, it } from 'vitest';
import * as ws from 'ws';
import { closeFrame, FrameBoundary, GOING_AWAY } from '../../../../balancer/proxy/ws-frames.js';
import { prng } from '../../../helpers/prng.js';

// ws exports its framing classes; @types/ws does not declare them.
interface ReceiverLike {
  on(event: 'conclude', fn: (code: number) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  write(chunk: Buffer): void;
}
interface SenderLike {
  send(data: Buffer, opts: Record<string, boolean>, cb: () => void): void;
}
const { Receiver, Sender } = ws as unknown as {
  Receiver: new (opts: { isServer: boolean }) => ReceiverLike;
  Sender: new (socket: unknown) => SenderLike;
};

/** A frame header for a payload of `len` bytes, optionally masked, followed by the (zero) payload. */
function frame(len: number, masked: boolean, opcode = 0x2): Buffer {
  const ext =
    len < 126
      ? []
      : len < 65536
        ? [len >> 8, len & 0xff]
        : [...Buffer.from(BigInt(len).toString(16).padStart(16, '0'), 'hex')];
  const len7 = len < 126 ? len : len < 65536 ? 126 : 127;
  const mask = masked ? [1, 2, 3, 4] : [];
  return Buffer.concat([Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | len7, ...ext, ...mask]), Buffer.alloc(len)]);
}

/** Feeds `stream` in the given chunk sizes; returns atBoundary after each chunk. */
function boundaries(stream: Buffer, cuts: readonly number[]): boolean[] {
  const t = new FrameBoundary();
  const out: boolean[] = [];
  let at = 0;
  for (const size of cuts) {
    t.feed(stream.subarray(at, at + size));
    at += size;
    out.push(t.atBoundary);
  }
  return out;
}

describe('FrameBoundary', () => {
  it.each<[string, Buffer]>([
    ['empty payload', frame(0, false)],
    ['7-bit length', frame(125, false)],
    ['16-bit length', frame(126, false)],
    ['16-bit length, masked', frame(300, true)],
    ['64-bit length', frame(70_000, false)],
    ['64-bit length, masked', frame(65_536, true)],
    ['a close frame', frame(2, true, 0x8)],
  ])('%s: at a boundary only before and after the frame, wherever it is cut', (_what, f) => {
    expect(new FrameBoundary().atBoundary).toBe(true);
    for (let cut = 1; cut < Math.min(f.length, 40); cut++) {
      expect(boundaries(f, [cut, f.length - cut])).toEqual([false, true]);
    }
    expect(boundaries(f, [f.length - 1, 1])).toEqual([false, true]);
    expect(boundaries(Buffer.concat([f, f, f]), [f.length * 3])).toEqual([true]);
  });

  it.each([1, 2, 3, 4, 5])('random frames in random chunks (seed %i) match the true boundaries', (seed) => {
    const random = prng(seed);
    const frames = Array.from({ length: 200 }, () => {
      const r = random();
      const len =
        r < 0.6
          ? Math.floor(random() * 126)
          : r < 0.95
            ? 126 + Math.floor(random() * 2000)
            : 65_536 + Math.floor(random() * 1000);
      return frame(len, random() < 0.5);
    });
    const stream = Buffer.concat(frames);
    const ends = new Set<number>();
    let end = 0;
    for (const f of frames) ends.add((end += f.length));
    const cuts: number[] = [];
    for (let at = 0; at < stream.length;) {
      const size = Math.min(1 + Math.floor(random() * (random() < 0.5 ? 16 : 5000)), stream.length - at);
      cuts.push(size);
      at += size;
    }
    let at = 0;
    const expected = cuts.map((size) => ends.has((at += size)));
    expect(boundaries(stream, cuts)).toEqual(expected);
  });

  it('frames written by the ws library are tracked', () => {
    const chunks: Buffer[] = [];
    const socket = { write: (b: Buffer | Buffer[]) => (chunks.push(...[b].flat()), true), cork() {}, uncork() {} };
    const sender = new Sender(socket);
    sender.send(Buffer.alloc(70_000), { binary: true, fin: true, mask: true, compress: false }, () => undefined);
    sender.send(Buffer.from('hi'), { binary: false, fin: true, mask: false, compress: false }, () => undefined);
    const t = new FrameBoundary();
    for (const c of chunks) t.feed(c);
    expect(t.atBoundary).toBe(true);
    t.feed(chunks[0]!.subarray(0, 3));
    expect(t.atBoundary).toBe(false);
  });

  it('a length beyond 2^53 never counts as a boundary again', () => {
    const t = new FrameBoundary();
    t.feed(Buffer.from([0x82, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    t.feed(frame(0, false));
    expect(t.atBoundary).toBe(false);
  });
});

describe('closeFrame', () => {
  it.each([false, true])('masked=%s parses as a close with 1001 (ws Receiver)', async (masked) => {
    // A server-side receiver insists on masked frames, a client-side one on unmasked.
    const receiver = new Receiver({ isServer: masked });
    const code = new Promise<number>((resolve, reject) => {
      receiver.on('conclude', (c: number) => resolve(c));
      receiver.on('error', reject);
    });
    const f = closeFrame(GOING_AWAY, masked);
    expect(f[1]! & 0x80).toBe(masked ? 0x80 : 0);
    receiver.write(f);
    expect(await code).toBe(1001);
  });
});
