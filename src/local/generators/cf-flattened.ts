import type { Platform } from "../fleet.js";
import type { Weighted } from "../random.js";
import { type RecordContext, sensorsOn } from "./common.js";
import {
  buildStandardized,
  STANDARDIZED_TYPES,
  STANDARDIZED_WEIGHTS,
  type StandardizedType,
} from "./standardized.js";

/**
 * `cf-flattened` records (Linux EDR only): a standardized record whose most used context is
 * repeated as flat snake_case fields at the top level (`host_name`, `user_name`,
 * `process_md5`, `process_command_line`, ...). Records come from the fleet's Linux sensors
 * and never have registry event types.
 */

export const CF_FLATTENED_TYPES = STANDARDIZED_TYPES.filter((t) => !t.startsWith("registry_"));
export const CF_FLATTENED_WEIGHTS: Weighted<StandardizedType> = STANDARDIZED_WEIGHTS.filter(
  ([t]) => !t.startsWith("registry_"),
);

const LINUX: readonly Platform[] = ["Linux"];

export function buildCfFlattened(
  ctx: RecordContext,
  type: StandardizedType,
): Record<string, unknown> {
  const linux = sensorsOn(ctx.fleet, LINUX);
  const { record, sensor, pair } = buildStandardized(ctx, type, linux);
  const { process: proc, parent } = pair;
  const flat: Record<string, unknown> = {
    host_name: sensor.hostname,
    host_ip_address: sensor.ip_address,
    os_version: sensor.os_version,
    user_name: proc.username,
  };
  if (type !== "endpoint" && type !== "binary") {
    Object.assign(flat, {
      process_pid: proc.pid,
      process_guid: proc.guid,
      process_name: proc.image.name,
      process_image_path: proc.image.path,
      process_md5: proc.image.md5,
      process_sha256: proc.image.sha256,
      process_command_line: proc.commandLine,
      parent_process_pid: parent.pid,
      parent_process_image_path: parent.image.path,
      parent_process_command_line: parent.commandLine,
    });
  }
  const net = record.network_connection as Record<string, unknown> | undefined;
  if (net) {
    Object.assign(flat, {
      network_direction: net.direction,
      network_protocol: net.protocol,
      local_ip_address: net.local_ip_address,
      local_port: net.local_port,
      remote_ip_address: net.remote_ip_address,
      remote_port: net.remote_port,
    });
  }
  const file = record.file as Record<string, unknown> | undefined;
  if (file) flat.file_path = file.path;
  const mod = record.module as Record<string, unknown> | undefined;
  if (mod) Object.assign(flat, { module_path: mod.path, module_md5: mod.md5 });
  const bin = record.binary as Record<string, unknown> | undefined;
  if (bin) Object.assign(flat, { binary_path: bin.path, binary_md5: bin.md5 });
  // The type and ids first, then the flat context, then the nested objects.
  const { event_type_cd, event_id, event_time, sensor_id, os_platform, ...nested } = record;
  return { event_type_cd, event_id, event_time, sensor_id, os_platform, ...flat, ...nested };
}
