/**
 * A small seeded PRNG (mulberry32) and the helpers the generators need. Everything the
 * simulator produces is a pure function of its seeds: the same seed gives the same bytes on
 * every machine and Node version, because only 32-bit integer arithmetic is used.
 */

/** Mixes several integers into one 32-bit seed (splitmix32 finaliser per part). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    h = (h + 0x9e3779b9) | 0;
    // Parts beyond 32 bits (timestamps) contribute their high word as well.
    if (Math.abs(part) > 0xffffffff) {
      h = Math.imul(h ^ Math.floor(Math.abs(part) / 0x100000000), 0x27d4eb2d);
    }
  }
  return h >>> 0;
}

/** A weighted choice table: values with relative weights (> 0). */
export type Weighted<T> = ReadonlyArray<readonly [T, number]>;

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Rng.pick on an empty list");
    return items[Math.floor(this.next() * items.length)] as T;
  }

  weighted<T>(table: Weighted<T>): T {
    let total = 0;
    for (const [, w] of table) total += w;
    let r = this.next() * total;
    for (const [value, w] of table) {
      r -= w;
      if (r < 0) return value;
    }
    const last = table[table.length - 1];
    if (!last) throw new Error("Rng.weighted on an empty table");
    return last[0];
  }

  /** `length` hex digits. */
  hex(length: number, upper = false): string {
    let out = "";
    while (out.length < length) out += this.uint32().toString(16).padStart(8, "0");
    out = out.slice(0, length);
    return upper ? out.toUpperCase() : out;
  }

  /** An RFC 4122 version-4 shaped UUID (lower case). */
  uuid(): string {
    const h = this.hex(32);
    const variant = ((Number.parseInt(h[16] ?? "0", 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  /** A private IPv4 address in 10.0.0.0/8 or 192.168.0.0/16. */
  privateIp(): string {
    if (this.chance(0.7)) return `10.${this.int(0, 255)}.${this.int(0, 255)}.${this.int(1, 254)}`;
    return `192.168.${this.int(0, 255)}.${this.int(1, 254)}`;
  }
}
