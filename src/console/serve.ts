import path from "node:path";
import express from "express";

/** The console's files: plain HTML, CSS and ES modules, served as they are (no build step). */
export const CONSOLE_DIR = path.join(__dirname, "public");

/**
 * Everything the console loads comes from this gateway: the policy refuses other origins, inline scripts and
 * plugins, so a page that tried to reach the network elsewhere would fail loudly in the browser tests.
 */
const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
].join("; ");

/** Serves the web console at `/` and its files under `/console/`. */
export function mountConsole(app: express.Express) {
  const headers = (res: express.Response) => {
    res.setHeader("content-security-policy", CSP);
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("referrer-policy", "no-referrer");
    res.setHeader("cache-control", "no-cache");
  };
  app.get("/", (_req, res) => {
    headers(res);
    res.sendFile(path.join(CONSOLE_DIR, "index.html"));
  });
  app.use("/console", express.static(CONSOLE_DIR, { index: false, fallthrough: true, setHeaders: (res) => headers(res as express.Response) }));
}
