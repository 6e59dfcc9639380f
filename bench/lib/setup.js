import { createReadStream } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SubscribeCommand, UnsubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { startLocalStack } from "../../dist/local/stack.js";

export const STREAM = "standardized";
export const CUSTOMER = "bench";

/** fauxqs on 127.0.0.1 in this process, provisioned like Red Canary's side. */
export async function startStack() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const stack = await startLocalStack({ port: 0, customerIdentifier: CUSTOMER });
  return {
    stack,
    target: {
      s3: stack.s3,
      sns: stack.sns,
      bucket: stack.bucket,
      topicArn: stack.topicArn(STREAM),
      region: stack.region,
    },
  };
}

/**
 * A new queue subscribed to the stream's topic, for one run. Each run gets its own queue: a
 * stopped exporter's last long poll stays open on the server, and a message published while it
 * is would be handed to that dead poll and stay invisible for the visibility timeout (fauxqs
 * does this; real SQS can too). `close` unsubscribes it.
 */
export async function freshQueue(stack, name) {
  const created = await stack.sqs.send(new CreateQueueCommand({ QueueName: name }));
  const attrs = await stack.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: created.QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  const sub = await stack.sns.send(
    new SubscribeCommand({
      TopicArn: stack.topicArn(STREAM),
      Protocol: "sqs",
      Endpoint: attrs.Attributes?.QueueArn,
      ReturnSubscriptionArn: true,
    }),
  );
  const queueUrl = created.QueueUrl;
  return {
    queueUrl,
    /** Waits until `messages` are visible in the queue, then unsubscribes it. */
    close: async (messages) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const res = await stack.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queueUrl,
            AttributeNames: ["ApproximateNumberOfMessages"],
          }),
        );
        const visible = Number(res.Attributes?.ApproximateNumberOfMessages ?? 0);
        if (visible >= messages) break;
        if (Date.now() > deadline) throw new Error(`${name}: ${visible} of ${messages} messages`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await stack.sns.send(new UnsubscribeCommand({ SubscriptionArn: sub.SubscriptionArn }));
    },
  };
}

/**
 * Writes an exporter config for the local stack: the seed's template with `outputs` (a list of
 * `{ directory, where? }`), reading `queueUrl`, plus the metrics listener the bench reads
 * progress from. `input` adds keys to the input section (`s3_select_where`, ...); `settings`
 * adds top-level keys, maps nested (`endpoint_enrichment: { api_url }`, ...).
 */
export async function writeConfig(
  path,
  { queueUrl, outputs, maxConcurrentFiles, metricsPort, deadLetter, input = {}, settings = {} },
) {
  const lines = [
    `customer_identifier: ${CUSTOMER}`,
    "input:",
    `  stream_name: ${STREAM}`,
    "  aws_region: us-east-2",
    "  aws_access_key_id: test",
    "  aws_secret_access_key: test",
    `  max_concurrent_files: ${maxConcurrentFiles}`,
    `  queue_url: ${queueUrl}`,
    ...yamlLines(input, "  "),
    ...yamlLines(settings, ""),
    "outputs:",
  ];
  for (const o of outputs) {
    lines.push("  - file:", `      directory: ${JSON.stringify(o.directory)}`);
    lines.push("      max_size_bytes: 10000000");
    if (o.where) {
      lines.push("      export_only_where:");
      for (const [field, values] of Object.entries(o.where)) {
        lines.push(`        ${field}: ${JSON.stringify(values)}`);
      }
    }
  }
  lines.push("dead_letter:", `  directory: ${JSON.stringify(deadLetter)}`);
  lines.push("metrics:", `  listen: 127.0.0.1:${metricsPort}`);
  lines.push("log_level: info", "");
  await writeFile(path, lines.join("\n"));
}

/** A map of scalars and nested maps as YAML lines; strings double-quoted (JSON is YAML). */
function yamlLines(map, indent) {
  const lines = [];
  for (const [key, value] of Object.entries(map)) {
    if (value === undefined) continue;
    if (value !== null && typeof value === "object") {
      lines.push(`${indent}${key}:`, ...yamlLines(value, `${indent}  `));
    } else {
      lines.push(`${indent}${key}: ${JSON.stringify(value)}`);
    }
  }
  return lines;
}

/** Lines and bytes in the `.json` files of an output directory. */
export async function countOutput(dir) {
  let names;
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".json") && !n.startsWith("."));
  } catch {
    return { files: 0, lines: 0, bytes: 0 };
  }
  let lines = 0;
  let bytes = 0;
  for (const name of names) {
    for await (const chunk of createReadStream(join(dir, name), { highWaterMark: 1 << 20 })) {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    }
  }
  return { files: names.length, lines, bytes };
}

/** Lines of every `.jsonl` file in a dead-letter directory, parsed. */
export async function readDeadLetter(dir) {
  const entries = [];
  let names = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".jsonl"));
  } catch {
    return entries;
  }
  for (const name of names) {
    let text = "";
    for await (const chunk of createReadStream(join(dir, name), { encoding: "utf8" })) {
      text += chunk;
    }
    for (const line of text.split("\n")) if (line) entries.push(JSON.parse(line));
  }
  return entries;
}

export async function freshDir(path) {
  await mkdir(path, { recursive: true });
  return path;
}

export const mb = (bytes) => bytes / 1e6;
export const fmt = (n, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
