import pino, { Logger } from "pino";

/** Never log these, wherever they appear in a logged object. */
const REDACT = [
  "password", "*.password", "apiKey", "*.apiKey", "privateKey", "*.privateKey", "key", "*.key",
  "req.headers.authorization", "req.headers[\"x-api-key\"]", "headers.authorization", "headers[\"x-api-key\"]",
];

export function createLogger(level = process.env.LOG_LEVEL ?? "info", destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service: "custody-gateway" } }, destination);
}

export type { Logger };
