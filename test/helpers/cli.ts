import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";

const CLI = resolve("dist/cli/main.js");

export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything printed so far (stdout and stderr). */
  log(): string;
}

const started: ChildProcess[] = [];

/** Starts `canary-exporter <args>` from the built `dist/` as a real child process. */
export function startCli(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push(child);
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, exited, log: () => output };
}

/** For afterAll: no child outlives its test file. */
export function killAllCli(): void {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}
