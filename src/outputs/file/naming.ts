/**
 * File names of the file output. Contract, relied on by recovery and `max_files`:
 *
 * - completed file:  `canary-exporter-<yyyymmddThhmmss.SSSZ>-<instanceId>-<seq>.json`
 * - file being written: `.canary-exporter-<same>.json.partial` (a dot file not ending in `.json`,
 *   so `*.json` globs and `jq` ignore it)
 * - instance lock:  `.canary-exporter-<instanceId>.lock`
 *
 * The timestamp is the UTC time the file was opened, so names sort by time. `<instanceId>` is
 * unique per process (core/instance.ts) and `<seq>` is a per-process counter shared by every file
 * output of the process, so names never collide, even between outputs sharing a directory.
 */

const PREFIX = "canary-exporter-";
const TEMP_SUFFIX = ".partial";
const STAMP = String.raw`\d{8}T\d{6}\.\d{3}Z`;
const FINAL_RE = new RegExp(String.raw`^canary-exporter-(${STAMP})-(.+)-(\d{6,})\.json$`);
const TEMP_RE = new RegExp(String.raw`^\.(canary-exporter-${STAMP}-(.+)-\d{6,}\.json)\.partial$`);
const LOCK_RE = /^\.canary-exporter-(.+)\.lock$/;

let sequence = 0;

/** The next sequence number of this process, zero-padded so names sort. */
export function nextSequence(): string {
  sequence += 1;
  return String(sequence).padStart(6, "0");
}

/** `2024-01-31T23:59:59.123Z` becomes `20240131T235959.123Z`. */
export function compactTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "");
}

export function finalName(openedAt: Date, instanceId: string, seq: string): string {
  return `${PREFIX}${compactTimestamp(openedAt)}-${instanceId}-${seq}.json`;
}

export function tempNameOf(final: string): string {
  return `.${final}${TEMP_SUFFIX}`;
}

export function lockName(instanceId: string): string {
  return `.${PREFIX}${instanceId}.lock`;
}

/** True for a completed file of the file output (what `max_files` counts and prunes). */
export function isFinalName(name: string): boolean {
  return FINAL_RE.test(name);
}

/** For a temp file name: its final name and the instance that writes it; otherwise undefined. */
export function parseTempName(name: string): { final: string; owner: string } | undefined {
  const m = TEMP_RE.exec(name);
  if (!m?.[1] || !m[2]) return undefined;
  return { final: m[1], owner: m[2] };
}

/** For a lock file name: the instance that holds it; otherwise undefined. */
export function parseLockName(name: string): string | undefined {
  return LOCK_RE.exec(name)?.[1];
}
