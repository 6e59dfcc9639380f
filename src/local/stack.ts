import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";
import {
  bucketName,
  isStreamName,
  queueName,
  STREAM_NAMES,
  STREAM_TYPES,
  type StreamType,
  streamTypeOf,
  topicName,
} from "./names.js";

export type { StreamName, StreamType } from "./names.js";

/**
 * Red Canary's side of the export on this machine: fauxqs (SQS, SNS, S3) on 127.0.0.1,
 * provisioned through the official SDK clients as Red Canary provisions a customer: one
 * telemetry bucket, the three `rc-*-file-added-<ns>` topics, and the six
 * `canaryexporter-<stream>[-test]-file-added-<customer>` queues, each subscribed to the topic
 * of its stream type.
 *
 * Queue URLs: fauxqs names queues `http://sqs.<region>.localhost:PORT/...`, a host that does
 * not resolve here. The stack rewrites them at the HTTP boundary so that every client sees
 * `http://127.0.0.1:PORT/000000000000/NAME` (CreateQueue, GetQueueUrl, ListQueues answers) and
 * may send either form back.
 */

export interface LocalStackOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Default "demo". */
  readonly customerIdentifier?: string;
  /** External-service namespace in topic and bucket names. Default "demo-ns". */
  readonly namespace?: string;
  /** Default "us-east-2", Red Canary's region. */
  readonly region?: string;
  /** SNS raw message delivery on every subscription. Default false (SNS envelope). */
  readonly rawDelivery?: boolean;
  /** Extra attributes for every queue (e.g. VisibilityTimeout). */
  readonly queueAttributes?: Record<string, string>;
}

export interface LocalStack {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly region: string;
  readonly customerIdentifier: string;
  readonly namespace: string;
  readonly bucket: string;
  /** The topic a stream type (or stream name: `native-test` reads `native`) is published on. */
  topicArn(stream: string): string;
  /** Accepts a stream name (`standardized-test`) or a full queue name. Host is 127.0.0.1. */
  queueUrl(stream: string): string;
  /** The variables that point the AWS SDK (and CLI) at this stack. */
  env(): Record<string, string>;
  readonly s3: S3Client;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  /** Approximate counts, as the SQS console shows them. */
  queueDepth(stream: string): Promise<{ visible: number; inFlight: number }>;
  /** Closes the clients and the server; pending long polls end. Idempotent. */
  stop(): Promise<void>;
}

export const LOCAL_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" } as const;

/**
 * Options for any AWS SDK v3 client (S3, SNS, SQS, ...) against a local endpoint: path-style S3,
 * SQS calls to the endpoint rather than the queue URL host, static test credentials.
 */
export function localClientConfig(endpoint: string, region: string) {
  return {
    endpoint,
    region,
    credentials: { ...LOCAL_CREDENTIALS },
    forcePathStyle: true,
    useQueueUrlAsEndpoint: false,
  };
}

const ACCOUNT_RE = /^\/(\d{12})\/([^/]+)$/;
const CREDENTIAL_SCOPE_RE = /Credential=[^/]+\/\d{8}\/([^/]+)\//;

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const region = opts.region ?? "us-east-2";
  const customer = opts.customerIdentifier ?? "demo";
  const namespace = opts.namespace ?? "demo-ns";
  const app = buildApp({ logger: false, defaultRegion: region });
  let port = 0;
  installQueueUrlRewrite(app, () => port, region);
  try {
    // Loopback only: the fauxqs bin would bind 0.0.0.0.
    await app.listen({ port: opts.port ?? 0, host: "127.0.0.1" });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  if (!address || typeof address === "string") throw new Error("fauxqs did not report a TCP port");
  port = address.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const config = localClientConfig(endpoint, region);
  const s3 = new S3Client(config);
  const sns = new SNSClient(config);
  const sqs = new SQSClient(config);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    s3.destroy();
    sns.destroy();
    sqs.destroy();
    await app.close();
  };

  try {
    const bucket = bucketName(namespace);
    const topicArns = new Map<StreamType, string>();
    const queueUrls = new Map<string, string>();
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region === "us-east-1"
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: region as "us-east-2" } }),
      }),
    );
    await Promise.all(
      STREAM_TYPES.map(async (t) => {
        const res = await sns.send(new CreateTopicCommand({ Name: topicName(t, namespace) }));
        if (!res.TopicArn)
          throw new Error(`CreateTopic ${topicName(t, namespace)} returned no ARN`);
        topicArns.set(t, res.TopicArn);
      }),
    );
    await Promise.all(
      STREAM_NAMES.map(async (stream) => {
        const name = queueName(stream, customer);
        const topicArn = topicArns.get(streamTypeOf(stream)) ?? "";
        const queueArn = `arn:aws:sqs:${region}:000000000000:${name}`;
        const created = await sqs.send(
          new CreateQueueCommand({
            QueueName: name,
            Attributes: { Policy: snsDeliveryPolicy(queueArn, topicArn), ...opts.queueAttributes },
          }),
        );
        if (!created.QueueUrl) throw new Error(`CreateQueue ${name} returned no URL`);
        queueUrls.set(name, created.QueueUrl);
        const attrs = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: created.QueueUrl,
            AttributeNames: ["QueueArn"],
          }),
        );
        await sns.send(
          new SubscribeCommand({
            TopicArn: topicArn,
            Protocol: "sqs",
            Endpoint: attrs.Attributes?.QueueArn ?? queueArn,
            Attributes: { RawMessageDelivery: opts.rawDelivery ? "true" : "false" },
            ReturnSubscriptionArn: true,
          }),
        );
      }),
    );

    const queueUrl = (stream: string): string => {
      const name = isStreamName(stream) ? queueName(stream, customer) : stream;
      const url = queueUrls.get(name);
      if (!url) throw new Error(`no queue "${name}" in the local stack`);
      return url;
    };
    return {
      endpoint,
      region,
      customerIdentifier: customer,
      namespace,
      bucket,
      topicArn: (stream) => {
        const arn = isStreamName(stream) ? topicArns.get(streamTypeOf(stream)) : undefined;
        if (!arn) throw new Error(`no topic for stream "${stream}" in the local stack`);
        return arn;
      },
      queueUrl,
      env: () => ({
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      }),
      s3,
      sns,
      sqs,
      queueDepth: async (stream) => {
        const res = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queueUrl(stream),
            AttributeNames: [
              "ApproximateNumberOfMessages",
              "ApproximateNumberOfMessagesNotVisible",
            ],
          }),
        );
        return {
          visible: Number(res.Attributes?.ApproximateNumberOfMessages ?? 0),
          inFlight: Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
        };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The queue policy AWS requires for SNS to deliver to SQS (fauxqs stores it, does not enforce). */
function snsDeliveryPolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queueArn,
        Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
      },
    ],
  });
}

type FauxqsApp = ReturnType<typeof buildApp>;

/**
 * SQS JSON-protocol requests carrying `QueueUrl: http://127.0.0.1:PORT/ACCOUNT/NAME` are mapped
 * to fauxqs's internal URL; responses carrying internal URLs are mapped back.
 */
function installQueueUrlRewrite(app: FauxqsApp, port: () => number, defaultRegion: string) {
  const isSqs = (contentType: string | undefined) => (contentType ?? "").includes("x-amz-json-1.0");
  app.addHook("preHandler", async (request) => {
    if (!isSqs(request.headers["content-type"])) return;
    const body = request.body as { QueueUrl?: unknown } | null;
    if (!body || typeof body.QueueUrl !== "string") return;
    let url: URL;
    try {
      url = new URL(body.QueueUrl);
    } catch {
      return;
    }
    const match = ACCOUNT_RE.exec(url.pathname);
    if (!match || url.hostname.startsWith("sqs.")) return;
    const auth = request.headers.authorization ?? "";
    const region = CREDENTIAL_SCOPE_RE.exec(auth)?.[1] ?? defaultRegion;
    body.QueueUrl = `http://sqs.${region}.localhost:${port()}${url.pathname}`;
  });
  app.addHook("onSend", async (request, _reply, payload) => {
    if (!isSqs(request.headers["content-type"]) || typeof payload !== "string") return payload;
    return payload.replace(/http:\/\/sqs\.[a-z0-9-]+\.localhost:(\d+)\//g, "http://127.0.0.1:$1/");
  });
}
