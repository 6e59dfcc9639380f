import { createHash } from "node:crypto";
import type { Platform, Sensor } from "../fleet.js";
import type { Rng } from "../random.js";
import { DOCS, PROGRAM_TABLES, q, UNICODE_DOCS } from "./catalog.js";

/**
 * What every format generator shares: stable hashes per binary path, process identities, and
 * the rules that guarantee rare content (every event type, non-ASCII text, \u-escaped JSON,
 * nested arrays) shows up in every file.
 */

/** Everything a record builder may use. `index` is the 0-based line number in the file. */
export interface RecordContext {
  readonly rng: Rng;
  readonly fleet: readonly Sensor[];
  readonly index: number;
  readonly total: number;
  /** Event time in ms since the epoch. */
  readonly timeMs: number;
  /** Forces non-ASCII text into the record (user names, paths, command lines). */
  readonly unicode: boolean;
  /** Forces nested arrays into the record where the format has a place for them. */
  readonly nestedArrays: boolean;
}

export interface Binary {
  readonly path: string;
  readonly name: string;
  /** Upper-case hex, stable per path. */
  readonly md5: string;
  readonly sha256: string;
  readonly size: number;
}

export interface ProcessInfo {
  readonly pid: number;
  readonly guid: string;
  readonly image: Binary;
  readonly commandLine: string;
  readonly username: string;
  readonly startMs: number;
}

export interface ProcessPair {
  readonly process: ProcessInfo;
  readonly parent: ProcessInfo;
}

/** A line is written with non-ASCII characters as \uXXXX escapes (Python's json default). */
export function escapedLine(index: number): boolean {
  return index % 211 === 101;
}

/** Flags of line `index`: fixed positions, so any file of more than 101 lines has them all. */
export function lineFlags(index: number): { unicode: boolean; nestedArrays: boolean } {
  return { unicode: index % 53 === 7 || escapedLine(index), nestedArrays: index % 97 === 13 };
}

/**
 * Spreads one forced occurrence of each type evenly over a file of `total` lines, so a file
 * with at least `types.length` lines has every type however rare its weight. Returns the
 * forced type by line index.
 */
export function forcedTypes<T>(types: readonly T[], total: number): Map<number, T> {
  const forced = new Map<number, T>();
  if (total < types.length) return forced;
  types.forEach((type, k) => {
    forced.set(Math.floor(((k + 0.5) * total) / types.length), type);
  });
  return forced;
}

/** JSON text of a record as written in the file (one line, no newline). */
export function serialize(record: unknown, index: number): string {
  const text = JSON.stringify(record);
  if (!escapedLine(index)) return text;
  return text.replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const binaries = new Map<string, Binary>();

/** Stable hashes and size for a binary path, as if the EDR had hashed the file. */
export function binary(path: string): Binary {
  let b = binaries.get(path);
  if (!b) {
    const name = path.split(/[\\/]/).pop() ?? path;
    const md5 = createHash("md5").update(`rc-sim:${path}`).digest("hex").toUpperCase();
    const sha256 = createHash("sha256").update(`rc-sim:${path}`).digest("hex").toUpperCase();
    const size = 20_000 + (Number.parseInt(md5.slice(0, 6), 16) % 4_000_000);
    b = { path, name, md5, sha256, size };
    binaries.set(path, b);
  }
  return b;
}

/** A process on `sensor` with its parent, both alive at `ctx.timeMs`. */
export function processPair(ctx: RecordContext, sensor: Sensor): ProcessPair {
  const { rng } = ctx;
  const program = rng.weighted(PROGRAM_TABLES[sensor.platform]);
  const user = ctx.unicode ? unicodeUser(rng, sensor) : pickUser(rng, sensor, program.path);
  const doc = ctx.unicode ? rng.pick(UNICODE_DOCS) : rng.pick(DOCS);
  const image = binary(program.path);
  const args = program.args(rng, user.replace(/^.*\\/, ""), doc);
  const startMs = ctx.timeMs - rng.int(10, 3_600_000);
  const parentStart = startMs - rng.int(1_000, 86_400_000);
  const pid = rng.int(300, 65_000);
  const parentPid = rng.int(4, 30_000);
  return {
    process: {
      pid,
      guid: processGuid(sensor.sensor_id, pid, startMs),
      image,
      commandLine: args ? `${q(image.path)} ${args}` : q(image.path),
      username: user,
      startMs,
    },
    parent: {
      pid: parentPid,
      guid: processGuid(sensor.sensor_id, parentPid, parentStart),
      image: binary(program.parent),
      commandLine: q(program.parent),
      username: user,
      startMs: parentStart,
    },
  };
}

function pickUser(rng: Rng, sensor: Sensor, path: string): string {
  if (/svchost|services|sshd|nginx|dockerd|systemd/.test(path) || rng.chance(0.1)) {
    return sensor.platform === "Windows" ? "NT AUTHORITY\\SYSTEM" : "root";
  }
  return sensor.username;
}

function unicodeUser(rng: Rng, sensor: Sensor): string {
  const name = rng.pick(["józef.müller", "françois.dupont", "søren.østergaard", "田中太郎"]);
  return sensor.platform === "Windows" ? `CORP\\${name}` : name;
}

/** Carbon Black EDR style: sensor id, pid and start time (Windows FILETIME) packed in hex. */
export function processGuid(sensorId: number, pid: number, startMs: number): string {
  // FILETIME = ms * 10^4 + 116444736000000000 exceeds 2^53: computed in 32-bit halves.
  const msHi = Math.floor(startMs / 0x100000000);
  const lo = (startMs - msHi * 0x100000000) * 10_000 + 3_577_643_008;
  const loWord = lo % 0x100000000;
  const hiWord = msHi * 10_000 + 27_111_902 + Math.floor(lo / 0x100000000);
  const th = hiWord.toString(16).padStart(8, "0") + loWord.toString(16).padStart(8, "0");
  const s = sensorId.toString(16).padStart(8, "0");
  const p = pid.toString(16).padStart(8, "0");
  return `${s}-${p.slice(0, 4)}-${p.slice(4)}-${th.slice(0, 4)}-${th.slice(4)}`;
}

const sensorsByPlatforms = new WeakMap<readonly Sensor[], Map<string, readonly Sensor[]>>();

/** Sensors of the given platforms, or the whole fleet when none match. Memoised per fleet. */
export function sensorsOn(
  fleet: readonly Sensor[],
  platforms: readonly Platform[],
): readonly Sensor[] {
  let byKey = sensorsByPlatforms.get(fleet);
  if (!byKey) {
    byKey = new Map();
    sensorsByPlatforms.set(fleet, byKey);
  }
  const key = platforms.join(",");
  let found = byKey.get(key);
  if (!found) {
    const matching = fleet.filter((s) => platforms.includes(s.platform));
    found = matching.length > 0 ? matching : fleet;
    byKey.set(key, found);
  }
  return found;
}

/** A file path touched by a process; non-ASCII when the context asks for it. */
export function filePath(ctx: RecordContext, sensor: Sensor, user: string): string {
  const doc = ctx.unicode
    ? ctx.rng.pick(UNICODE_DOCS)
    : ctx.rng.pick([...DOCS, "cache.tmp", "app.log"]);
  const u = user.replace(/^.*\\/, "");
  switch (sensor.platform) {
    case "Windows":
      return `C:\\Users\\${u}\\${ctx.rng.pick(["Documents", "Downloads", "AppData\\Local\\Temp"])}\\${doc}`;
    case "MacOS":
      return `/Users/${u}/${ctx.rng.pick(["Documents", "Downloads", "Library/Caches"])}/${doc}`;
    case "Linux":
      return ctx.rng.pick([`/home/${u}/${doc}`, `/tmp/${doc}`, `/var/log/app/${doc}`]);
  }
}
