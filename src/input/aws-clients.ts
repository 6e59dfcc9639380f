import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { NodeHttpHandler } from "@smithy/node-http-handler";

export interface AwsInputSettings {
  readonly aws_region: string;
  readonly aws_access_key_id?: string | undefined;
  readonly aws_secret_access_key?: string | undefined;
  readonly aws_session_token?: string | undefined;
}

/**
 * Static keys when the config gives them (Red Canary's generated key pair); otherwise
 * `undefined`, which makes the SDK use its default provider chain: environment, shared
 * profile, web identity, container and instance roles.
 */
export function awsCredentials(s: AwsInputSettings) {
  if (s.aws_access_key_id && s.aws_secret_access_key) {
    return {
      accessKeyId: s.aws_access_key_id,
      secretAccessKey: s.aws_secret_access_key,
      ...(s.aws_session_token ? { sessionToken: s.aws_session_token } : {}),
    };
  }
  return undefined;
}

/** True when the standard variables point a service at another endpoint (a local stack). */
export function endpointOverridden(service: "SQS" | "S3", env = process.env): boolean {
  return Boolean(env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL);
}

function httpHandler(maxSockets: number) {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
    connectionTimeout: 10_000,
    // Long polls last up to 20 s; a socket silent for longer than this is dead. (Not
    // requestTimeout: that bounds a whole request, and streaming a large object takes minutes.)
    socketTimeout: 60_000,
  });
}

/**
 * The input's clients. Endpoints come from the SDK's own variables (AWS_ENDPOINT_URL,
 * AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_S3). With an override in force, SQS calls go to
 * that endpoint rather than to the queue URL's host, and S3 uses path-style addressing:
 * what local servers need.
 */
export function createInputClients(s: AwsInputSettings, maxConcurrentFiles: number) {
  const credentials = awsCredentials(s);
  const common = { region: s.aws_region, ...(credentials ? { credentials } : {}), maxAttempts: 5 };
  const sqs = new SQSClient({
    ...common,
    requestHandler: httpHandler(16),
    ...(endpointOverridden("SQS") ? { useQueueUrlAsEndpoint: false } : {}),
  });
  const s3 = new S3Client({
    ...common,
    requestHandler: httpHandler(Math.max(8, maxConcurrentFiles * 2)),
    ...(endpointOverridden("S3") ? { forcePathStyle: true } : {}),
  });
  return { sqs, s3 };
}
