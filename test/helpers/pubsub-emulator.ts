/**
 * Google's Pub/Sub emulator (Java) for integration tests: found on this machine, started on
 * 127.0.0.1 with a free port as a child process in its own process group, and stopped with
 * that whole group. Not every machine has it: tests check `emulatorAvailable()` and skip with
 * a name that says why.
 *
 * Where it is looked for: PUBSUB_EMULATOR_BIN (only there, when set); the machine image's
 * /usr/lib/google-cloud-sdk; the Cloud SDK holding the `gcloud` on PATH (or CLOUDSDK_ROOT_DIR).
 * `gcloud components install pubsub-emulator` installs it into a Cloud SDK; it needs Java.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, realpathSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { delimiter, dirname, join } from "node:path";

const EMULATOR_IN_SDK = join("platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator");
const IMAGE_SDK = "/usr/lib/google-cloud-sdk";

export const EMULATOR_MISSING =
  "Pub/Sub emulator not installed on this machine (gcloud components install pubsub-emulator, or set PUBSUB_EMULATOR_BIN)";

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The emulator's start script, or undefined when this machine has none (or no Java). */
export function emulatorBinary(): string | undefined {
  const explicit = process.env.PUBSUB_EMULATOR_BIN;
  if (explicit) return executable(explicit) ? explicit : undefined;
  if (!onPath("java") && !process.env.JAVA_HOME) return undefined;
  const sdks = [IMAGE_SDK];
  if (process.env.CLOUDSDK_ROOT_DIR) sdks.push(process.env.CLOUDSDK_ROOT_DIR);
  const gcloud = onPath("gcloud");
  if (gcloud) {
    try {
      // <sdk>/bin/gcloud, often behind a symlink in /usr/bin.
      sdks.push(dirname(dirname(realpathSync(gcloud))));
    } catch {
      // a dangling link: no SDK there
    }
  }
  return sdks.map((sdk) => join(sdk, EMULATOR_IN_SDK)).find(executable);
}

export function emulatorAvailable(): boolean {
  return emulatorBinary() !== undefined;
}

export interface PubSubEmulator {
  /** `127.0.0.1:<port>`: the value for PUBSUB_EMULATOR_HOST. */
  readonly host: string;
  /** Stops the emulator's whole process tree and waits for it to end. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Starts the emulator and resolves once it answers HTTP on its port (polled, no fixed wait). */
export async function startPubSubEmulator(timeoutMs = 60_000): Promise<PubSubEmulator> {
  const bin = emulatorBinary();
  if (!bin) throw new Error(EMULATOR_MISSING);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn(bin, [`--host=127.0.0.1`, `--port=${port}`], {
    // Its own process group, so stop() reaches the JVM and anything it started.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    // A modest heap and a single-threaded collector: the test machines have 2 cores.
    env: {
      ...process.env,
      CLOUD_PUBSUB_EMULATOR_OPTS:
        process.env.CLOUD_PUBSUB_EMULATOR_OPTS ?? "-Xmx512m -XX:+UseSerialGC",
    },
  });
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  // If the test process ends without stop(), the emulator must not outlive it.
  const onExit = () => killGroup(child, "SIGKILL");
  process.once("exit", onExit);

  const stop = async () => {
    process.removeListener("exit", onExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = exited(child);
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
    await gone;
    clearTimeout(timer);
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the Pub/Sub emulator (${bin}) exited before answering:\n${log}`);
    }
    try {
      const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.ok) return { host, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `the Pub/Sub emulator did not answer on ${host} within ${timeoutMs} ms:\n${log}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface TcpGate {
  /** `127.0.0.1:<port>`: connect here instead of the target. */
  readonly host: string;
  /** While closed, new connections are cut at once and open ones are cut. */
  setOpen(open: boolean): void;
  close(): Promise<void>;
}

/**
 * A plain TCP forwarder with a switch, to put faults in front of the emulator: gRPC runs over
 * HTTP/2, which the project's HTTP/1 fault proxy cannot carry, but bytes forward fine. Closed,
 * it makes the client see UNAVAILABLE, as a network outage would.
 */
export async function startTcpGate(target: string): Promise<TcpGate> {
  const [targetHost = "127.0.0.1", targetPort = "0"] = target.split(":");
  let open = true;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(targetPort), targetHost);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    setOpen(value) {
      open = value;
      if (!open) for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
