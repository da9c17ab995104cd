import { Db, DbTx } from "./db";

/**
 * Versioned schema migrations, applied in order, each in its own transaction. Never edit a released one:
 * add the next. Money columns are bigint fen (int8 holds 92 quadrillion CNY).
 */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "ledger and current state",
    sql: `
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);

-- The chain position the index has reached: written in the same transaction as the rows it covers.
CREATE TABLE checkpoint (
  id int PRIMARY KEY CHECK (id = 1),
  block_number bigint NOT NULL,
  block_hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Recent block hashes, to find the common ancestor after a reorg.
CREATE TABLE blocks (
  number bigint PRIMARY KEY,
  hash text NOT NULL,
  parent_hash text NOT NULL,
  timestamp bigint NOT NULL
);

-- The ledger: every event of the custody contracts, as emitted.
CREATE TABLE ledger (
  id bigserial PRIMARY KEY,
  block_number bigint NOT NULL,
  block_hash text NOT NULL,
  block_time bigint NOT NULL,
  tx_hash text NOT NULL,
  tx_index int NOT NULL,
  log_index int NOT NULL,
  contract text NOT NULL,
  event text NOT NULL,
  merchant_id bigint,
  card_id numeric(20,0),
  holder text,
  amount bigint,
  args jsonb NOT NULL,
  UNIQUE (tx_hash, log_index)
);
CREATE INDEX ledger_block ON ledger (block_number, log_index);
CREATE INDEX ledger_merchant ON ledger (merchant_id, id);
CREATE INDEX ledger_card ON ledger (card_id, id);
CREATE INDEX ledger_holder ON ledger (holder, id);
CREATE INDEX ledger_event ON ledger (event, id);
CREATE INDEX ledger_time ON ledger (block_time, id);

CREATE TABLE industries (
  industry_id int PRIMARY KEY,
  regulator text,
  policy jsonb,
  updated_block bigint NOT NULL
);

CREATE TABLE banks (
  bank_id int PRIMARY KEY,
  account text NOT NULL,
  token text NOT NULL,
  added_block bigint NOT NULL
);

CREATE TABLE merchants (
  merchant_id bigint PRIMARY KEY,
  account text NOT NULL,
  industry_id int NOT NULL,
  bank_id int NOT NULL,
  registry_ref text NOT NULL,
  status text NOT NULL,
  risk_level text NOT NULL,
  exit_effective_at bigint,
  paid_in bigint NOT NULL DEFAULT 0,
  direct bigint NOT NULL DEFAULT 0,
  released bigint NOT NULL DEFAULT 0,
  refunded bigint NOT NULL DEFAULT 0,
  paid_out bigint NOT NULL DEFAULT 0,
  card_count int NOT NULL DEFAULT 0,
  admitted_at bigint NOT NULL,
  updated_block bigint NOT NULL
);
CREATE INDEX merchants_account ON merchants (account);
CREATE INDEX merchants_bank ON merchants (bank_id, merchant_id);
CREATE INDEX merchants_industry ON merchants (industry_id, merchant_id);

CREATE TABLE plans (
  merchant_id bigint NOT NULL,
  plan_index int NOT NULL,
  kind text NOT NULL,
  units int NOT NULL,
  period_seconds bigint NOT NULL,
  validity_days int NOT NULL,
  price bigint NOT NULL,
  active boolean NOT NULL,
  PRIMARY KEY (merchant_id, plan_index)
);

CREATE TABLE cards (
  card_id numeric(20,0) PRIMARY KEY,
  merchant_id bigint NOT NULL,
  holder text NOT NULL,
  plan_index int NOT NULL,
  kind text NOT NULL,
  status text NOT NULL,
  named boolean NOT NULL,
  held bigint NOT NULL,
  units_left int NOT NULL,
  units_used int NOT NULL,
  paid_in bigint NOT NULL,
  direct bigint NOT NULL,
  released bigint NOT NULL DEFAULT 0,
  refunded bigint NOT NULL DEFAULT 0,
  started_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  updated_block bigint NOT NULL
);
CREATE INDEX cards_merchant ON cards (merchant_id, card_id);
CREATE INDEX cards_holder ON cards (holder, card_id);

CREATE TABLE payouts (
  tx_hash text NOT NULL,
  log_index int NOT NULL,
  merchant_id bigint NOT NULL,
  bank_id int NOT NULL,
  amount bigint NOT NULL,
  requested_by text NOT NULL,
  block_number bigint NOT NULL,
  block_time bigint NOT NULL,
  PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX payouts_bank ON payouts (bank_id, block_number);
CREATE INDEX payouts_merchant ON payouts (merchant_id, block_number);

CREATE TABLE refunds (
  tx_hash text NOT NULL,
  log_index int NOT NULL,
  card_id numeric(20,0) NOT NULL,
  merchant_id bigint NOT NULL,
  bank_id int NOT NULL,
  holder text NOT NULL,
  amount bigint NOT NULL,
  reason text NOT NULL,
  block_number bigint NOT NULL,
  block_time bigint NOT NULL,
  PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX refunds_bank ON refunds (bank_id, block_number);
CREATE INDEX refunds_merchant ON refunds (merchant_id, block_number);

CREATE TABLE disputes (
  card_id numeric(20,0) PRIMARY KEY,
  merchant_id bigint NOT NULL,
  industry_id int NOT NULL,
  status text NOT NULL,
  opened_by text NOT NULL,
  reason text NOT NULL,
  amount bigint NOT NULL,
  opened_at bigint NOT NULL,
  refunded bigint,
  released bigint,
  resolved_by text,
  resolved_at bigint
);
CREATE INDEX disputes_industry ON disputes (industry_id, status);

CREATE TABLE risk_history (
  tx_hash text NOT NULL,
  log_index int NOT NULL,
  merchant_id bigint NOT NULL,
  from_level text NOT NULL,
  to_level text NOT NULL,
  reason text NOT NULL,
  block_time bigint NOT NULL,
  PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX risk_history_merchant ON risk_history (merchant_id, block_time);
`,
  },
  {
    version: 2,
    name: "api keys",
    sql: `
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  key_hash text NOT NULL UNIQUE,
  role text NOT NULL,
  subject text,
  label text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
`,
  },
  {
    version: 3,
    name: "durable consumption queue",
    sql: `
-- Vouchers a merchant submitted, kept until they are on chain: a restart sends what was not sent, never twice
-- (a card's voucher sequence makes a second send of the same voucher fail on chain).
CREATE TABLE voucher_queue (
  id bigserial PRIMARY KEY,
  merchant_id bigint NOT NULL,
  card_id numeric(20,0) NOT NULL,
  sequence int NOT NULL,
  lessons int NOT NULL,
  deadline bigint NOT NULL,
  v int NOT NULL,
  r text NOT NULL,
  s text NOT NULL,
  status text NOT NULL,
  tx_hash text,
  error jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (card_id, sequence)
);
CREATE INDEX voucher_queue_status ON voucher_queue (status, merchant_id, id);
CREATE INDEX voucher_queue_tx ON voucher_queue (tx_hash);
`,
  },
  {
    version: 20,
    name: "risk early warning",
    sql: `
-- A bulk file of risk signals as received: one row per file that was applied (a rejected file applies nothing).
-- The id is a digest of the file, so re-sending the same file finds its earlier import.
CREATE TABLE risk_imports (
  id text PRIMARY KEY,
  format text NOT NULL,
  rows int NOT NULL,
  inserted int NOT NULL,
  duplicates int NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Facts from outside the chain: complaints, 12345 hotline tickets, registry facts, litigation. record_id is the
-- sender's id and the idempotency key. Times are unix seconds, like block_time.
CREATE TABLE risk_signals (
  record_id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('complaint', 'hotline_ticket', 'registry_fact', 'litigation')),
  source text NOT NULL,
  merchant_id bigint NOT NULL,
  occurred_at bigint NOT NULL,
  fields jsonb NOT NULL,
  imported_at timestamptz NOT NULL DEFAULT now(),
  import_id text REFERENCES risk_imports (id)
);
CREATE INDEX risk_signals_time ON risk_signals (occurred_at, merchant_id);
CREATE INDEX risk_signals_merchant ON risk_signals (merchant_id, occurred_at);
CREATE INDEX risk_signals_import ON risk_signals (import_id);
CREATE INDEX risk_signals_registry ON risk_signals (merchant_id, occurred_at) WHERE kind = 'registry_fact';

-- Every rating computed, for the history a regulator reads. superseded_at is set when a later rating of the
-- merchant is recorded, so the current ratings are the rows where it is null (one per merchant).
CREATE TABLE risk_ratings (
  merchant_id bigint NOT NULL,
  level text NOT NULL CHECK (level IN ('low', 'medium', 'high')),
  computed_level text NOT NULL CHECK (computed_level IN ('low', 'medium', 'high')),
  score numeric(14,4) NOT NULL,
  model_version text NOT NULL,
  explanation jsonb NOT NULL,
  computed_at bigint NOT NULL,
  superseded_at bigint,
  PRIMARY KEY (merchant_id, computed_at)
);
CREATE UNIQUE INDEX risk_ratings_latest ON risk_ratings (merchant_id) WHERE superseded_at IS NULL;
CREATE INDEX risk_ratings_time ON risk_ratings (computed_at);

-- A regulator's decision that wins over the computed level while it is in force.
CREATE TABLE risk_overrides (
  id bigserial PRIMARY KEY,
  merchant_id bigint NOT NULL,
  level text NOT NULL CHECK (level IN ('low', 'medium', 'high')),
  reason text NOT NULL,
  officer text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint
);
CREATE INDEX risk_overrides_merchant ON risk_overrides (merchant_id, created_at);
`,
  },
  {
    version: 21,
    name: "12345 hotline tickets and their dispatch record",
    sql: `
CREATE TABLE hotline_tickets (
  ticket_id text PRIMARY KEY,
  merchant_id bigint NOT NULL,
  industry_id int NOT NULL,
  category text NOT NULL,
  summary text NOT NULL,
  received_at bigint NOT NULL,
  status text NOT NULL,
  assignee text NOT NULL,
  routed_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz,
  resolution text
);
CREATE INDEX hotline_tickets_assignee ON hotline_tickets (assignee, status, ticket_id);
CREATE INDEX hotline_tickets_industry ON hotline_tickets (industry_id, status);
CREATE TABLE hotline_dispatches (
  id bigserial PRIMARY KEY,
  ticket_id text NOT NULL REFERENCES hotline_tickets (ticket_id),
  from_assignee text,
  to_assignee text,
  action text NOT NULL,
  wrong_dispatch boolean NOT NULL DEFAULT false,
  actor text NOT NULL,
  note text,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hotline_dispatches_ticket ON hotline_dispatches (ticket_id, id);
CREATE TABLE industry_designations (
  id bigserial PRIMARY KEY,
  industry_id int NOT NULL,
  regulator text NOT NULL,
  designated_by text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 22,
    name: "risk alerts, webhook outbox and on-chain pushes",
    sql: `
-- A merchant's risk level rose (by a rating or an override): what regulators are alerted about. Times unix seconds.
CREATE TABLE risk_alerts (
  id bigserial PRIMARY KEY,
  merchant_id bigint NOT NULL,
  industry_id int NOT NULL,
  from_level text NOT NULL,
  to_level text NOT NULL,
  score numeric(14,4) NOT NULL,
  cause text NOT NULL,
  explanation jsonb NOT NULL,
  rated_at bigint NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX risk_alerts_industry ON risk_alerts (industry_id, id);
CREATE INDEX risk_alerts_merchant ON risk_alerts (merchant_id, id);

-- Alerts to deliver to the webhook, written in the same transaction as the alert: kept until delivered.
-- Times in milliseconds (retries back off from a second).
CREATE TABLE risk_webhook_outbox (
  id bigserial PRIMARY KEY,
  alert_id bigint NOT NULL REFERENCES risk_alerts (id),
  url text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'delivered')),
  attempts int NOT NULL DEFAULT 0,
  next_attempt_ms bigint NOT NULL,
  last_error text,
  delivered_ms bigint
);
CREATE INDEX risk_webhook_outbox_due ON risk_webhook_outbox (status, next_attempt_ms);

-- Every attempt of the risk oracle to put a level on chain. What still has to go is the current ratings whose level
-- differs from the chain's (per the index), so nothing is lost across a restart; this records the attempts.
CREATE TABLE risk_pushes (
  id bigserial PRIMARY KEY,
  merchant_id bigint NOT NULL,
  level text NOT NULL,
  reason text NOT NULL,
  status text NOT NULL CHECK (status IN ('sent', 'mined', 'reverted', 'failed', 'dropped')),
  tx_hash text,
  error text,
  block_number bigint,
  created_ms bigint NOT NULL,
  settled_ms bigint
);
CREATE INDEX risk_pushes_merchant ON risk_pushes (merchant_id, id);
CREATE INDEX risk_pushes_status ON risk_pushes (status, id);
`,
  },
  {
    version: 23,
    name: "public merchant profiles, enforcement record, onboarding ledger, consumer sessions",
    sql: `
-- What the public may read about a merchant that the chain does not hold (it holds only a hash of the registration
-- number): its name, registration number and district. Filled when a regulator admits it, or from the onboarding ledger.
CREATE TABLE merchant_profiles (
  merchant_id bigint PRIMARY KEY,
  name text NOT NULL,
  registration_number text NOT NULL,
  district text,
  source text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_profiles_registration ON merchant_profiles (registration_number);
CREATE INDEX merchant_profiles_district ON merchant_profiles (lower(district), merchant_id);

-- The regulators' enforcement record: per merchant a hash chain of entries (seq from 1). content is the entry as
-- hashed (canonical JSON of it is what entry_hash commits to, prevHash included); the columns below are derived
-- from it, so a changed content changes what is queried as well as its hash. Append-only: see the triggers.
CREATE TABLE enforcement_entries (
  merchant_id bigint NOT NULL,
  seq int NOT NULL CHECK (seq >= 1),
  content jsonb NOT NULL,
  entry_hash text NOT NULL,
  kind text GENERATED ALWAYS AS (content->>'kind') STORED,
  occurred_on text GENERATED ALWAYS AS (content->>'occurredOn') STORED,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, seq)
);
CREATE INDEX enforcement_entries_kind ON enforcement_entries (kind, occurred_on);

-- Where each entry's hash went on chain (EnforcementAnchor.anchor). An entry without a row here is still to anchor.
CREATE TABLE enforcement_anchors (
  merchant_id bigint NOT NULL,
  seq int NOT NULL,
  entry_hash text NOT NULL,
  tx_hash text NOT NULL,
  block_number bigint NOT NULL,
  anchored_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, seq),
  FOREIGN KEY (merchant_id, seq) REFERENCES enforcement_entries (merchant_id, seq)
);

CREATE FUNCTION enforcement_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the enforcement record is append-only: % on % refused (a correction is a new entry)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END $$;
CREATE TRIGGER enforcement_entries_append_only BEFORE UPDATE OR DELETE ON enforcement_entries FOR EACH ROW EXECUTE FUNCTION enforcement_append_only();
CREATE TRIGGER enforcement_entries_no_truncate BEFORE TRUNCATE ON enforcement_entries FOR EACH STATEMENT EXECUTE FUNCTION enforcement_append_only();
CREATE TRIGGER enforcement_anchors_append_only BEFORE UPDATE OR DELETE ON enforcement_anchors FOR EACH ROW EXECUTE FUNCTION enforcement_append_only();
CREATE TRIGGER enforcement_anchors_no_truncate BEFORE TRUNCATE ON enforcement_anchors FOR EACH STATEMENT EXECUTE FUNCTION enforcement_append_only();

-- The district's prepaid businesses that must be in custody, as imported; linked to an admitted merchant by
-- registry_ref (keccak-256 of the registration number, what the escrow stores for the merchant).
CREATE TABLE onboarding_businesses (
  registration_number text PRIMARY KEY,
  registry_ref text NOT NULL,
  name text NOT NULL,
  district text,
  industry_id int NOT NULL,
  required boolean NOT NULL,
  started_on text,
  note text,
  import_id text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX onboarding_businesses_ref ON onboarding_businesses (registry_ref);
CREATE INDEX onboarding_businesses_industry ON onboarding_businesses (industry_id, registration_number);
CREATE TABLE onboarding_imports (
  id text PRIMARY KEY,
  format text NOT NULL,
  rows int NOT NULL,
  inserted int NOT NULL,
  updated int NOT NULL,
  imported_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Consumers sign in with their own key: a one-time challenge, signed, buys a short session. Times unix seconds.
CREATE TABLE consumer_challenges (
  nonce text PRIMARY KEY,
  address text NOT NULL,
  message text NOT NULL,
  expires_at bigint NOT NULL
);
CREATE TABLE consumer_sessions (
  id text PRIMARY KEY,
  token_hash text NOT NULL,
  address text NOT NULL,
  expires_at bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consumer_sessions_expiry ON consumer_sessions (expires_at);
`,
  },
  {
    version: 24,
    name: "hex identifiers compare bytewise",
    sql: `
-- Addresses, hashes and event names are ASCII written in one case: they compare as bytes (COLLATE "C"), whatever
-- locale the server was created with. Under a libc locale other than C (en_US.UTF-8, even C.UTF-8) PostgreSQL
-- compares text with strcoll and without abbreviated keys: on 1.1 M ledger rows the (holder, id) index took 5.3 s
-- to build against 2.2 s bytewise, (tx_hash, log_index) 3.2 s against 2.1 s, and every ledger insert walks the
-- (tx_hash, log_index) uniqueness index. Bytewise indexes also do not depend on the C library's collation tables,
-- which change between OS releases and then leave text indexes out of order until REINDEX. Equality answers are the
-- same (the values are lowercase hex); comparing with a column of the default collation stays allowed. Only the
-- indexes on these columns are rebuilt (no table rewrite).
ALTER TABLE ledger
  ALTER COLUMN block_hash TYPE text COLLATE "C",
  ALTER COLUMN tx_hash TYPE text COLLATE "C",
  ALTER COLUMN contract TYPE text COLLATE "C",
  ALTER COLUMN event TYPE text COLLATE "C",
  ALTER COLUMN holder TYPE text COLLATE "C";
ALTER TABLE cards ALTER COLUMN holder TYPE text COLLATE "C";
ALTER TABLE merchants ALTER COLUMN account TYPE text COLLATE "C";
ALTER TABLE payouts ALTER COLUMN tx_hash TYPE text COLLATE "C";
ALTER TABLE refunds ALTER COLUMN tx_hash TYPE text COLLATE "C", ALTER COLUMN holder TYPE text COLLATE "C";
ALTER TABLE risk_history ALTER COLUMN tx_hash TYPE text COLLATE "C";
ALTER TABLE blocks ALTER COLUMN hash TYPE text COLLATE "C", ALTER COLUMN parent_hash TYPE text COLLATE "C";
`,
  },
  {
    version: 25,
    name: "ledger amounts count each fen once",
    sql: `
-- A ledger row's amount is the money its event moved, counted once (src/indexing/ledgerRow.ts): a dispute decision
-- carries the merchant's released share (its refunded share is the CardRefunded row after it), and a refund request
-- moves nothing (the sum asked stays in args). Rows indexed before carried the refunded share and the sum asked.
UPDATE ledger SET amount = (args->>'released')::bigint WHERE event = 'DisputeResolved';
UPDATE ledger SET amount = NULL WHERE event = 'RefundRequested';
`,
  },
  {
    version: 26,
    name: "transaction journal: every transaction the gateway signs or relays, sent again if the chain loses it",
    sql: `
CREATE TABLE tx_journal (
  id bigserial PRIMARY KEY,
  hash text COLLATE "C" NOT NULL UNIQUE,
  sender text COLLATE "C" NOT NULL,
  nonce bigint NOT NULL,
  raw text NOT NULL,
  origin text NOT NULL,
  key_id text,
  actor_role text,
  actor_subject text,
  state text NOT NULL DEFAULT 'signed',
  block_number bigint,
  error jsonb,
  resent boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tx_journal_open ON tx_journal (id) WHERE state = 'signed';
CREATE INDEX tx_journal_block ON tx_journal (block_number) WHERE state IN ('mined', 'reverted');
CREATE INDEX tx_journal_key ON tx_journal (key_id, id);
`,
  },
  {
    version: 27,
    name: "audit log of acknowledged writes",
    sql: `
-- Every write the API acknowledged (a 2xx to POST, PUT or DELETE): who made it (the key's role, subject and id, or
-- the consumer session) and when, written by the gateway before the answer is sent. Read by the platform regulator
-- and the auditor at GET /v1/audit-log.
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  role text NOT NULL,
  subject text,
  key_id text,
  method text NOT NULL,
  route text NOT NULL,
  path text NOT NULL,
  status int NOT NULL
);
CREATE INDEX audit_log_key ON audit_log (key_id, id);
CREATE INDEX audit_log_subject ON audit_log (role, subject, id);
`,
  },
  {
    version: 28,
    name: "industry custody floor",
    sql: `
-- The custody floor the platform regulator set for an industry (IndustryCustodyFloorSet), basis points; 0: the district's.
ALTER TABLE industries ADD COLUMN custody_floor_bps int NOT NULL DEFAULT 0;
`,
  },
  {
    version: 29,
    name: "direct share held through the cooling-off",
    sql: `
-- The direct (non-custodied) share a card's open cooling-off holds back in escrow (DirectShareReleased/Returned settle
-- it). A merchant's paid_in counts it from the purchase, like the contract's, so held = paid_in - released - refunded
-- stays what the escrow holds for the merchant.
ALTER TABLE cards ADD COLUMN pending_direct bigint NOT NULL DEFAULT 0;
`,
  },
  {
    version: 30,
    name: "merchant breach on record",
    sql: `
-- When the responsible regulator recorded the merchant's breach (BreachRecorded; NULL: none, or cleared): every holder
-- may cancel and take the unused balance back (refunds with reason 'breach').
ALTER TABLE merchants ADD COLUMN breach_recorded_at bigint;
`,
  },
  {
    version: 31,
    name: "vouchers carry the amount their holder signed",
    sql: `
-- The money (fen) a queued voucher releases, as its holder signed it (Consumption's amount): sent with it, and the
-- escrow refuses any other. Vouchers still queued were signed without an amount and cannot be sent any more: they
-- fail, and the holder confirms the lessons again.
ALTER TABLE voucher_queue ADD COLUMN amount numeric(20,0);
UPDATE voucher_queue SET status = 'failed', updated_at = now(),
  error = '{"name":"VoucherWithoutAmount","reason":"signed before vouchers named the merchant and the amount; sign again"}'::jsonb
  WHERE status = 'queued';
`,
  },
  {
    version: 32,
    name: "lost keys, frozen payable, payout account",
    sql: `
-- A lost key's recovery under way (KeyRecoveryStarted; cleared when cancelled or completed): the new key and when the
-- move takes effect. The card's history shows every step (ledger rows, no money).
ALTER TABLE cards ADD COLUMN recovery_to text;
ALTER TABLE cards ADD COLUMN recovery_effective_at bigint;
-- Released money a regulator decided to the holders of a frozen merchant, not yet claimed (FrozenPayableDecided,
-- FrozenPayableShared): part of the merchant's held money, like the contract's.
ALTER TABLE merchants ADD COLUMN holder_pool bigint NOT NULL DEFAULT 0;
-- The payout account's reference in force (PayoutAccountConfirmed) and the one proposed, not yet confirmed.
ALTER TABLE merchants ADD COLUMN payout_account text;
ALTER TABLE merchants ADD COLUMN payout_account_proposed text;
-- The account each payout went to (the one in force when it was made; NULL: none confirmed, the admission's).
ALTER TABLE payouts ADD COLUMN account text;
`,
  },
  {
    version: 33,
    name: "payout accounts proposed",
    sql: `
-- What a payout account reference stands for (the chain keeps only the hash of bank and number): written when the
-- merchant proposes it through the API, read by its regulator confirming it and by the bank paying it.
CREATE TABLE payout_accounts (
  merchant_id bigint NOT NULL,
  account_ref text NOT NULL,
  bank_name text NOT NULL,
  account_number text NOT NULL,
  proposed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, account_ref)
);
`,
  },
];

/**
 * The advisory lock key the migrations run under (any 64-bit number the project owns; this one reads "custody" in
 * ASCII): gateways started at once against one PostgreSQL server take turns, and each migration is applied once.
 */
export const MIGRATION_LOCK = 0x637573746f6479n;

/**
 * Applies the migrations not applied yet; returns the versions applied now (by this call). Each migration runs in a
 * transaction of its own that first takes the advisory lock and then looks whether the migration is still to do, so
 * a second process starting meanwhile waits and then finds it done. A migration's text runs as one script, as
 * written, so a semicolon in a string or a comment needs no care.
 */
export async function migrate(db: Db): Promise<number[]> {
  const locked = async <T>(fn: (tx: DbTx & { exec(sql: string): Promise<void> }) => Promise<T>) =>
    db.transaction(async (tx) => {
      if (!tx.exec) throw new Error("this store's transactions cannot run a migration's script (tx.exec)");
      await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK.toString()]);
      return fn(tx as DbTx & { exec(sql: string): Promise<void> });
    });
  await locked((tx) => tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`));
  const done = new Set((await db.query<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    const ran = await locked(async (tx) => {
      if ((await tx.query("SELECT 1 FROM schema_migrations WHERE version = $1", [m.version])).length) return false; // another process applied it meanwhile
      await tx.exec(m.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      return true;
    });
    if (ran) applied.push(m.version);
  }
  return applied;
}
