import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { fileURLToPath } from "node:url";

/**
 * Azurite (Microsoft's Azure Storage emulator), blob service only, as a child process on
 * 127.0.0.1 for tests: in-memory storage, a free port chosen by Azurite itself (`--blobPort 0`,
 * read back from its start-up line), ready once it answers HTTP. Reusable by any test that needs
 * Azure Blob Storage; each call starts its own server.
 */
export interface Azurite {
  /** The account's blob endpoint, path-style as Azurite serves it: `http://127.0.0.1:PORT/devstoreaccount1`. */
  readonly endpoint: string;
  /** `http://127.0.0.1:PORT`, without the account (for a proxy's upstream). */
  readonly origin: string;
  readonly account: string;
  readonly key: string;
  /** What Azure tools read from AZURE_STORAGE_CONNECTION_STRING to use this server. */
  readonly connectionString: string;
  /** Kills the server and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Azurite's well-known development account and key (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const BIN = fileURLToPath(new URL("../../node_modules/.bin/azurite-blob", import.meta.url));

/**
 * Runs Azurite's own entry point (what `.bin/azurite-blob` links to) in a Node process that
 * shuts it down when its stdin closes, which happens whenever the test process ends, even when
 * it is killed without running stop() (a test worker torn down, a crash): no server outlives
 * its tests.
 */
const WATCHDOG = `
const main = require("node:fs").realpathSync(process.argv[1]);
process.stdin.on("end", () => {
  process.kill(process.pid, "SIGTERM");
  setTimeout(() => process.exit(1), 3000).unref();
}).resume();
process.argv[1] = main;
require(main);
`;

export async function startAzurite(timeoutMs = 30_000): Promise<Azurite> {
  const child = spawn(
    process.execPath,
    [
      "-e",
      WATCHDOG,
      BIN,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      "0",
      "--inMemoryPersistence",
      "--silent",
      "--disableTelemetry",
      // Azurite 3.35 rejects the API version of the current SDK without this.
      "--skipApiVersionCheck",
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const origin = await listeningOrigin(child, timeoutMs);
    await waitUntilAnswering(origin, timeoutMs);
    const endpoint = `${origin}/${AZURITE_ACCOUNT}`;
    let stopped: Promise<void> | undefined;
    return {
      endpoint,
      origin,
      account: AZURITE_ACCOUNT,
      key: AZURITE_KEY,
      connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
      stop() {
        stopped ??= kill(child, exited);
        return stopped;
      },
    };
  } catch (err) {
    await kill(child, exited);
    throw err;
  }
}

/** Resolves with `http://127.0.0.1:PORT` once Azurite logs the address it listens on. */
function listeningOrigin(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => done(new Error(`Azurite did not start within ${timeoutMs} ms: ${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m?.[1]) done(undefined, m[1]);
    };
    const onExit = (code: number | null) =>
      done(new Error(`Azurite exited with code ${code} before listening: ${output}`));
    const onError = (err: Error) => done(err);
    function done(err: Error | undefined, origin?: string) {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
      // Keep draining its output so a chatty server never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (err) reject(err);
      else resolve(origin as string);
    }
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

/** Polls until the server answers any HTTP request (a status, even an error, is an answer). */
async function waitUntilAnswering(origin: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const req = request(`${origin}/${AZURITE_ACCOUNT}?comp=list`, { method: "GET" }, (res) => {
        res.resume();
        resolve(true);
      });
      req.setTimeout(1_000, () => req.destroy());
      req.once("error", () => resolve(false));
      req.end();
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`Azurite at ${origin} did not answer`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
