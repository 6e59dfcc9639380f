import type { Output, OutputContext } from "../../core/types.js";
import type { KinesisOutputConfig } from "./config.js";
import { KinesisOutput, type KinesisOutputOptions } from "./kinesis-output.js";
import { createKinesisClient, resolveRegion, SdkKinesisStream } from "./stream.js";

export { KinesisOutput, type KinesisOutputOptions } from "./kinesis-output.js";

const DEFAULT_IN_FLIGHT_REQUESTS = 4;

/** The registry's factory: the output with its SDK client (region, credentials, endpoint). */
export function createKinesisOutput(
  cfg: KinesisOutputConfig,
  ctx: OutputContext,
  id: string,
  options: Omit<KinesisOutputOptions, "stream"> = {},
): Output {
  const region = resolveRegion(cfg);
  const inFlight = options.maxInFlightRequests ?? DEFAULT_IN_FLIGHT_REQUESTS;
  const client = createKinesisClient(cfg, region, inFlight + 1);
  const stream = new SdkKinesisStream(client, cfg.stream_name, region);
  return new KinesisOutput(cfg, ctx, id, {
    ...options,
    maxInFlightRequests: inFlight,
    stream,
  });
}
