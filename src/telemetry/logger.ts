import { type DestinationStream, type LevelWithSilent, type Logger, pino } from "pino";
import { SECRET_KEYS } from "../config/secrets.js";

export type { Logger } from "pino";

/**
 * Secret config keys are redacted wherever they appear in a logged object, at the top or one
 * level down. Config objects are never logged whole (see config/redact.ts): this is the second
 * line of defence.
 */
const SECRET_PATHS = [...SECRET_KEYS].flatMap((k) => [k, `*.${k}`]);

/** JSON lines on stdout (or the given stream): one object per event, `msg` says what happened. */
export function createLogger(
  level: LevelWithSilent = "info",
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { service: "canary-exporter" },
    redact: { paths: SECRET_PATHS, censor: "***" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** For tests and library use: a logger that drops everything. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
