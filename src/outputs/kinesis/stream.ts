import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { awsCredentials } from "../../input/aws-clients.js";
import type { KinesisOutputConfig } from "./config.js";
import type { StreamLocation } from "./errors.js";

/** One PutRecords entry as sent. */
export interface PutEntry {
  readonly data: Uint8Array;
  readonly partitionKey: string;
}

/** The outcome of one entry, in request order: no `errorCode` means stored. */
export interface PutEntryResult {
  readonly errorCode?: string | undefined;
  readonly errorMessage?: string | undefined;
}

export interface StreamSummary {
  readonly status: string;
  /** The stream's largest record (data plus partition key), when the service says. */
  readonly maxRecordBytes?: number | undefined;
}

/**
 * The two calls the output makes, behind our own interface so the buffering and retry logic is
 * unit-tested with a fake. Both throw the SDK's errors as they are; the output classifies them.
 */
export interface KinesisStreamApi {
  readonly location: StreamLocation;
  putRecords(entries: readonly PutEntry[], signal?: AbortSignal): Promise<PutEntryResult[]>;
  describe(signal?: AbortSignal): Promise<StreamSummary>;
  destroy(): void;
}

/**
 * Region: the config's `aws_region`, else AWS_REGION, else AWS_DEFAULT_REGION (the CLI's
 * variable), else us-east-1. Resolved here rather than by the SDK so that messages can name it.
 */
export function resolveRegion(
  cfg: Pick<KinesisOutputConfig, "aws_region">,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return cfg.aws_region || env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
}

/**
 * The SDK client. Credentials: the config's key pair when both keys are set, else the SDK's
 * default chain (environment, profile, web identity, container and instance roles). Endpoint:
 * the SDK's own AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL, for local servers (kinesalite).
 * HTTP/1.1 with keep-alive: the client defaults to HTTP/2, which only SubscribeToShard needs;
 * PutRecords and DescribeStreamSummary work over HTTP/1.1 on AWS and on kinesalite (which speaks
 * nothing else). The SDK does not retry (`maxAttempts: 1`): the output's own retry loop does,
 * so that a partial failure resends only the failed entries and attempts stay bounded.
 */
export function createKinesisClient(
  cfg: KinesisOutputConfig,
  region: string,
  maxSockets: number,
): KinesisClient {
  const credentials = awsCredentials({
    aws_region: region,
    aws_access_key_id: cfg.aws_access_key_id,
    aws_secret_access_key: cfg.aws_secret_access_key,
  });
  return new KinesisClient({
    region,
    ...(credentials ? { credentials } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 10_000,
      // A 5 MiB request on a slow link still moves bytes; 30 s of silence is a dead socket.
      requestTimeout: 30_000,
    }),
  });
}

export class SdkKinesisStream implements KinesisStreamApi {
  readonly location: StreamLocation;

  constructor(
    private readonly client: KinesisClient,
    streamName: string,
    region: string,
  ) {
    this.location = { streamName, region };
  }

  async putRecords(entries: readonly PutEntry[], signal?: AbortSignal) {
    const res = await this.client.send(
      new PutRecordsCommand({
        StreamName: this.location.streamName,
        Records: entries.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey })),
      }),
      signal ? { abortSignal: signal } : {},
    );
    const records = res.Records ?? [];
    if (records.length !== entries.length) {
      // The API promises one result per entry, in order; anything else cannot be matched up,
      // so every entry is treated as failed (sent again: a duplicate at worst, never a loss).
      return entries.map(() => ({
        errorCode: "InternalFailure",
        errorMessage: `PutRecords answered ${records.length} results for ${entries.length} records`,
      }));
    }
    return records.map((r) => ({ errorCode: r.ErrorCode, errorMessage: r.ErrorMessage }));
  }

  async describe(signal?: AbortSignal): Promise<StreamSummary> {
    const res = await this.client.send(
      new DescribeStreamSummaryCommand({ StreamName: this.location.streamName }),
      signal ? { abortSignal: signal } : {},
    );
    const summary = res.StreamDescriptionSummary;
    const kib = summary?.MaxRecordSizeInKiB;
    return {
      status: summary?.StreamStatus ?? "UNKNOWN",
      maxRecordBytes: typeof kib === "number" && kib > 0 ? kib * 1024 : undefined,
    };
  }

  destroy(): void {
    this.client.destroy();
  }
}
