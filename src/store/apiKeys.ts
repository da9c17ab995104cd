import { Db } from "./db";

/** The api_keys table: API keys by their id, only the secret's hash kept. */

export interface ApiKeyRow {
  id: string;
  key_hash: string;
  role: string;
  subject: string | null;
  label: string;
  revoked_at: unknown;
}

export interface ApiKeyListRow {
  id: string;
  role: string;
  subject: string | null;
  label: string;
  created_at: unknown;
  revoked_at: unknown;
}

type Query = Pick<Db, "query">;

export async function insertApiKey(db: Query, k: { id: string; keyHash: string; role: string; subject: string | null; label: string }): Promise<void> {
  await db.query("INSERT INTO api_keys (id, key_hash, role, subject, label) VALUES ($1, $2, $3, $4, $5)", [k.id, k.keyHash, k.role, k.subject, k.label]);
}

/** Marks the key revoked; false when there is no such key or it was revoked already. */
export async function markApiKeyRevoked(db: Query, id: string): Promise<boolean> {
  const rows = await db.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id", [id]);
  return rows.length > 0;
}

export async function apiKeyById(db: Query, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.query<ApiKeyRow & Record<string, unknown>>("SELECT id, key_hash, role, subject, label, revoked_at FROM api_keys WHERE id = $1", [id]);
  return row;
}

export async function apiKeysByIds(db: Query, ids: string[]): Promise<ApiKeyRow[]> {
  return db.query<ApiKeyRow & Record<string, unknown>>("SELECT id, key_hash, role, subject, label, revoked_at FROM api_keys WHERE id = ANY($1::text[])", [ids]);
}

/** Every key, in the order issued: of one role when given, the revoked ones too when asked. */
export async function listApiKeys(db: Query, opts: { role: string | null; includeRevoked: boolean }): Promise<ApiKeyListRow[]> {
  return db.query<ApiKeyListRow & Record<string, unknown>>(
    `SELECT id, role, subject, label, created_at, revoked_at FROM api_keys
     WHERE ($1::text IS NULL OR role = $1) AND ($2::boolean OR revoked_at IS NULL) ORDER BY created_at, id`,
    [opts.role, opts.includeRevoked],
  );
}

/** A merchant's staff keys (merchant keys for that merchant), in the order issued. */
export async function merchantKeys(db: Query, merchantId: number): Promise<ApiKeyListRow[]> {
  return db.query<ApiKeyListRow & Record<string, unknown>>(
    "SELECT id, role, subject, label, created_at, revoked_at FROM api_keys WHERE role = 'merchant' AND subject = $1 ORDER BY created_at, id", [String(merchantId)]);
}

/** One of a merchant's staff keys. */
export async function merchantKey(db: Query, merchantId: number, id: string): Promise<ApiKeyListRow | undefined> {
  const [row] = await db.query<ApiKeyListRow & Record<string, unknown>>(
    "SELECT id, role, subject, label, created_at, revoked_at FROM api_keys WHERE id = $1 AND role = 'merchant' AND subject = $2", [id, String(merchantId)]);
  return row;
}
