import { type DestinationStream, type LevelWithSilent, type Logger, pino } from "pino";

export type { Logger } from "pino";

/**
 * Keys whose values are secrets wherever they appear in a logged object. Config objects are
 * never logged whole (see config/redact.ts), this is the second line of defence.
 */
const SECRET_PATHS = [
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
  "red_canary_authentication_token",
  "storage_access_key",
  "credentials_json",
  "*.aws_access_key_id",
  "*.aws_secret_access_key",
  "*.aws_session_token",
  "*.red_canary_authentication_token",
  "*.storage_access_key",
  "*.credentials_json",
];

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
