import type { Platform, Sensor } from "../fleet.js";
import type { Weighted } from "../random.js";
import { MODULES, REMOTE_HOSTS } from "./catalog.js";
import {
  binary,
  filePath,
  type ProcessInfo,
  type ProcessPair,
  processGuid,
  processPair,
  type RecordContext,
  sensorsOn,
} from "./common.js";

/**
 * `standardized` records. Only `event_type_cd` (the 18 values of Red Canary's guide) and
 * `sensor_id` are known facts; the rest is this simulator's plausible schema: `event_id`,
 * `event_time` (ISO 8601), `os_platform`, and per type nested `process`, `parent`,
 * `child_process`, `target_process`, `file`, `network_connection`, `registry`, `module`,
 * `binary`, `endpoint` and `model_attributes` objects.
 */

export const STANDARDIZED_TYPES = [
  "binary",
  "child_process",
  "endpoint",
  "file_creation",
  "file_deletion",
  "file_modification",
  "model_attributes",
  "network_connection",
  "process_handle_open",
  "process_thread_open",
  "registry_key_deletion",
  "registry_value_deletion",
  "registry_value_write",
  "registry_key_creation",
  "remote_thread_creation",
  "module_load",
  "process_end",
  "process_start",
] as const;
export type StandardizedType = (typeof STANDARDIZED_TYPES)[number];

export const STANDARDIZED_WEIGHTS: Weighted<StandardizedType> = [
  ["network_connection", 20],
  ["process_start", 14],
  ["module_load", 12],
  ["file_modification", 10],
  ["process_end", 10],
  ["file_creation", 8],
  ["child_process", 7],
  ["registry_value_write", 5],
  ["file_deletion", 3],
  ["registry_key_creation", 2],
  ["process_handle_open", 2],
  ["binary", 1.5],
  ["process_thread_open", 1],
  ["registry_value_deletion", 1],
  ["registry_key_deletion", 0.5],
  ["remote_thread_creation", 0.5],
  ["endpoint", 0.3],
  ["model_attributes", 0.2],
];

/** What cf-flattened needs to lift context fields to the top level. */
export interface BuiltStandardized {
  readonly record: Record<string, unknown>;
  readonly sensor: Sensor;
  readonly pair: ProcessPair;
}

function platformsOf(type: StandardizedType): readonly Platform[] {
  if (type.startsWith("registry_")) return ["Windows"];
  if (type.endsWith("_open") || type === "remote_thread_creation") return ["Windows", "Linux"];
  return ["Windows", "MacOS", "Linux"];
}

/** `sensors` narrows the fleet (cf-flattened is Linux-only). */
export function buildStandardized(
  ctx: RecordContext,
  type: StandardizedType,
  sensors: readonly Sensor[] = ctx.fleet,
): BuiltStandardized {
  const { rng } = ctx;
  const sensor = rng.pick(sensorsOn(sensors, platformsOf(type)));
  const pair = processPair(ctx, sensor);
  const record: Record<string, unknown> = {
    event_type_cd: type,
    event_id: rng.uuid(),
    event_time: new Date(ctx.timeMs).toISOString(),
    sensor_id: sensor.sensor_id,
    os_platform: sensor.platform.toLowerCase(),
  };
  const process = processObject(pair.process, ctx.nestedArrays);
  switch (type) {
    case "process_start":
      Object.assign(record, { process, parent: processObject(pair.parent, false) });
      break;
    case "process_end":
      Object.assign(record, {
        process: {
          ...process,
          end_time: record.event_time,
          exit_code: rng.pick([0, 0, 0, 1, -1073741510]),
        },
      });
      break;
    case "child_process": {
      const pid = rng.int(300, 65_000);
      const image = binary(rng.pick(["C:\\Windows\\System32\\cmd.exe", "/bin/sh", "/usr/bin/git"]));
      const child: ProcessInfo = {
        pid,
        guid: processGuid(sensor.sensor_id, pid, ctx.timeMs),
        image,
        commandLine: `${image.path} ${rng.pick(["/c whoami", "-c id", "status --short"])}`,
        username: pair.process.username,
        startMs: ctx.timeMs,
      };
      Object.assign(record, { process, child_process: processObject(child, false) });
      break;
    }
    case "network_connection": {
      const remote = rng.pick(REMOTE_HOSTS);
      const outbound = rng.chance(0.9);
      Object.assign(record, {
        process,
        network_connection: {
          direction: outbound ? "outbound" : "inbound",
          protocol: remote.protocol === 6 ? "tcp" : "udp",
          local_ip_address: sensor.ip_address,
          local_port: outbound ? rng.int(49_152, 65_535) : remote.port,
          remote_ip_address: remote.ip,
          remote_port: outbound ? remote.port : rng.int(49_152, 65_535),
          remote_hostname: outbound ? remote.domain : null,
        },
      });
      break;
    }
    case "file_creation":
    case "file_modification":
    case "file_deletion": {
      const path = filePath(ctx, sensor, pair.process.username);
      const f = binary(path);
      const file: Record<string, unknown> = { path, name: f.name };
      if (type !== "file_deletion")
        Object.assign(file, { md5: f.md5, sha256: f.sha256, size: f.size });
      Object.assign(record, { process, file });
      break;
    }
    case "registry_key_creation":
    case "registry_key_deletion":
    case "registry_value_write":
    case "registry_value_deletion":
      Object.assign(record, { process, registry: registryObject(ctx, type) });
      break;
    case "module_load": {
      const mod = binary(rng.pick(MODULES[sensor.platform]));
      Object.assign(record, {
        process,
        module: { ...imageObject(mod.path), signature: signature(ctx, sensor) },
      });
      break;
    }
    case "process_handle_open":
    case "process_thread_open":
    case "remote_thread_creation": {
      const pid = rng.int(4, 30_000);
      const path =
        sensor.platform === "Windows" ? "C:\\Windows\\System32\\lsass.exe" : "/usr/sbin/sshd";
      const target = {
        pid,
        guid: processGuid(sensor.sensor_id, pid, pair.parent.startMs),
        image: imageObject(path),
      };
      const extra =
        type === "remote_thread_creation"
          ? { start_address: `0x7ff${rng.hex(9)}` }
          : { granted_access: rng.pick([0x1fffff, 0x1010, 0x1410]) };
      Object.assign(record, { process, target_process: target, ...extra });
      break;
    }
    case "binary": {
      const b = pair.process.image;
      Object.assign(record, {
        binary: {
          ...imageObject(b.path),
          size: b.size,
          signature: signature(ctx, sensor),
          first_seen_time: new Date(pair.process.startMs).toISOString(),
        },
      });
      break;
    }
    case "endpoint":
      Object.assign(record, {
        endpoint: {
          hostname: sensor.hostname,
          platform: sensor.platform,
          operating_system: sensor.operating_system,
          os_version: sensor.os_version,
          network_interfaces: [
            {
              name: "eth0",
              mac_address: sensor.mac_address,
              ip_addresses: [sensor.ip_address, `fe80::${rng.hex(4)}:${rng.hex(4)}`],
            },
          ],
        },
      });
      break;
    case "model_attributes":
      Object.assign(record, {
        process,
        model_attributes: {
          model: "rc-process-lineage",
          version: "2024.08.1",
          score: Math.round(rng.next() * 1000) / 1000,
          attributes: [
            ["signed", rng.chance(0.8)],
            ["prevalence", Math.round(rng.next() * 10_000) / 10_000],
            ["lineage", [pair.parent.image.name, pair.process.image.name]],
          ],
        },
      });
      break;
  }
  if (ctx.nestedArrays) {
    record.annotations = [
      ["mitre_attack", ["T1059", "T1059.001"]],
      [
        "source",
        [
          ["edr", 1],
          ["rc", 2],
        ],
      ],
    ];
  }
  return { record, sensor, pair };
}

function imageObject(path: string): Record<string, unknown> {
  const b = binary(path);
  return { path: b.path, name: b.name, md5: b.md5, sha256: b.sha256 };
}

function processObject(p: ProcessInfo, withArgs: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    pid: p.pid,
    guid: p.guid,
    command_line: p.commandLine,
    username: p.username,
    start_time: new Date(p.startMs).toISOString(),
    image: imageObject(p.image.path),
  };
  if (withArgs) out.command_line_args = splitArgs(p.commandLine).slice(1);
  return out;
}

function signature(ctx: RecordContext, sensor: Sensor): Record<string, unknown> {
  const signed = ctx.rng.chance(0.9);
  const signer = {
    Windows: "Microsoft Windows",
    MacOS: "Software Signing",
    Linux: "Canonical Ltd.",
  }[sensor.platform];
  return signed ? { status: "signed", signer } : { status: "unsigned", signer: null };
}

function registryObject(ctx: RecordContext, type: StandardizedType): Record<string, unknown> {
  const { rng } = ctx;
  const key = rng.pick([
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
    "HKCU\\Software\\Microsoft\\Office\\16.0\\Word\\Security",
    "HKLM\\SYSTEM\\CurrentControlSet\\Services\\bam\\State\\UserSettings",
  ]);
  if (type === "registry_key_creation" || type === "registry_key_deletion") return { key };
  const valueName = ctx.unicode
    ? "Aktualisierungsdienst für Büro"
    : rng.pick(["OneDrive", "Updater", "VBAWarnings"]);
  if (type === "registry_value_deletion") return { key, value_name: valueName };
  return {
    key,
    value_name: valueName,
    value_type: "REG_SZ",
    value_data: `"C:\\Program Files\\${valueName}\\run.exe" /background`,
  };
}

/** Command-line words; quotes group words and are dropped, as a shell or CommandLineToArgvW would. */
function splitArgs(commandLine: string): string[] {
  return (commandLine.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) =>
    w.replace(/^(["'])(.*)\1$/, "$2"),
  );
}
