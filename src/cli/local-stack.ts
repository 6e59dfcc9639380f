import { queueName, STREAM_NAMES, STREAM_TYPES, topicName } from "../local/names.js";
import { type RedCanaryStandIn, startRedCanaryStandIn } from "../local/redcanary-standin.js";
import { type LocalStack, startLocalStack } from "../local/stack.js";

export interface LocalStackCommandOptions {
  /** Default 4566, the port local AWS emulators usually take; 0 picks a free one. */
  port?: number | undefined;
  /** The Red Canary API stand-in's port. Default: `port + 1` (4567), or a free one with port 0. */
  apiPort?: number | undefined;
  customer?: string | undefined;
  namespace?: string | undefined;
  region?: string | undefined;
  rawDelivery?: boolean | undefined;
  out: NodeJS.WritableStream;
  err?: NodeJS.WritableStream | undefined;
  /** Stops the stack like SIGINT does (for tests and embedding). */
  signal?: AbortSignal | undefined;
}

/**
 * `canary-exporter local-stack`: starts the local Red Canary side (SQS, SNS, S3 on 127.0.0.1,
 * and the Red Canary API stand-in serving the simulator's endpoints),
 * prints how to point the exporter at it, and runs until SIGINT or SIGTERM. Resolves with the
 * exit code: 0 after a clean stop, 1 when the stack cannot start (port in use, ...).
 */
export async function localStackCommand(opts: LocalStackCommandOptions): Promise<number> {
  const say = (s: string) => opts.out.write(`${s}\n`);
  const err = opts.err ?? process.stderr;
  const cannotStart = (e: unknown, usedPort: number, option: string): number => {
    const code = (e as { code?: unknown }).code;
    const why =
      code === "EADDRINUSE"
        ? `port ${usedPort} is in use (try ${option} 0)`
        : String((e as Error).message ?? e);
    err.write(`canary-exporter local-stack: cannot start: ${why}\n`);
    return 1;
  };
  let stack: LocalStack;
  let api: RedCanaryStandIn;
  const port = opts.port ?? 4566;
  const apiPort = opts.apiPort ?? (port === 0 ? 0 : port + 1);
  try {
    stack = await startLocalStack({
      port,
      customerIdentifier: opts.customer ?? "demo",
      namespace: opts.namespace ?? "demo-ns",
      region: opts.region ?? "us-east-2",
      rawDelivery: opts.rawDelivery ?? false,
    });
  } catch (e) {
    return cannotStart(e, port, "--port");
  }
  try {
    api = await startRedCanaryStandIn({ port: apiPort });
  } catch (e) {
    await stack.stop();
    return cannotStart(e, apiPort, "--api-port");
  }
  try {
    say(
      `Red Canary's side, simulated on ${stack.endpoint} (fauxqs: SQS, SNS, S3; state in memory)`,
    );
    say("");
    say(`bucket   ${stack.bucket}`);
    for (const t of STREAM_TYPES)
      say(`topic    ${topicName(t, stack.namespace).padEnd(44)} ${stack.topicArn(t)}`);
    say(`queues   (SNS raw message delivery ${opts.rawDelivery ? "on" : "off"})`);
    for (const s of STREAM_NAMES) {
      say(`  ${queueName(s, stack.customerIdentifier).padEnd(52)} ${stack.queueUrl(s)}`);
    }
    say("");
    say("# point the exporter (and the AWS CLI) at it:");
    for (const [k, v] of Object.entries(stack.env())) say(`export ${k}=${v}`);
    say("");
    say("");
    say(
      `Red Canary API stand-in on ${api.url} (the simulator's endpoints; 10 requests/s and 20/min, as the real API)`,
    );
    say("# for endpoint enrichment, add to config.yaml:");
    say(`#   red_canary_authentication_token: ${api.token}`);
    say(`#   endpoint_enrichment: {api_url: "${api.url}"}`);
    say("");
    say("# then, in that shell:");
    say(`#   canary-exporter simulate --format standardized --files 10 --records 2500`);
    say(
      `#   canary-exporter run -c config.yaml   (customer_identifier: ${stack.customerIdentifier})`,
    );
    say("Ctrl-C stops it.");
    await untilStopped(opts.signal);
    say("stopping");
    return 0;
  } finally {
    await api.close();
    await stack.stop();
  }
}

/** Resolves on SIGINT, SIGTERM or the signal's abort; removes its listeners. */
function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
    if (signal?.aborted) done();
    else signal?.addEventListener("abort", done);
  });
}
