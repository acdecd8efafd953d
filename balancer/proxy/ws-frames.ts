// Just enough of the WebSocket framing (RFC 6455 §5.2) for the balancer to end a tunnel properly at
// shutdown: a close frame may only go out between two frames, so each direction of a tunnel feeds
// its bytes through a `FrameBoundary` that skips payloads and only reads headers (O(frames), not
// O(bytes)). The tunnel's bytes themselves are never copied or changed.
import { randomBytes } from 'node:crypto';

/** 1001 Going Away: "an endpoint is going away, such as a server going down" (RFC 6455 §7.4.1). */
export const GOING_AWAY = 1001;

const MAX_HEADER = 14; // 2 + 8 (64-bit length) + 4 (mask)

/** Tracks where one direction of a WebSocket byte stream stands: between frames, or inside one. */
export class FrameBoundary {
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  /** Bytes of a frame header split across chunks. */
  private readonly header = Buffer.alloc(MAX_HEADER);
  private headerBytes = 0;
  /** The stream broke the framing (a length beyond 2^53): no boundary is ever claimed again. */
  private broken = false;

  /** True when the bytes fed so far end exactly at a frame boundary. */
  get atBoundary(): boolean {
    return !this.broken && this.remaining === 0 && this.headerBytes === 0;
  }

  feed(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n && !this.broken) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, n - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      // A header: copy bytes until its full length (known from its second byte) is in.
      this.header[this.headerBytes++] = chunk[i++]!;
      const need = this.headerBytes < 2 ? 2 : headerLength(this.header[1]!);
      if (this.headerBytes < need) continue;
      this.remaining = payloadLength(this.header);
      this.headerBytes = 0;
      if (this.remaining < 0) this.broken = true;
    }
  }
}

function headerLength(second: number): number {
  const len7 = second & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
}

/** The payload length of a complete header; -1 when it is beyond what a Number holds exactly. */
function payloadLength(h: Buffer): number {
  const len7 = h[1]! & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return h.readUInt16BE(2);
  const big = h.readBigUInt64BE(2);
  return big > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(big);
}

/**
 * A close frame with `code` and no reason. A server sends it unmasked; towards a server (the balancer
 * speaking as the client of a backend) it must be masked with an unpredictable key (§5.3).
 */
export function closeFrame(code: number, masked: boolean): Buffer {
  const payload = Buffer.from([code >> 8, code & 0xff]);
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]);
}
