import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { ListTopicsCommand, SNSClient } from "@aws-sdk/client-sns";
import { TELEMETRY_FORMATS, type TelemetryFormat } from "../local/generators/index.js";
import { bucketName, topicName } from "../local/names.js";
import { simulate } from "../local/simulator.js";
import { localClientConfig } from "../local/stack.js";

export interface SimulateCommandOptions {
  /** Default: AWS_ENDPOINT_URL (as printed by `canary-exporter local-stack`). */
  endpoint?: string | undefined;
  /** Default: AWS_REGION, else us-east-2. */
  region?: string | undefined;
  /** native | standardized | cf-flattened. Default standardized. */
  format?: string | undefined;
  /** Default 10. */
  files?: number | undefined;
  /** Records per file. Default 2500. */
  records?: number | undefined;
  /** Default: a new seed per run (printed), so runs add new files; pass one to repeat a run. */
  seed?: number | undefined;
  /** Default demo-ns, as `local-stack`. */
  namespace?: string | undefined;
  filesPerNotification?: number | undefined;
  gzip?: boolean | undefined;
  out: NodeJS.WritableStream;
  err?: NodeJS.WritableStream | undefined;
}

/**
 * `canary-exporter simulate`: against a running local stack, uploads simulated telemetry files
 * and announces each on the stream's SNS topic, then prints a summary. Exit code 0 on success,
 * 1 when the stack is unreachable or lacks the bucket or topic, 2 for bad options.
 */
export async function simulateCommand(opts: SimulateCommandOptions): Promise<number> {
  const say = (s: string) => opts.out.write(`${s}\n`);
  const fail = (code: number, s: string) => {
    (opts.err ?? process.stderr).write(`canary-exporter simulate: ${s}\n`);
    return code;
  };
  const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    return fail(
      2,
      "no endpoint: start `canary-exporter local-stack`, export the AWS_ENDPOINT_URL it prints, or pass --endpoint",
    );
  }
  const format = opts.format ?? "standardized";
  if (!(TELEMETRY_FORMATS as readonly string[]).includes(format)) {
    return fail(2, `--format must be one of ${TELEMETRY_FORMATS.join(", ")}, not "${format}"`);
  }
  const files = opts.files ?? 10;
  const records = opts.records ?? 2500;
  for (const [name, v] of [
    ["files", files],
    ["records", records],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) return fail(2, `--${name} must be a positive integer`);
  }
  const seed = opts.seed ?? Date.now() % 2_147_483_647;
  const region = opts.region ?? process.env.AWS_REGION ?? "us-east-2";
  const namespace = opts.namespace ?? "demo-ns";
  const config = localClientConfig(endpoint, region);
  const s3 = new S3Client(config);
  const sns = new SNSClient(config);
  try {
    const bucket = bucketName(namespace);
    const topic = topicName(format as TelemetryFormat, namespace);
    let topicArn: string | undefined;
    try {
      await s3.send(new HeadBucketCommand({ Bucket: bucket }));
      let token: string | undefined;
      do {
        const page = await sns.send(new ListTopicsCommand({ NextToken: token }));
        topicArn ??= page.Topics?.find((t) => t.TopicArn?.endsWith(`:${topic}`))?.TopicArn;
        token = page.NextToken;
      } while (token && !topicArn);
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const why =
        status === 404 ? `no bucket ${bucket} (namespace ${namespace}?)` : (e as Error).message;
      return fail(1, `cannot use the local stack at ${endpoint}: ${why}`);
    }
    if (!topicArn)
      return fail(
        1,
        `no SNS topic ${topic} at ${endpoint}; is it a \`canary-exporter local-stack\` with namespace ${namespace}?`,
      );

    say(
      `simulating ${files} ${format} files x ${records} records (seed ${seed}) into s3://${bucket}, announced on ${topic}`,
    );
    const started = performance.now();
    let done = 0;
    const result = await simulate({
      target: { s3, sns, bucket, topicArn, region },
      format: format as TelemetryFormat,
      files,
      recordsPerFile: records,
      seed,
      namespace,
      gzip: opts.gzip ?? true,
      filesPerNotification: opts.filesPerNotification ?? 1,
      onFile: () => {
        done++;
        if (done % 10 === 0 && done < files) say(`  ${done}/${files} files`);
      },
    });
    const secs = (performance.now() - started) / 1000;
    const byType = new Map<string, number>();
    for (const f of result.files)
      for (const [t, n] of Object.entries(f.eventTypes)) byType.set(t, (byType.get(t) ?? 0) + n);
    say(
      `uploaded ${result.files.length} files, ${result.totalRecords.toLocaleString("en-US")} records, ${(result.totalBytes / 1e6).toFixed(2)} MB in ${secs.toFixed(2)} s (${Math.round(result.totalRecords / secs).toLocaleString("en-US")} records/s); ${result.notifications} SNS notifications`,
    );
    for (const [t, n] of [...byType.entries()].sort((a, b) => b[1] - a[1]))
      say(`  ${String(n).padStart(8)}  ${t}`);
    say(`repeat this exact run with --seed ${seed}`);
    return 0;
  } catch (e) {
    return fail(1, (e as Error).message);
  } finally {
    s3.destroy();
    sns.destroy();
  }
}
