// The regulator's desk beyond watching: admitting a merchant (name, district and 统一社会信用代码 checked by its check
// character), the district's and industries' policies ("1+N") with designation of an industry's regulator, and API keys.

import { api, qs } from "../lib/api.js";
import { h, clear, table, field, select, busy, industryName, short, confirmAction } from "../lib/dom.js";
import { yuan, fenOf } from "../lib/money.js";
import { t } from "/web-public/shared/i18n.js";
import "/web-public/shared/uscc.js";
import { bankName, loadMerchantNames, merchantName } from "../lib/names.js";

const { usccProblem } = globalThis.uscc; // the same check the API runs (src/api/uscc.ts)

/** Beijing's sixteen districts, as the registry writes them. */
export const DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区", "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区"];

export async function admit(ctx, el) {
  const industries = (await api("/v1/industries", { signal: ctx.signal })).items.filter((i) => i.industryId > 0);
  const banks = (await api("/v1/directory/banks", { signal: ctx.signal }).catch(() => ({ items: [] }))).items;
  const name = h("input", { id: "admit-name", size: 30, autocomplete: "off" });
  const district = select([["", t("admit.chooseDistrict")], ...DISTRICTS.map((d) => [d, t(`district.${d}`)])], "", { id: "admit-district" });
  const uscc = h("input", { id: "admit-uscc", size: 22, maxlength: 18, autocomplete: "off", spellcheck: "false", placeholder: "91110105MA01XXXXXX" });
  const usccHint = h("div", { class: "hint", id: "admit-uscc-hint" });
  const industry = select(industries.map((i) => [i.industryId, industryName(i.industryId)]), industries[0]?.industryId, { id: "admit-industry" });
  const bank = select(banks.map((b) => [b.bankId, b.name]), banks[0]?.bankId, { id: "admit-bank" });
  const account = h("input", { id: "admit-account", size: 44, placeholder: "0x…", autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "primary", id: "admit-submit", text: t("admit.submit") });
  const out = h("div", { id: "admit-result" });
  const checkUscc = () => {
    const v = uscc.value.trim().toUpperCase();
    if (uscc.value !== v) uscc.value = v;
    const p = v ? usccProblem(v) : null;
    usccHint.className = `hint ${p ? "bad" : v.length === 18 ? "ok" : ""}`;
    usccHint.textContent = !v ? t("admit.usccHelp") : p ? t(`uscc.${p}`) : t("uscc.ok");
    return p;
  };
  uscc.addEventListener("input", checkUscc);
  checkUscc();
  const form = h("form", { class: "form-grid", id: "admit-form" },
    field(t("field.name"), name), field(t("field.district"), district), h("div", {}, field(t("field.registrationNumber"), uscc), usccHint),
    field(t("col.industry"), industry), field(t("col.bank"), bank), field(t("admit.account"), account), h("div", {}, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, out, async () => {
      const problems = [];
      if (!name.value.trim()) problems.push(t("admit.needName"));
      if (!district.value) problems.push(t("admit.needDistrict"));
      const p = checkUscc();
      if (p || !uscc.value) problems.push(t(`uscc.${p ?? "length"}`));
      if (!/^0x[0-9a-fA-F]{40}$/.test(account.value.trim())) problems.push(t("admit.badAccount"));
      if (problems.length) throw new Error(problems.join("；"));
      const r = await api("/v1/merchants", { method: "POST", signal: ctx.signal, body: {
        account: account.value.trim(), industryId: Number(industry.value), bankId: Number(bank.value), registrationNumber: uscc.value.trim(), name: name.value.trim(), district: district.value,
      } });
      await loadMerchantNames([r.merchantId], ctx.signal);
      clear(out, h("div", { class: "notice success", id: "admitted", "data-merchant": r.merchantId },
        t("admit.done", { merchant: merchantName(r.merchantId), bank: bankName(Number(bank.value)) }), " ", h("a", { href: `#/merchants/${r.merchantId}`, text: t("admit.open") })));
      for (const i of [name, uscc, account]) i.value = "";
      checkUscc();
    });
  });
  clear(el, h("div", { class: "card" }, h("h1", { text: t("nav.admit") }), h("p", { class: "muted", text: t("admit.help") }), form, out));
}

// ---------------------------------------------------------------- policies ("1+N") and designation

const POLICY_FIELDS = [
  { key: "custodyBps", kind: "percent" }, { key: "coolingOffDays", kind: "days" }, { key: "exitNoticeDays", kind: "days" },
  { key: "maxLessons", kind: "count" }, { key: "maxValidityDays", kind: "days" },
  { key: "maxCardValueFen", alt: "maxCardValue", kind: "money" }, { key: "maxAnonymousValueFen", alt: "maxAnonymousValue", kind: "money" },
  { key: "mediumRiskCap30dFen", alt: "mediumRiskCap30d", kind: "money" },
  { key: "filingThresholdFen", alt: "filingThreshold", kind: "money" },
];
const valueOf = (policy, f) => policy?.[f.key] ?? policy?.[f.alt];
const show = (policy, f) => {
  const v = valueOf(policy, f);
  if (v === undefined || v === null) return "—";
  if (f.kind === "percent") return `${Number(v) / 100}%`;
  if (f.kind === "money") return BigInt(v) === 0n ? t("policy.noCap") : yuan(v);
  if (Number(v) === 0 && f.key !== "coolingOffDays" && f.key !== "exitNoticeDays") return t("policy.noCap");
  return f.kind === "days" ? t("plan.days", { n: v }) : String(v);
};

export async function policies(ctx, el) {
  const list = h("div", { class: "scroll", id: "policy-list" });
  const edit = h("div", { class: "card", id: "policy-edit" });
  clear(el, h("div", { class: "card" }, h("h1", { text: t("nav.policies") }), h("p", { class: "muted", text: t("policy.help") }), list), edit);
  const load = async () => {
    const items = (await api("/v1/industries", { signal: ctx.signal })).items;
    clear(list, table([
      { label: t("col.industry"), get: (i) => (i.industryId === 0 ? t("industry.0") : industryName(i.industryId)) },
      { label: t("policy.regulator"), get: (i) => (i.industryId === 0 ? "—" : i.regulator ? h("span", { class: "mono", title: i.regulator, text: short(i.regulator) }) : h("span", { class: "badge medium", text: t("policy.noRegulator") })) },
      ...POLICY_FIELDS.map((f) => ({ label: t(`policy.${f.key}`), get: (i) => (i.policy ? show(i.policy, f) : t("policy.inherits")), num: true })),
      { label: "", get: (i) => h("button", { class: "small", type: "button", "data-edit": i.industryId, text: t("policy.edit"), onclick: () => editPolicy(ctx, edit, i, items, load) }) },
    ], items, { key: (i) => i.industryId }));
  };
  await load();
}

function editPolicy(ctx, card, industry, all, reload) {
  const base = industry.policy ?? all.find((i) => i.industryId === 0)?.policy ?? {};
  const out = h("div", { id: "policy-result" });
  const inputs = {};
  for (const f of POLICY_FIELDS) {
    const v = valueOf(base, f);
    const shown = v === undefined ? "" : f.kind === "percent" ? String(Number(v) / 100) : f.kind === "money" ? yuan(v).replace(/[¥,]/g, "") : String(v);
    inputs[f.key] = h("input", { class: "narrow", id: `policy-${f.key}`, value: shown, inputmode: "decimal" });
  }
  const save = h("button", { type: "submit", class: "primary", id: "policy-save", text: t("policy.save") });
  const form = h("form", { class: "row", id: "policy-form" }, POLICY_FIELDS.map((f) => field(`${t(`policy.${f.key}`)}${f.kind === "percent" ? " (%)" : f.kind === "money" ? " (¥)" : ""}`, inputs[f.key])), save);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, out, async () => {
      const body = {};
      for (const f of POLICY_FIELDS) {
        const v = inputs[f.key].value.trim();
        if (f.kind === "percent") {
          if (!/^\d{1,3}(\.\d{1,2})?$/.test(v) || Number(v) > 100) throw new Error(t("policy.badPercent"));
          body[f.key] = Math.round(Number(v) * 100);
        } else if (f.kind === "money") body[f.key] = fenOf(v || "0");
        else {
          if (!/^\d+$/.test(v)) throw new Error(t("form.whole", { name: t(`policy.${f.key}`) }));
          body[f.key] = Number(v);
        }
      }
      await api(`/v1/industries/${industry.industryId}/policy`, { method: "PUT", body, signal: ctx.signal });
      clear(out, h("div", { class: "notice success", text: t("policy.saved") }));
      await reload();
    });
  });
  const parts = [h("h2", { text: t("policy.editTitle", { industry: industry.industryId === 0 ? t("industry.0") : industryName(industry.industryId) }) }),
    h("p", { class: "muted", text: t("policy.editHelp") }), form, out];
  if (industry.industryId > 0 && ctx.me.role === "platform_regulator") {
    const regulator = h("input", { id: "designate-regulator", size: 44, placeholder: "0x…", value: industry.regulator ?? "" });
    const designate = h("button", { type: "button", id: "designate", text: t("policy.designate") });
    const dOut = h("div", { id: "designate-result" });
    designate.addEventListener("click", async () => {
      if (!/^0x[0-9a-fA-F]{40}$/.test(regulator.value.trim())) return clear(dOut, h("div", { class: "notice error", text: t("policy.badRegulator") }));
      const ok = await confirmAction({ title: t("confirm.designate.title", { industry: industryName(industry.industryId) }), body: t("confirm.designate.body"), confirmLabel: t("policy.designate"), reason: false, danger: false });
      if (!ok) return;
      await busy(designate, dOut, async () => {
        await api(`/v1/industries/${industry.industryId}/designation`, { method: "POST", body: { regulator: regulator.value.trim() }, signal: ctx.signal });
        clear(dOut, h("div", { class: "notice success", text: t("policy.designated") }));
        await reload();
      });
    });
    parts.push(h("h3", { text: t("policy.designationTitle") }), h("p", { class: "muted", text: t("policy.designationHelp") }),
      h("div", { class: "row" }, field(t("policy.regulator"), regulator), designate), dOut);
  }
  clear(card, ...parts);
  card.scrollIntoView({ block: "start" });
}

// ---------------------------------------------------------------- API keys

const ROLES = ["platform_regulator", "industry_regulator", "bank", "auditor", "merchant", "consumer"];

/**
 * A table of API keys (id, `extra` columns, label, issued, status) with a revoke button that asks first; the
 * bureau's list of every key and a merchant's list of its staff's keys. A key never revokes itself.
 */
export function keyTable(ctx, items, out, revokePath, reload, extra = []) {
  return table([
    { label: t("keys.id"), get: (k) => h("span", { class: "mono", text: k.id }) },
    ...extra,
    { label: t("keys.label"), get: (k) => k.label },
    { label: t("keys.created"), get: (k) => (k.createdAt ? k.createdAt.slice(0, 10) : "—") },
    { label: t("col.status"), get: (k) => (k.revokedAt ? h("span", { class: "badge bad", text: t("keys.revoked") }) : h("span", { class: "badge ok", text: t("keys.valid") })) },
    { label: "", get: (k) => (k.revokedAt || k.id === ctx.me.keyId ? "" : h("button", { class: "small danger", type: "button", "data-revoke": k.id, text: t("keys.revoke"), onclick: async (e) => {
      const button = e.currentTarget;
      const ok = await confirmAction({ title: t("confirm.revoke.title", { label: k.label }), body: t("confirm.revoke.body"), confirmLabel: t("keys.revoke"), reason: false });
      if (!ok) return;
      await busy(button, out, async () => { await api(revokePath(k), { method: "POST", signal: ctx.signal }); await reload(); });
    } })) },
  ], items, { key: (k) => k.id });
}

export async function keys(ctx, el) {
  const list = h("div", { class: "scroll", id: "key-list" });
  const role = select(ROLES.map((r) => [r, t(`role.${r}`)]), "merchant", { id: "key-role" });
  const subject = h("input", { id: "key-subject", size: 30, autocomplete: "off" });
  const subjectHint = h("div", { class: "hint", id: "key-subject-hint" });
  const label = h("input", { id: "key-label", size: 24, autocomplete: "off" });
  const issue = h("button", { type: "submit", class: "primary", id: "key-issue", text: t("keys.issue") });
  const out = h("div", { id: "key-result" });
  const hint = () => { subjectHint.textContent = t(`keys.subject.${role.value}`); subject.disabled = role.value === "platform_regulator" || role.value === "auditor"; };
  role.addEventListener("change", hint);
  hint();
  const form = h("form", { class: "row", id: "key-form" }, field(t("keys.role"), role), h("div", {}, field(t("keys.subject"), subject), subjectHint), field(t("keys.label"), label), issue);
  const load = async () => {
    const r = await api(`/v1/api-keys${qs({ includeRevoked: "true" })}`, { signal: ctx.signal });
    await loadMerchantNames(r.items.filter((k) => k.role === "merchant" && /^\d+$/.test(k.subject ?? "")).map((k) => k.subject), ctx.signal);
    clear(list, keyTable(ctx, r.items, out, (k) => `/v1/api-keys/${k.id}/revoke`, load, [
      { label: t("keys.role"), get: (k) => t(`role.${k.role}`) },
      { label: t("keys.subject"), get: (k) => (k.role === "merchant" && k.subject ? merchantName(k.subject) : k.role === "bank" && k.subject ? bankName(k.subject) : k.subject ? h("span", { class: "mono", title: k.subject, text: short(k.subject) }) : "—") },
    ]));
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(issue, out, async () => {
      if (!label.value.trim()) throw new Error(t("keys.needLabel"));
      const body = { role: role.value, label: label.value.trim() };
      if (!subject.disabled && subject.value.trim()) body.subject = subject.value.trim();
      const r = await api("/v1/api-keys", { method: "POST", body, signal: ctx.signal });
      const keyBox = h("input", { id: "issued-key", readonly: true, value: r.key, size: 60, class: "mono" });
      clear(out, h("div", { class: "notice success" }, h("p", { text: t("keys.issued", { label: r.label }) }), keyBox, h("p", { class: "muted", text: t("keys.once") })));
      keyBox.select();
      label.value = ""; subject.value = "";
      await load();
    });
  });
  clear(el, h("div", { class: "card" }, h("h1", { text: t("nav.keys") }), h("p", { class: "muted", text: t("keys.help") }), form, out), h("div", { class: "card" }, list));
  await load();
}

