import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/**
 * A name unique to this process among every exporter sharing a directory or bucket: the host
 * (containers get their own), the pid, and random bytes (pids repeat across restarts).
 */
export function newInstanceId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9-]/g, "-")
      .slice(0, 40) || "host";
  return `${host}-${process.pid}-${randomBytes(3).toString("hex")}`;
}
