import path from "node:path";
import express from "express";

/** The public look-up (/public/) and the consumer's page (/me/): plain HTML, CSS and ES modules, no build step. */
export const PUBLIC_WEB_DIR = __dirname;

/** ethers' browser ES module, served from the installed package so the page and the gateway sign the same way. */
// (ethers exports no package.json: its CommonJS entry is lib.commonjs/index.js, one folder below the package.)
const ETHERS_ESM = path.join(path.dirname(require.resolve("ethers")), "..", "dist", "ethers.min.js");

/**
 * Everything the pages load comes from this gateway: no other origin, no inline script. The consumer's key lives in
 * the page's localStorage; a script from elsewhere could read it, which this policy forbids.
 */
const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
].join("; ");

function headers(res: express.Response, cache: string) {
  res.setHeader("content-security-policy", CSP);
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("cache-control", cache);
}

export function mountPublicWeb(app: express.Express) {
  const page = (dir: string) => express.static(path.join(PUBLIC_WEB_DIR, dir), {
    index: "index.html", redirect: true, fallthrough: true, setHeaders: (res) => headers(res as express.Response, "no-cache"),
  });
  app.use("/public", page("public"));
  app.use("/me", page("me"));
  app.use("/web-public/shared", page("shared"));
  app.get("/web-public/vendor/ethers.js", (_req, res) => {
    headers(res, "public, max-age=86400");
    res.type("text/javascript").sendFile(ETHERS_ESM);
  });
}
