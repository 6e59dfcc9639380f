import type { Output, OutputContext } from "../../core/types.js";
import type { PubsubOutputConfig } from "./config.js";
import { GoogleTopicPublisher } from "./publisher.js";
import { PubSubOutput } from "./pubsub-output.js";

export { ATTRIBUTES, MAX_MESSAGE_BYTES } from "./messages.js";
export { GoogleTopicPublisher, type TopicPublisher } from "./publisher.js";
export { PubSubOutput } from "./pubsub-output.js";

/** The registry's factory for `google_cloud_pubsub` outputs. */
export function createPubSubOutput(
  cfg: PubsubOutputConfig,
  ctx: OutputContext,
  id: string,
): Output {
  const publisher = new GoogleTopicPublisher({
    topicName: cfg.topic_name,
    credentialsJson: cfg.credentials_json,
  });
  return new PubSubOutput(publisher, { id, compression: cfg.compression_format }, ctx);
}
