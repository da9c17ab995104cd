// Merchants by name (and number), banks by their bank name. Names are read once per page of ids and kept for the
// tab's life: a list of 100 merchants costs one request, however often it is drawn.

import { api, qs } from "./api.js";
import { h } from "./dom.js";
import { t } from "/web-public/shared/i18n.js";

const merchants = new Map(); // merchantId → { name, district, registrationNumber } | null (no profile)
let banks = null; // bankId → name

/** Reads the names of the merchants in `ids` the tab does not know yet (500 per request). */
export async function loadMerchantNames(ids, signal) {
  const missing = [...new Set(ids.map(Number).filter((id) => id > 0 && !merchants.has(id)))];
  for (let i = 0; i < missing.length; i += 500) {
    const chunk = missing.slice(i, i + 500);
    const r = await api(`/v1/directory/merchants${qs({ ids: chunk.join(",") })}`, { signal }).catch((err) => {
      if (err?.name === "AbortError") throw err;
      return { items: [] }; // a gateway without names: numbers it is
    });
    for (const id of chunk) merchants.set(id, null);
    for (const m of r.items) merchants.set(m.merchantId, m);
  }
}

export const merchantProfile = (id) => merchants.get(Number(id)) ?? null;

/** "阳光舞蹈学校 #3", or "商户 #3" when it has no name on record. */
export function merchantName(id) {
  if (id === null || id === undefined || id === "") return "—";
  const m = merchants.get(Number(id));
  return m?.name ? `${m.name} #${id}` : t("merchant.numbered", { id });
}

/** A link to the merchant's page, named. */
export const merchantLink = (id) => h("a", { href: `#/merchants/${id}`, "data-merchant": id, text: merchantName(id) });

export async function loadBanks(signal) {
  if (banks) return;
  const r = await api("/v1/directory/banks", { signal }).catch((err) => {
    if (err?.name === "AbortError") throw err;
    return { items: [] };
  });
  banks = new Map(r.items.map((b) => [Number(b.bankId), b.name]));
}

/** "北京银行", or "银行 1" when unknown. */
export function bankName(id) {
  if (id === null || id === undefined) return "—";
  return banks?.get(Number(id)) ?? t("bank.numbered", { id });
}
