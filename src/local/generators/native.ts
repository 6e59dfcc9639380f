import type { Platform } from "../fleet.js";
import type { Weighted } from "../random.js";
import { MODULES, REMOTE_HOSTS } from "./catalog.js";
import {
  binary,
  filePath,
  processGuid,
  processPair,
  type RecordContext,
  sensorsOn,
} from "./common.js";

/**
 * `native` records as VMware Carbon Black EDR's event forwarder writes raw endpoint events
 * (field names from Red Canary's public cb-event-forwarder): `type`, `sensor_id`,
 * `computer_name`, `timestamp` (float Unix seconds), `process_guid`, `pid`, upper-case
 * `md5`/`sha256` of the acting process, then the fields of each type.
 */

export const NATIVE_TYPES = [
  "ingress.event.procstart",
  "ingress.event.procend",
  "ingress.event.childproc",
  "ingress.event.netconn",
  "ingress.event.filemod",
  "ingress.event.regmod",
  "ingress.event.moduleload",
  "ingress.event.module",
  "ingress.event.crossprocopen",
  "ingress.event.remotethread",
] as const;
export type NativeType = (typeof NATIVE_TYPES)[number];

export const NATIVE_WEIGHTS: Weighted<NativeType> = [
  ["ingress.event.netconn", 25],
  ["ingress.event.moduleload", 14],
  ["ingress.event.filemod", 14],
  ["ingress.event.procstart", 12],
  ["ingress.event.procend", 11],
  ["ingress.event.childproc", 10],
  ["ingress.event.regmod", 8],
  ["ingress.event.module", 3],
  ["ingress.event.crossprocopen", 2],
  ["ingress.event.remotethread", 0.5],
];

const ALL: readonly Platform[] = ["Windows", "MacOS", "Linux"];
const WINDOWS_ONLY: readonly Platform[] = ["Windows"];

function platformsOf(type: NativeType): readonly Platform[] {
  return type === "ingress.event.regmod" ||
    type === "ingress.event.crossprocopen" ||
    type === "ingress.event.remotethread"
    ? WINDOWS_ONLY
    : ALL;
}

const REG_KEYS = [
  "\\registry\\machine\\software\\microsoft\\windows\\currentversion\\run",
  "\\registry\\user\\s-1-5-21-1004336348-1177238915-682003330-1001\\software\\microsoft\\office\\16.0\\word\\security",
  "\\registry\\machine\\system\\currentcontrolset\\services\\bam\\state\\usersettings",
];

export function buildNativeRecord(ctx: RecordContext, type: NativeType): Record<string, unknown> {
  const { rng } = ctx;
  const sensor = rng.pick(sensorsOn(ctx.fleet, platformsOf(type)));
  const { process: proc, parent } = processPair(ctx, sensor);
  const base = {
    cb_server: "cbserver",
    type,
    sensor_id: sensor.sensor_id,
    computer_name: sensor.hostname,
    timestamp: ctx.timeMs / 1000,
    process_guid: proc.guid,
    pid: proc.pid,
    md5: proc.image.md5,
    sha256: proc.image.sha256,
  };
  switch (type) {
    case "ingress.event.procstart":
      return {
        ...base,
        path: proc.image.path,
        command_line: proc.commandLine,
        username: proc.username,
        parent_guid: parent.guid,
        parent_pid: parent.pid,
        parent_path: parent.image.path,
        parent_md5: parent.image.md5,
        parent_sha256: parent.image.sha256,
        parent_create_time: Math.floor(parent.startMs / 1000),
        expect_followon_w_md5: false,
      };
    case "ingress.event.procend":
      return { ...base, path: proc.image.path, username: proc.username };
    case "ingress.event.childproc": {
      const childPid = rng.int(300, 65_000);
      const child = binary(rng.pick(["C:\\Windows\\System32\\cmd.exe", "/bin/sh", "/usr/bin/git"]));
      return {
        ...base,
        child_process_guid: processGuid(sensor.sensor_id, childPid, ctx.timeMs),
        child_pid: childPid,
        path: child.path,
        child_md5: child.md5,
        child_sha256: child.sha256,
        created: rng.chance(0.7),
      };
    }
    case "ingress.event.netconn": {
      const remote = rng.pick(REMOTE_HOSTS);
      const outbound = rng.chance(0.9);
      const localPort = outbound ? rng.int(49_152, 65_535) : remote.port;
      const remotePort = outbound ? remote.port : rng.int(49_152, 65_535);
      return {
        ...base,
        domain: outbound ? remote.domain : "",
        remote_ip: remote.ip,
        remote_port: remotePort,
        local_ip: sensor.ip_address,
        local_port: localPort,
        protocol: remote.protocol,
        direction: outbound ? "outbound" : "inbound",
        ipv4: remote.ip,
        port: remotePort,
      };
    }
    case "ingress.event.filemod": {
      const action = rng.pick(["create", "first_write", "last_write", "delete"]);
      const path = filePath(ctx, sensor, proc.username);
      const written = binary(path);
      return {
        ...base,
        path,
        action,
        filetype_name: path.endsWith(".docx") ? "Word" : "Unknown",
        ...(action === "last_write" ? { file_md5: written.md5, file_sha256: written.sha256 } : {}),
      };
    }
    case "ingress.event.regmod": {
      const key = rng.pick(REG_KEYS);
      const value = ctx.unicode
        ? "Aktualisierungsdienst für Büro"
        : rng.pick(["OneDrive", "Updater"]);
      return {
        ...base,
        path: `${key}\\${value}`,
        action: rng.pick(["createkey", "first_write", "deletekey", "deletevalue"]),
      };
    }
    case "ingress.event.moduleload": {
      const mod = binary(rng.pick(MODULES[sensor.platform]));
      return { ...base, path: mod.path, md5: mod.md5, sha256: mod.sha256 };
    }
    case "ingress.event.module": {
      const mod = binary(rng.pick(MODULES[sensor.platform]));
      return {
        ...base,
        md5: mod.md5,
        sha256: mod.sha256,
        size: mod.size,
        utf8_original_filename: mod.name,
        utf8_company_name: sensor.platform === "Windows" ? "Microsoft Corporation" : "Apple Inc.",
        digsig_result: rng.chance(0.95) ? "Signed" : "Unsigned",
      };
    }
    case "ingress.event.crossprocopen":
    case "ingress.event.remotethread": {
      const targetPid = rng.int(4, 30_000);
      const target = binary(
        rng.pick(["C:\\Windows\\System32\\lsass.exe", "C:\\Windows\\explorer.exe"]),
      );
      const remoteThread = type === "ingress.event.remotethread";
      return {
        ...base,
        target_process_guid: processGuid(sensor.sensor_id, targetPid, proc.startMs - 60_000),
        target_pid: targetPid,
        target_path: target.path,
        target_md5: target.md5,
        target_sha256: target.sha256,
        cross_process_type: remoteThread
          ? "remote_thread"
          : rng.pick(["open_process", "open_thread"]),
        ...(remoteThread ? {} : { requested_access: rng.pick([0x1fffff, 0x1010, 0x1410]) }),
      };
    }
  }
}
