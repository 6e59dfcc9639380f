import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { awsCredentials, endpointOverridden } from "../../input/aws-clients.js";
import type { S3OutputConfig } from "./config.js";

/** Region of the output's bucket when the config and the environment say nothing. */
export const DEFAULT_S3_OUTPUT_REGION = "us-east-1";

/**
 * `aws_region` of the output, else AWS_REGION, else AWS_DEFAULT_REGION (what the AWS CLI reads),
 * else us-east-1. A wrong guess costs one redirect: the client follows S3's region redirects.
 */
export function s3OutputRegion(
  cfg: Pick<S3OutputConfig, "aws_region">,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return cfg.aws_region || env.AWS_REGION || env.AWS_DEFAULT_REGION || DEFAULT_S3_OUTPUT_REGION;
}

/**
 * The output's own client, separate from the input's: the destination is the user's account,
 * not Red Canary's. Credentials: the config's key pair when both keys are set, else the SDK's
 * default chain (environment, shared profile, web identity, container and instance roles).
 * Endpoints: the SDK's own variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL); with one in force,
 * path-style addressing, as local servers need.
 */
export function createS3OutputClient(
  cfg: S3OutputConfig,
  env: NodeJS.ProcessEnv = process.env,
): S3Client {
  const region = s3OutputRegion(cfg, env);
  const credentials = awsCredentials({
    aws_region: region,
    aws_access_key_id: cfg.aws_access_key_id,
    aws_secret_access_key: cfg.aws_secret_access_key,
  });
  return new S3Client({
    region,
    ...(credentials ? { credentials } : {}),
    // A bucket in another region than the one configured answers with a redirect naming its
    // region; following it beats failing with "PermanentRedirect".
    followRegionRedirects: true,
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({
      // Two objects upload at once, each in up to four parts (lib-storage's queue).
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 16 }),
      connectionTimeout: 10_000,
      // A socket silent this long is dead: the SDK retries the request. (`requestTimeout` would
      // bound a whole request, and only warns on the console unless told to throw: a 5 MiB part
      // on a slow link may rightly take longer than any fixed bound.)
      socketTimeout: 120_000,
    }),
    ...(endpointOverridden("S3", env) ? { forcePathStyle: true } : {}),
  });
}
