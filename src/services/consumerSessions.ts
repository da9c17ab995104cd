import crypto from "node:crypto";
import { verifyMessage } from "ethers";
import { Principal } from "./principal";
import { Refusal } from "../errors";
import { Db } from "../store/db";

/**
 * Consumers sign in with the key their card is held by, instead of an API key: the bureau cannot hand out keys to
 * millions of people, and the key never leaves the consumer's browser. The gateway gives a one-time challenge (a
 * plain-text message, EIP-191 personal_sign, like Sign-In with Ethereum); a signature by the address proves the
 * caller holds the key and buys a session of SESSION_SECONDS with the consumer's rights (their own cards). A
 * personal_sign message cannot be mistaken for a consumption voucher (EIP-712) or a transaction, so signing in
 * moves no money.
 */

export const CHALLENGE_SECONDS = 300;
export const SESSION_SECONDS = 3600;

const now = () => Math.floor(Date.now() / 1000);
const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");

export async function createChallenge(db: Db, address: string, chainId: number, host: string) {
  const nonce = crypto.randomBytes(16).toString("hex");
  const expiresAt = now() + CHALLENGE_SECONDS;
  const message = [
    `${host} asks you to sign in to the prepaid-card custody gateway with your card key.`,
    "",
    `Address: ${address}`,
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Expires: ${new Date(expiresAt * 1000).toISOString()}`,
    "",
    "This signature only proves that you hold the key. It confirms no lesson and moves no money.",
  ].join("\n");
  await db.query("DELETE FROM consumer_challenges WHERE expires_at < $1", [now()]);
  await db.query("INSERT INTO consumer_challenges (nonce, address, message, expires_at) VALUES ($1, $2, $3, $4)", [nonce, address, message, expiresAt]);
  return { nonce, message, expiresAt };
}

/** Checks a signed challenge (once) and opens a session; the token is returned once and only its hash kept. */
export async function openSession(db: Db, address: string, nonce: string, signature: string) {
  const [c] = await db.query<{ address: string; message: string; expires_at: string }>(
    "DELETE FROM consumer_challenges WHERE nonce = $1 RETURNING address, message, expires_at", [nonce]);
  if (!c || Number(c.expires_at) < now()) throw new Refusal("unauthenticated", "InvalidChallenge", "the challenge is unknown, used or expired; ask for a new one");
  if (c.address !== address) throw new Refusal("unauthenticated", "InvalidChallenge", "the challenge was issued to another address");
  let signer = "";
  try {
    signer = verifyMessage(c.message, signature).toLowerCase();
  } catch {
    signer = "";
  }
  if (signer !== address) throw new Refusal("unauthenticated", "InvalidSignature", `the challenge was not signed by ${address}`);
  const id = crypto.randomBytes(6).toString("hex");
  const token = `cs_${id}_${crypto.randomBytes(24).toString("base64url")}`;
  const expiresAt = now() + SESSION_SECONDS;
  await db.query("DELETE FROM consumer_sessions WHERE expires_at < $1", [now()]);
  await db.query("INSERT INTO consumer_sessions (id, token_hash, address, expires_at) VALUES ($1, $2, $3, $4)", [id, sha256(token), address, expiresAt]);
  return { token, address, expiresAt };
}

/**
 * Wraps the API-key authenticator: a `cs_` bearer token is a consumer session, anything else goes to `inner`.
 * Sessions are read from the store on every request (consumers read a few cards; no cache to go stale).
 */
/** What a session is read from: the request's headers (an express Request has them). */
export interface HeaderSource {
  header(name: string): string | undefined;
}

export function withConsumerSessions<R extends HeaderSource>(db: Db, inner: (req: R) => Promise<Principal | null>) {
  return async function authenticate(req: R): Promise<Principal | null> {
    const header = req.header("x-api-key") ?? req.header("authorization")?.replace(/^Bearer\s+/i, "");
    if (!header?.startsWith("cs_")) return inner(req);
    const m = /^cs_([0-9a-f]{12})_[A-Za-z0-9_-]{32}$/.exec(header);
    if (!m) throw new Refusal("unauthenticated", "InvalidSession", "the session token is malformed");
    const [row] = await db.query<{ token_hash: string; address: string; expires_at: string }>("SELECT token_hash, address, expires_at FROM consumer_sessions WHERE id = $1", [m[1]]);
    const ok = row && crypto.timingSafeEqual(Buffer.from(row.token_hash, "hex"), Buffer.from(sha256(header), "hex"));
    if (!ok) throw new Refusal("unauthenticated", "InvalidSession", "unknown session; sign in again");
    if (Number(row.expires_at) < now()) throw new Refusal("unauthenticated", "SessionExpired", "the session has expired; sign in again");
    return { keyId: `session:${m[1]}`, role: "consumer", subject: row.address, label: "consumer session" };
  };
}
