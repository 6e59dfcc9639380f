import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { waitFor } from "./harness.js";

// kinesalite is CommonJS without types: its factory returns an http.Server.
const kinesalite = createRequire(import.meta.url)("kinesalite") as (opts: {
  createStreamMs?: number;
  deleteStreamMs?: number;
  updateStreamMs?: number;
  shardLimit?: number;
}) => Server;

export interface Kinesalite {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL_KINESIS. */
  readonly endpoint: string;
  /** A client for the tests themselves (HTTP/1.1: kinesalite speaks no HTTP/2). */
  readonly client: KinesisClient;
  stop(): Promise<void>;
}

/** Starts kinesalite in this process, in memory, on 127.0.0.1 and an ephemeral port. */
export async function startKinesalite(): Promise<Kinesalite> {
  // Its default account limit of 10 shards would allow only a few streams per test file.
  const server = kinesalite({
    createStreamMs: 50,
    deleteStreamMs: 50,
    updateStreamMs: 50,
    shardLimit: 1000,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = kinesisTestClient(endpoint);
  return {
    endpoint,
    client,
    stop: async () => {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function kinesisTestClient(endpoint: string): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    requestHandler: new NodeHttpHandler(),
  });
}

/** Creates a stream and resolves once it is ACTIVE. */
export async function createStream(client: KinesisClient, name: string, shards = 1) {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitFor(async () => {
    const res = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    return res.StreamDescriptionSummary?.StreamStatus === "ACTIVE";
  }, `stream ${name} to become ACTIVE`);
}

export interface StoredRecord {
  readonly shardId: string;
  readonly partitionKey: string;
  readonly sequenceNumber: string;
  /** The data as UTF-8 text. */
  readonly data: string;
}

/** Every record of every shard (TRIM_HORIZON), each shard's records in sequence order. */
export async function readStream(client: KinesisClient, name: string): Promise<StoredRecord[]> {
  const shards = await client.send(new ListShardsCommand({ StreamName: name }));
  const out: StoredRecord[] = [];
  for (const shard of shards.Shards ?? []) {
    const shardId = shard.ShardId as string;
    const it = await client.send(
      new GetShardIteratorCommand({
        StreamName: name,
        ShardId: shardId,
        ShardIteratorType: "TRIM_HORIZON",
      }),
    );
    let iterator = it.ShardIterator;
    while (iterator) {
      const res = await client.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }),
      );
      const records = res.Records ?? [];
      for (const r of records) {
        out.push({
          shardId,
          partitionKey: r.PartitionKey as string,
          sequenceNumber: r.SequenceNumber as string,
          data: Buffer.from(r.Data ?? new Uint8Array()).toString("utf8"),
        });
      }
      // An open shard always returns a next iterator: an empty page means we are at the tip.
      if (records.length === 0) break;
      iterator = res.NextShardIterator;
    }
  }
  return out;
}
