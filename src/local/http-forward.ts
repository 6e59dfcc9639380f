import { type IncomingMessage, request, type ServerResponse } from "node:http";

/**
 * Pipes a request to `target` unchanged and its answer back, for the project's local stand-ins
 * and test proxies. `onResponse` may take over the answer's body (after the status and headers
 * were written); by default it is piped through. An unreachable upstream answers 502.
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  onResponse?: (upstream: IncomingMessage, res: ServerResponse) => void,
): void {
  const up = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (onResponse) onResponse(upRes, res);
      else upRes.pipe(res);
    },
  );
  up.on("error", () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
}
