/**
 * Object names of the object outputs:
 * `<prefix>/YYYY/MM/DD/HH/canary-exporter-<UTC yyyymmddThhmmss.SSSZ>-<instance>-<seq>.json[.gz]`.
 * The date folders partition by the hour the object was started (UTC), so SIEM loaders and
 * Athena/BigQuery partitions can pick a time range; the file name sorts by time and is unique
 * across exporters (the instance id) and within one (the sequence).
 */
export function objectKey(
  prefix: string,
  startedAt: Date,
  instanceId: string,
  seq: number,
  gzip: boolean,
): string {
  const iso = startedAt.toISOString(); // 2026-12-03T16:58:19.123Z
  const folder = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  const partition = `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(11, 13)}`;
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}Z`;
  const name = `canary-exporter-${stamp}-${instanceId}-${String(seq).padStart(6, "0")}`;
  return `${folder}${partition}/${name}.json${gzip ? ".gz" : ""}`;
}
