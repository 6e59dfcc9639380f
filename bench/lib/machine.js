import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

/** Facts that make a figure comparable: where, when, on which code. */
export function machineFacts() {
  const git = (...args) => {
    try {
      return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
        .trim()
        .split("\n")[0];
    } catch {
      return null;
    }
  };
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  const dirty = git("status", "--porcelain", "--untracked-files=no");
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? "unknown",
    memory_gb: Math.round(os.totalmem() / 1e8) / 10,
    load_average_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
    git_commit: git("rev-parse", "HEAD"),
    git_dirty: dirty === null ? null : dirty.length > 0,
    fauxqs: pkg.devDependencies?.fauxqs ?? null,
    aws_sdk: pkg.dependencies?.["@aws-sdk/client-s3"] ?? null,
  };
}
