import { buildFleet, type Sensor } from "../fleet.js";
import type { StreamType } from "../names.js";
import { deriveSeed, Rng, type Weighted } from "../random.js";
import { buildCfFlattened, CF_FLATTENED_TYPES, CF_FLATTENED_WEIGHTS } from "./cf-flattened.js";
import { escapedLine, forcedTypes, lineFlags, type RecordContext, serialize } from "./common.js";
import { buildNativeRecord, NATIVE_TYPES, NATIVE_WEIGHTS } from "./native.js";
import {
  buildStandardized,
  STANDARDIZED_TYPES,
  STANDARDIZED_WEIGHTS,
  type StandardizedType,
} from "./standardized.js";

/**
 * Telemetry files as pure functions of (format, seed, file index, record count, fleet): the
 * simulator uploads exactly what `generateFileLines` returns, so tests can regenerate a file's
 * lines and compare them with what an exporter wrote, byte for byte.
 */

/** The three stream types of Red Canary's guide. */
export type TelemetryFormat = StreamType;
export const TELEMETRY_FORMATS: readonly TelemetryFormat[] = [
  "native",
  "standardized",
  "cf-flattened",
];

export interface GenerateOptions {
  /** Default: `buildFleet()` (200 sensors, the default fleet seed). */
  readonly fleet?: readonly Sensor[];
  /** Time of the first record, ms since the epoch. Default: `fileStartMs(seed, fileIndex)`. */
  readonly startMs?: number;
}

export interface GeneratedFile {
  /** JSON texts, one per record, without newlines. */
  readonly lines: string[];
  /** Count per event type (`type` for native, `event_type_cd` otherwise). */
  readonly eventTypes: Record<string, number>;
  readonly startMs: number;
}

/** Records of one file span this much time. */
export const FILE_SPAN_MS = 5 * 60_000;
const BASE_MS = Date.UTC(2024, 7, 22);
const FORMAT_CODE: Record<TelemetryFormat, number> = {
  native: 1,
  standardized: 2,
  "cf-flattened": 3,
};

let defaultFleet: readonly Sensor[] | undefined;

/** The event types a format can produce; a file of at least this many lines has them all. */
export function eventTypesOf(format: TelemetryFormat): readonly string[] {
  if (format === "native") return NATIVE_TYPES;
  return format === "standardized" ? STANDARDIZED_TYPES : CF_FLATTENED_TYPES;
}

/** The field naming a record's event type in each format. */
export function eventTypeField(format: TelemetryFormat): "type" | "event_type_cd" {
  return format === "native" ? "type" : "event_type_cd";
}

/** A start time in the 30 days after 2024-08-22 chosen by the seed, 5 minutes per file. */
export function fileStartMs(seed: number, fileIndex: number): number {
  const hour = deriveSeed(seed, 0x7157) % (24 * 30);
  return BASE_MS + hour * 3_600_000 + fileIndex * FILE_SPAN_MS;
}

interface FormatSpec<T extends string> {
  readonly types: readonly T[];
  readonly weights: Weighted<T>;
  /** Used for escaped lines: a type whose records always carry user names and paths. */
  readonly textType: T;
  build(ctx: RecordContext, type: T): Record<string, unknown>;
}

function specOf(format: TelemetryFormat): FormatSpec<string> {
  switch (format) {
    case "native":
      return {
        types: NATIVE_TYPES,
        weights: NATIVE_WEIGHTS,
        textType: "ingress.event.procstart",
        build: buildNativeRecord,
      };
    case "standardized":
      return {
        types: STANDARDIZED_TYPES,
        weights: STANDARDIZED_WEIGHTS,
        textType: "process_start",
        build: (ctx: RecordContext, t: StandardizedType) => buildStandardized(ctx, t).record,
      };
    case "cf-flattened":
      return {
        types: CF_FLATTENED_TYPES,
        weights: CF_FLATTENED_WEIGHTS,
        textType: "process_start",
        build: buildCfFlattened,
      };
  }
}

export function generateFile(
  format: TelemetryFormat,
  seed: number,
  fileIndex: number,
  records: number,
  opts: GenerateOptions = {},
): GeneratedFile {
  if (!opts.fleet && !defaultFleet) defaultFleet = buildFleet();
  const fleet = opts.fleet ?? defaultFleet ?? [];
  if (fleet.length === 0) throw new Error("generateFile: the fleet is empty");
  if (!Number.isInteger(records) || records < 0)
    throw new Error(`generateFile: bad record count ${records}`);
  const spec = specOf(format);
  const rng = new Rng(deriveSeed(seed, fileIndex, FORMAT_CODE[format]));
  const startMs = opts.startMs ?? fileStartMs(seed, fileIndex);
  const forced = forcedTypes(spec.types, records);
  const lines: string[] = new Array(records);
  const eventTypes: Record<string, number> = {};
  const step = records > 0 ? FILE_SPAN_MS / records : 0;
  for (let index = 0; index < records; index++) {
    const jitter = rng.int(0, Math.max(0, Math.floor(step) - 1));
    const ctx: RecordContext = {
      rng,
      fleet,
      index,
      total: records,
      timeMs: Math.floor(startMs + index * step) + jitter,
      ...lineFlags(index),
    };
    const type =
      forced.get(index) ?? (escapedLine(index) ? spec.textType : rng.weighted(spec.weights));
    lines[index] = serialize(spec.build(ctx, type), index);
    eventTypes[type] = (eventTypes[type] ?? 0) + 1;
  }
  return { lines, eventTypes, startMs };
}

/** The exact lines (no newlines) of file `fileIndex` of a simulation run with `seed`. */
export function generateFileLines(
  format: TelemetryFormat,
  seed: number,
  fileIndex: number,
  records: number,
  opts: GenerateOptions = {},
): string[] {
  return generateFile(format, seed, fileIndex, records, opts).lines;
}

/** The file body as uploaded before compression: every line followed by "\n". */
export function fileBody(lines: readonly string[]): string {
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
