// possible: the coordinators', administrators' and auditors' web app.
// One page over the REST API (/api/v1), same origin, no build step. Every text is set with
// textContent (never innerHTML), so no record can inject markup.
"use strict";

const API = "/api/v1";
const session = {
  get token() { return sessionStorage.getItem("token"); },
  get role() { return sessionStorage.getItem("role"); },
  get centre() { return sessionStorage.getItem("centre"); },
  get user() { return sessionStorage.getItem("user"); },
  set(data, user) {
    sessionStorage.setItem("token", data.access_token);
    sessionStorage.setItem("role", data.role);
    sessionStorage.setItem("centre", data.centre || "");
    sessionStorage.setItem("user", user);
  },
  clear() { sessionStorage.clear(); },
};

// ---- small helpers ----------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "for") el.htmlFor = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function say(message) { document.getElementById("status").textContent = message; }

// Every problem the service names, one per line: a list of them, or pydantic's field errors.
function detailText(body) {
  if (Array.isArray(body.problems)) return body.problems.join("\n");
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("\n");
  return "the request was refused";
}

class ApiError extends Error {
  constructor(status, body) {
    super(detailText(body));
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body, form) {
  const headers = {};
  if (session.token) headers.Authorization = "Bearer " + session.token;
  let payload;
  if (form) { payload = new URLSearchParams(form); }
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const r = await fetch(API + path, { method, headers, body: payload });
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : {};
  if (r.status === 401 && path !== "/auth/token") { session.clear(); go("#/login"); }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

function go(hash) { if (location.hash !== hash) location.hash = hash; else route(); }

function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

function counts(title, obj) {
  const entries = Object.entries(obj || {});
  return h("div", { class: "card" }, h("h2", {}, title),
    entries.length ? table(["", "count"], entries) : h("p", {}, "none"));
}

function fmt(x) { return typeof x === "number" ? String(Math.round(x * 100) / 100) : x; }

function splitNames(text) { return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean); }

function showError(container, err) {
  container.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
}

// ---- screens ------------------------------------------------------------------------------

const screens = {};

screens.login = (main) => {
  const error = h("p", { class: "error", role: "alert" });
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const data = await api("POST", "/auth/token", undefined, { username: user.value, password: pass.value });
      session.set(data, user.value);
      go("#/");
    } catch (err) { error.textContent = err.message; pass.focus(); }
  } },
    h("label", { for: "username" }, "User name"), user,
    h("label", { for: "password" }, "Password"), pass,
    error, h("p", {}, h("button", { type: "submit" }, "Sign in")));
  main.append(h("h1", {}, "Sign in"), form);
  user.focus();
};

screens.dashboard = async (main) => {
  const d = await api("GET", "/dashboard");
  main.append(h("h1", {}, d.scope === "programme" ? "Programme dashboard" : `Dashboard: centre ${d.scope}`));
  main.append(h("div", { class: "cards" },
    counts("Patients by status", d.patients_by_status),
    counts("Donors by status", d.donors_by_status),
    counts("Active patients by blood group", d.active_by_blood_group),
    counts("Active patients by sensitisation (cPRA)", d.active_by_cpra_band)));
  if (d.waiting_longest) {
    main.append(h("h2", {}, "Waiting longest"), table(["patient", "listed", "days waiting"],
      d.waiting_longest.map((w) => [h("a", { href: `#/patients/${w.id}` }, w.id), w.listed, w.days])));
  }
  if (d.follow_ups_due) {
    main.append(h("h2", {}, "Follow-ups due or overdue"), d.follow_ups_due.length
      ? table(["donor", "visit", "due", ""], d.follow_ups_due.map((f) => [
        h("a", { href: `#/donors/${f.donor_id}` }, f.donor_id), f.label, f.due_on, f.overdue ? "overdue" : "due soon"]))
      : h("p", {}, "None due in the next 30 days."));
  }
};

function listScreen(kind) {
  return async (main, params) => {
    const title = kind === "patients" ? "Patients" : "Donors";
    main.append(h("h1", {}, title));
    if (session.role === "coordinator") {
      main.append(h("p", {}, kind === "patients"
        ? h("a", { class: "button", href: "#/pairs/new" }, "Add a pair")
        : h("a", { class: "button", href: "#/donors/new" }, "Add a non-directed donor")));
    }
    const search = h("input", { id: "search", type: "search", value: params.get("q") || "" });
    const status = h("select", { id: "status-filter" }, ["", "referral", "evaluation", "active", "suspended",
      "matched", "scheduled", "donated", "transplanted", "withdrawn"].map((s) =>
      h("option", { value: s, selected: s === (params.get("status") || "") }, s || "any")));
    const group = h("select", { id: "group-filter" }, ["", "O", "A", "B", "AB"].map((s) =>
      h("option", { value: s, selected: s === (params.get("blood_group") || "") }, s || "any")));
    const results = h("div", { "aria-live": "polite" });
    async function load() {
      const q = new URLSearchParams({ limit: "500" });
      if (status.value) q.set("status", status.value);
      if (group.value) q.set("blood_group", group.value);
      try {
        const page = await api("GET", `/${kind}?${q}`);
        const needle = search.value.trim().toLowerCase();
        const items = page.items.filter((p) => !needle || p.id.toLowerCase().includes(needle));
        results.replaceChildren(h("p", {}, `${items.length} of ${page.total} shown`), table(
          kind === "patients" ? ["id", "centre", "status", "blood group", "cPRA", "listed"] : ["id", "centre", "status", "blood group", "paired with", "consent"],
          items.map((p) => kind === "patients"
            ? [h("a", { href: `#/patients/${p.id}` }, p.id), p.centre_id, p.status, p.blood_group, p.cpra ?? "", p.listed ?? ""]
            : [h("a", { href: `#/donors/${p.id}` }, p.id), p.centre_id, p.status, p.blood_group, p.patient_id ?? "non-directed", p.consent_given ?? "none"])));
      } catch (err) { showError(results, err); }
    }
    for (const el of [status, group]) el.addEventListener("change", load);
    search.addEventListener("input", load);
    main.append(h("div", { class: "row noprint" },
      h("div", {}, h("label", { for: "search" }, "Search by id"), search),
      h("div", {}, h("label", { for: "status-filter" }, "Status"), status),
      h("div", {}, h("label", { for: "group-filter" }, "Blood group"), group)), results);
    await load();
  };
}
screens.patients = listScreen("patients");
screens.donors = listScreen("donors");

function field(id, label, input, hint) {
  input.id = id;
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert" });
  input.setAttribute("aria-describedby", `${id}-error${hint ? ` ${id}-hint` : ""}`);
  return { input, error, node: h("div", {}, h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null, input, error) };
}

function clearErrors(fields) {
  for (const f of Object.values(fields)) { f.error.textContent = ""; f.input.removeAttribute("aria-invalid"); }
}

function fieldError(f, message) {
  f.error.textContent = message;
  f.input.setAttribute("aria-invalid", "true");
}

const HLA_HINT = "Space or comma separated: serological (A2 B44 DR4 DQ8) or molecular (A*02:01, B*44:02, DRB1*04:01).";

screens.newPair = (main) => {
  const groups = () => h("select", {}, ["", "O", "A", "B", "AB"].map((g) => h("option", { value: g }, g || "choose")));
  const f = {
    pid: field("patient-id", "Patient id (opaque, not a name)", h("input", { required: true })),
    pgroup: field("patient-blood-group", "Patient blood group", groups()),
    phla: field("patient-hla", "Patient HLA typing", h("input", {}), HLA_HINT),
    punacc: field("patient-unacceptable", "Unacceptable antigens", h("input", {}), HLA_HINT),
    pcpra: field("patient-cpra", "cPRA (0 to 1; leave empty to compute)", h("input", { inputmode: "decimal" })),
    plisted: field("patient-listed", "Date listed", h("input", { type: "date" })),
    did: field("donor-id", "Donor id (opaque, not a name)", h("input", { required: true })),
    dgroup: field("donor-blood-group", "Donor blood group", groups()),
    dhla: field("donor-hla", "Donor HLA typing", h("input", {}), HLA_HINT),
    dconsent: field("donor-consent", "Donor consent recorded on", h("input", { type: "date" })),
  };
  const summary = h("div", { role: "alert" });
  const form = h("form", { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(f);
    summary.replaceChildren();
    let bad = false;
    for (const k of ["pid", "pgroup", "did", "dgroup"]) {
      if (!f[k].input.value.trim()) { fieldError(f[k], "This is required."); bad = true; }
    }
    const cpra = f.pcpra.input.value.trim();
    if (cpra && !(Number(cpra) >= 0 && Number(cpra) <= 1)) { fieldError(f.pcpra, "Give a number from 0 to 1."); bad = true; }
    if (bad) { summary.replaceChildren(h("p", { class: "error" }, "Please correct the marked fields.")); return; }
    const patient = { id: f.pid.input.value.trim(), blood_group: f.pgroup.input.value,
      hla: splitNames(f.phla.input.value), unacceptable: splitNames(f.punacc.input.value) };
    if (cpra) patient.cpra = Number(cpra);
    if (f.plisted.input.value) patient.listed = f.plisted.input.value;
    const donor = { id: f.did.input.value.trim(), blood_group: f.dgroup.input.value, patient_id: patient.id,
      hla: splitNames(f.dhla.input.value) };
    if (f.dconsent.input.value) donor.consent_given = f.dconsent.input.value;
    const map = { patient: { id: f.pid, blood_group: f.pgroup, hla: f.phla, unacceptable: f.punacc, cpra: f.pcpra, listed: f.plisted },
      donor: { id: f.did, blood_group: f.dgroup, hla: f.dhla, consent_given: f.dconsent } };
    let stage = "patient";
    try {
      const existing = await api("GET", `/patients/${encodeURIComponent(patient.id)}`).catch(() => null);
      if (!existing) await api("POST", "/patients", patient);
      stage = "donor";
      await api("POST", "/donors", donor);
      say("Pair added");
      go(`#/patients/${patient.id}`);
    } catch (err) { serverErrors(err, map[stage], summary, stage); }
  } },
    h("fieldset", {}, h("legend", {}, "Patient"), ...["pid", "pgroup", "phla", "punacc", "pcpra", "plisted"].map((k) => f[k].node)),
    h("fieldset", {}, h("legend", {}, "Paired donor"), ...["did", "dgroup", "dhla", "dconsent"].map((k) => f[k].node)),
    summary, h("p", {}, h("button", { type: "submit" }, "Save pair")));
  main.append(h("h1", {}, "Add a pair"), form);
};

function serverErrors(err, fields, summary, what) {
  const details = Array.isArray(err.body?.detail) ? err.body.detail : [];
  for (const d of details) {
    const target = fields[d.loc?.[d.loc.length - 1]];
    if (target) fieldError(target, d.msg.replace(/^Value error, /, ""));
  }
  summary.replaceChildren(h("p", { class: "error" }, details.length
    ? `The ${what} could not be saved: please correct the marked fields.` : err.message));
  const first = Object.values(fields).find((x) => x.input.getAttribute("aria-invalid"));
  if (first) first.input.focus();
}

screens.newDonor = (main) => {
  const f = {
    id: field("ndd-id", "Donor id (opaque, not a name)", h("input", { required: true })),
    blood_group: field("ndd-blood-group", "Blood group", h("select", {}, ["", "O", "A", "B", "AB"].map((g) => h("option", { value: g }, g || "choose")))),
    hla: field("ndd-hla", "HLA typing", h("input", {}), HLA_HINT),
    date_of_birth: field("ndd-born", "Date of birth", h("input", { type: "date" })),
    consent_given: field("ndd-consent", "Consent recorded on", h("input", { type: "date" })),
  };
  const summary = h("div", { role: "alert" });
  main.append(h("h1", {}, "Add a non-directed donor"), h("form", { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(f);
    summary.replaceChildren();
    let bad = false;
    for (const k of ["id", "blood_group"]) if (!f[k].input.value.trim()) { fieldError(f[k], "This is required."); bad = true; }
    if (bad) { summary.replaceChildren(h("p", { class: "error" }, "Please correct the marked fields.")); return; }
    const donor = { id: f.id.input.value.trim(), blood_group: f.blood_group.input.value, hla: splitNames(f.hla.input.value) };
    if (f.date_of_birth.input.value) donor.date_of_birth = f.date_of_birth.input.value;
    if (f.consent_given.input.value) donor.consent_given = f.consent_given.input.value;
    try {
      await api("POST", "/donors", donor);
      say("Donor added");
      go(`#/donors/${donor.id}`);
    } catch (err) { serverErrors(err, f, summary, "donor"); }
  } }, ...Object.values(f).map((x) => x.node), summary, h("p", {}, h("button", { type: "submit" }, "Save donor"))));
};

async function personScreen(main, kind, id) {
  const person = await api("GET", `/${kind}s/${encodeURIComponent(id)}`);
  const story = await api("GET", `/people/${encodeURIComponent(id)}/timeline`);
  main.append(h("h1", {}, `${kind === "patient" ? "Patient" : "Donor"} ${person.id}`));
  const facts = kind === "patient"
    ? [["centre", person.centre_id], ["status", person.status], ["blood group", person.blood_group + (person.subgroup ? ` (${person.subgroup})` : "")],
      ["HLA", person.hla.join(" ")], ["unacceptable antigens", person.unacceptable.join(" ") || "none"],
      ["cPRA", person.cpra ?? "not recorded"], ["listed", person.listed ?? ""], ["previous transplants", person.previous_transplants]]
    : [["centre", person.centre_id], ["status", person.status], ["blood group", person.blood_group + (person.subgroup ? ` (${person.subgroup})` : "")],
      ["HLA", person.hla.join(" ")], ["paired with", person.patient_id ? h("a", { href: `#/patients/${person.patient_id}` }, person.patient_id) : "non-directed"],
      ["consent recorded", person.consent_given ?? "none"], ["consent withdrawn", person.consent_withdrawn_at ?? "no"]];
  main.append(table(["", ""], facts));
  const NEXT = { referral: ["evaluation"], evaluation: ["active"], active: ["suspended"], suspended: ["active"] };
  const next = (NEXT[person.status] || []).concat(kind === "patient" && person.status !== "withdrawn" && !["donated", "transplanted"].includes(person.status) ? ["withdrawn"] : []);
  if (session.role === "coordinator" && next.length) {
    const to = h("select", { id: "next-status" }, next.map((n) => h("option", { value: n }, n)));
    const reason = h("input", { id: "status-reason" });
    const error = h("p", { class: "error", role: "alert" });
    main.append(h("form", { class: "row noprint", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("POST", `/${kind}s/${encodeURIComponent(person.id)}/status`, { to: to.value, reason: reason.value || undefined });
        say(`Status changed to ${to.value}`);
        route();
      } catch (err) { error.textContent = err.message; }
    } }, h("div", {}, h("label", { for: "next-status" }, "Move to"), to),
      h("div", {}, h("label", { for: "status-reason" }, "Reason (optional)"), reason),
      h("div", {}, h("button", { type: "submit", id: "change-status" }, "Change status")), error));
  }
  if (kind === "donor" && session.role === "coordinator" && !["withdrawn", "donated"].includes(person.status)) {
    main.append(h("p", {}, h("button", { class: "danger", id: "withdraw", onclick: async () => {
      if (!window.confirm(`Withdraw the consent of donor ${person.id}? This takes effect at once: the donor leaves the pool and any proposed exchange with them is broken.`)) return;
      try {
        await api("POST", `/donors/${encodeURIComponent(person.id)}/withdraw-consent`);
        say("Consent withdrawn");
        route();
      } catch (err) { showError(main, err); }
    } }, "Withdraw consent")));
  }
  main.append(h("h2", {}, "Timeline"), story.events.length ? table(["when", "what", "details"], story.events.map((e) => [
    e.at.slice(0, 16).replace("T", " "),
    e.what,
    e.what === "state" ? `${e.from ?? "new"} → ${e.to}${e.reason ? ` (${e.reason})` : ""}`
      : e.what === "run" ? `matching run ${e.run_id} (${e.status})`
        : `exchange ${e.exchange_id} of run ${e.run_id}: ${e.kind}, ${e.state}`])) : h("p", {}, "Nothing yet."));
  if (story.follow_ups.length) {
    main.append(h("h2", {}, "Follow-up visits"), table(["visit", "due", "done"],
      story.follow_ups.map((f) => [f.label, f.due_on, f.done_on ?? "not yet"])));
  }
}
screens.patient = (main, _p, id) => personScreen(main, "patient", id);
screens.donor = (main, _p, id) => personScreen(main, "donor", id);

// ---- matching runs ------------------------------------------------------------------------

screens.runs = async (main) => {
  main.append(h("h1", {}, "Matching runs"));
  if (session.role === "admin") {
    const num = (id, label, value, min, max) => field(id, label, h("input", { type: "number", value, min, max }));
    const f = { cyc: num("max-cycle", "Longest cycle", 3, 0, 6), ch: num("max-chain", "Longest chain", 2, 0, 10) };
    const objective = field("objective", "Objective", h("select", {},
      [["uk", "UK hierarchy"], ["transplants", "Most transplants"], ["score", "Highest score"]].map(([v, t]) => h("option", { value: v }, t))));
    const scoring = field("scoring", "Scoring policy", h("select", {},
      [["uk", "UK-style points"], ["transplants", "One point per transplant"]].map(([v, t]) => h("option", { value: v }, t))));
    // cPRA of patients without a recorded one: computed against the shipped or an uploaded panel.
    const panels = await api("GET", "/cpra-panels");
    const panel = field("cpra-panel", "cPRA panel (where not recorded)", h("select", {},
      [["", "Shipped panel"], ...panels.map((p) => [p.digest, `${p.source} (${p.donors} donors)`])].map(([v, t]) => h("option", { value: v }, t))));
    const withAbo = h("input", { type: "checkbox", id: "cpra-with-abo" });
    const withAboNode = h("div", {}, h("label", { for: "cpra-with-abo" }, withAbo, " Blood group counts in computed cPRA"));
    // A programme's own points table: the structure of a policy file, as JSON; kept with the run.
    const ownTable = field("points-table", "Own points table (JSON file, optional)",
      h("input", { type: "file", accept: ".json,application/json" }),
      "Replaces the scoring policy above: {\"name\": ..., \"component\": [...]}, as in docs/compatibility.md.");
    // Chains of any length: not with the UK hierarchy, whose model follows chains by position.
    const anyLength = h("input", { type: "checkbox", id: "any-chain-length", onchange: () => { f.ch.input.disabled = anyLength.checked; } });
    const anyLengthNode = h("div", {}, h("label", { for: "any-chain-length" }, anyLength, " Chains of any length"));
    const error = h("p", { class: "error", role: "alert", id: "run-error" });
    main.append(h("form", { class: "noprint", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const file = ownTable.input.files[0];
        let own = null;
        if (file) {
          try { own = JSON.parse(await file.text()); } catch (_) { throw new Error(`${file.name} is not JSON`); }
        }
        const run = await api("POST", "/match-runs", { max_cycle: Number(f.cyc.input.value),
          max_chain: anyLength.checked ? null : Number(f.ch.input.value),
          objective: objective.input.value, scoring: own ?? scoring.input.value,
          cpra_panel_digest: panel.input.value || null, cpra_with_abo: withAbo.checked });
        go(`#/runs/${run.id}`);
      } catch (err) { error.textContent = err.message; }
    } }, h("fieldset", {}, h("legend", {}, "Start a run"), h("div", { class: "row" }, f.cyc.node, f.ch.node, anyLengthNode, objective.node, scoring.node, panel.node, withAboNode),
      ownTable.node, error, h("p", {}, h("button", { type: "submit", id: "start-run" }, "Start matching run")))));
    // A programme's own cPRA reference panel, kept for good under the digest of its donors.
    const upload = field("panel-file", "Panel file (JSON)", h("input", { type: "file", accept: ".json,application/json", required: true }),
      "{\"source\": ..., \"donors\": [{\"hla\": [...], \"blood_group\": \"O\"}, ...]}: every bad donor is reported, and nothing is kept.");
    main.append(h("form", { class: "noprint", onsubmit: async (e) => {
      e.preventDefault();
      upload.error.textContent = "";
      try {
        const file = upload.input.files[0];
        let doc;
        try { doc = JSON.parse(await file.text()); } catch (_) { throw new Error(`${file.name} is not JSON`); }
        const kept = await api("POST", "/cpra-panels", doc);
        say(`Panel ${kept.source} kept (${kept.donors} donors)`);
        route();
      } catch (err) { upload.error.textContent = err.message; }
    } }, h("fieldset", {}, h("legend", {}, "Upload a cPRA panel"), upload.node,
      h("p", {}, h("button", { type: "submit", id: "upload-panel", class: "secondary" }, "Upload panel")))));
  }
  const runs = await api("GET", "/match-runs");
  main.append(runs.length ? table(["run", "status", "started", "policy"], runs.map((r) => [
    h("a", { href: `#/runs/${r.id}` }, `run ${r.id}`), r.status, r.created_at.slice(0, 16).replace("T", " "),
    `${r.policy.objective}, cycles ≤ ${r.policy.max_cycle}, ${r.policy.max_chain === null ? "chains of any length" : `chains ≤ ${r.policy.max_chain}`}${r.rerun_of ? `, re-run of ${r.rerun_of}` : ""}`]))
    : h("p", {}, "No runs yet."));
};

screens.run = async (main, _p, id) => {
  const heading = h("h1", {}, `Matching run ${id}`);
  const bar = h("progress", { id: "run-progress", "aria-label": "Run progress" });
  const phase = h("p", { id: "run-phase", "aria-live": "polite" });
  const body = h("div", {});
  main.append(heading, bar, phase, body);
  for (;;) {
    const run = await api("GET", `/match-runs/${id}`);
    phase.textContent = `${run.status}${run.progress ? `: ${run.progress}` : ""}`;
    if (run.status === "done" || run.status === "failed") {
      bar.max = 1; bar.value = 1;
      if (run.status === "failed") { body.replaceChildren(h("p", { class: "error" }, run.error)); return; }
      renderResult(body, run);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
    if (!location.hash.startsWith(`#/runs/${id}`)) return;
  }
};

function renderResult(body, run) {
  const res = run.result;
  const download = h("a", { class: "button noprint", download: `match-run-${run.id}.json`,
    href: URL.createObjectURL(new Blob([JSON.stringify(res, null, 2)], { type: "application/json" })) }, "Download JSON");
  const print = h("button", { class: "secondary noprint", onclick: () => window.print() }, "Printable report");
  body.append(h("p", { class: "row" }, download, print));
  const levels = res.levels.map((l) => [l.description, l.value, l.bound]);
  body.append(h("h2", {}, "Summary"), h("p", {}, `Status ${res.status}; ${res.transplants} transplants in ${res.exchanges.length} exchanges; solver ${run.solver.name} ${run.solver.version}; snapshot ${run.snapshot_digest.slice(0, 12)}.`),
    h("p", { id: "run-policy" }, policyText(res.policy || run.policy)),
    table(["objective", "value", "bound"], levels));
  if (res.summary) {
    body.append(h("div", { class: "cards" },
      counts("Transplants by blood group", res.summary.matched.by_blood_group),
      counts("Transplants by sensitisation", res.summary.matched.by_cpra_band),
      counts("Unmatched by blood group", res.summary.unmatched.by_blood_group),
      counts("Unmatched by sensitisation", res.summary.unmatched.by_cpra_band)));
  }
  body.append(h("h2", {}, "Exchanges"));
  res.exchanges.forEach((e, k) => {
    const parts = e.transplants[0].breakdown ? Object.keys(e.transplants[0].breakdown) : [];
    body.append(h("section", { class: "exchange", "aria-label": `exchange ${k + 1}` },
      h("h3", {}, `${k + 1}. ${e.kind === "cycle" ? `${e.length}-way cycle` : `chain of ${e.length}`}`),
      diagram(e),
      table(["donor", "patient", "score", ...parts, ...(e.transplants[0].facts ? ["counted from"] : [])],
        e.transplants.map((t) => [t.donor, t.patient, fmt(t.score), ...parts.map((p) => fmt(t.breakdown[p])),
          ...(t.facts ? [factsText(t.facts)] : [])])),
      e.to_waiting_list ? h("p", {}, `Donor ${e.to_waiting_list} then gives to the deceased-donor waiting list.`) : null));
  });
  if (res.unmatched) {
    const why = {
      no_paired_donor: "no paired donor in the pool who may give, so no exchange can include them",
      no_compatible_donor: "no compatible donor in this pool",
      no_exchange_within_caps: "compatible donors exist, but no cycle or chain within the length limits reaches them",
      outcompeted: "compatible only in exchanges that lost to better ones",
      not_settled: "compatible in exchanges, but the run stopped at its time limit before settling them",
      not_active: "not active (suspended, matched, transplanted or withdrawn)",
    };
    body.append(h("h2", {}, "Patients not matched"), res.unmatched.length
      ? table(["patient", "why"], res.unmatched.map((u) => [u.patient, (why[u.reason] || u.reason) + ruledOut(u.excluded)])) : h("p", {}, "Everyone was matched."));
  }
}

function policyText(p) {
  // Which points table and, where a cPRA was computed, which panel: what the result rests on.
  const scoring = typeof p.scoring === "string" ? p.scoring : `${p.scoring.name} (the programme's own table)`;
  const cpra = p.cpra_computed_for && p.cpra_computed_for.length
    ? ` cPRA computed for ${p.cpra_computed_for.length} patient(s) against ${p.cpra_panel}${p.cpra_with_abo ? ", blood group included" : ""}.`
    : "";
  return `Scoring: ${scoring}${p.scoring_digest ? `, fingerprint ${p.scoring_digest}` : ""}.${cpra}`;
}

function factsText(facts) {
  // What the points were counted from, e.g. "cpra 0.97, matching runs 8, mismatch level 2".
  return Object.entries(facts).map(([name, v]) => `${name.replaceAll("_", " ")} ${fmt(v)}`).join(", ");
}

function ruledOut(excluded) {
  // For a patient with no compatible donor: how many donors each rule ruled out.
  if (!excluded) return "";
  const parts = Object.entries(excluded).map(([rule, n]) => `${rule.replaceAll("_", " ")}: ${n}`);
  return parts.length ? ` (donors ruled out by ${parts.join(", ")})` : "";
}

function diagram(exchange) {
  // Pairs (and the non-directed donor) as boxes; arrows from donor to patient, with the score.
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  };
  const t = exchange.transplants;
  const nodes = exchange.kind === "cycle"
    ? t.map((x, i) => ({ label: `${t[(i + t.length - 1) % t.length].patient} + ${x.donor}` }))
    : [{ label: t[0].donor + " (NDD)" }, ...t.map((x, i) => ({ label: `${x.patient} + ${t[i + 1]?.donor ?? exchange.to_waiting_list ?? ""}` }))];
  if (exchange.kind === "chain" && exchange.to_waiting_list) nodes.push({ label: "waiting list" });
  const w = 170, gap = 70, height = exchange.kind === "cycle" && t.length > 2 ? 200 : 110;
  const width = exchange.kind === "cycle" ? Math.max(2, t.length) * (w + gap) : nodes.length * (w + gap);
  const svg = s("svg", { class: "diagram", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `${exchange.kind} diagram: ` + t.map((x) => `${x.donor} gives to ${x.patient}, score ${x.score}`).join("; ") });
  const defs = s("defs", {});
  const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#0b5394" }));
  defs.append(marker); svg.append(defs);
  const pos = nodes.map((_, i) => ({ x: 10 + i * (w + gap), y: exchange.kind === "cycle" && t.length > 2 && i % 2 ? 130 : 20 }));
  nodes.forEach((n, i) => {
    svg.append(s("rect", { x: pos[i].x, y: pos[i].y, width: w, height: 44, rx: 6, fill: "#f3f5f8", stroke: "#4a4a4a" }));
    svg.append(s("text", { x: pos[i].x + 8, y: pos[i].y + 27 }, n.label));
  });
  const arrow = (a, b, label, curve) => {
    const x1 = pos[a].x + w, y1 = pos[a].y + 22, x2 = pos[b].x, y2 = pos[b].y + 22;
    const path = curve
      ? `M ${pos[a].x + w / 2} ${pos[a].y + 44} C ${pos[a].x + w / 2} ${height - 2}, ${pos[b].x + w / 2} ${height - 2}, ${pos[b].x + w / 2} ${pos[b].y + 44}`
      : `M ${x1} ${y1} L ${x2} ${y2}`;
    svg.append(s("path", { d: path, fill: "none", stroke: "#0b5394", "stroke-width": 2, "marker-end": "url(#arrow)" }));
    const lx = curve ? (pos[a].x + pos[b].x + w) / 2 : (x1 + x2) / 2 - 12;
    const ly = curve ? height - 6 : (y1 + y2) / 2 - 6;
    if (label !== "") svg.append(s("text", { x: lx, y: ly }, String(label)));
  };
  if (exchange.kind === "cycle") {
    for (let i = 0; i < t.length - 1; i++) arrow(i, i + 1, fmt(t[i + 1].score), false);
    arrow(t.length - 1, 0, fmt(t[0].score), true);
  } else {
    for (let i = 0; i < nodes.length - 1; i++) arrow(i, i + 1, i < t.length ? fmt(t[i].score) : "", false);
  }
  return svg;
}

// ---- exchanges and audit ------------------------------------------------------------------

screens.exchanges = async (main) => {
  main.append(h("h1", {}, "Exchanges"));
  const list = await api("GET", "/exchanges");
  const mine = session.role === "coordinator" ? `your centre (${session.centre})` : "the programme";
  main.append(h("p", {}, `Exchanges involving ${mine}: ${list.length}.`));
  const post = async (e, path, body, label) => {
    try { await api("POST", `/exchanges/${e.id}/${path}`, body); say(`${label}: done`); route(); }
    catch (err) { say(err.message); window.alert(err.message); }
  };
  const act = (e, path, label, cls) => h("button", { class: cls || "secondary", onclick: () => post(e, path, undefined, label) }, label);
  // An action that needs a detail (a date, a reason) opens a small labelled form below it.
  const ask = (e, area, path, label, input, body, cls) => h("button", { class: cls || "secondary", "aria-expanded": "false", onclick: (ev) => {
    const id = `ex-${e.id}-${path}-${label.replace(/\W+/g, "-").toLowerCase()}`;
    input.id = id;
    ev.currentTarget.setAttribute("aria-expanded", "true");
    area.replaceChildren(h("form", { class: "row", onsubmit: (s2) => { s2.preventDefault(); post(e, path, body(input.value), label); } },
      h("div", {}, h("label", { for: id }, label), input), h("div", {}, h("button", { type: "submit" }, "Confirm")),
      h("div", {}, h("button", { type: "button", class: "secondary", onclick: () => area.replaceChildren() }, "Cancel"))));
    input.focus();
  } }, label);
  for (const e of list) {
    const actions = [];
    const area = h("div", { class: "noprint" });
    if (session.role !== "auditor") {
      if (e.state === "proposed" && session.role === "coordinator" && !e.accepted_by.includes(session.centre)) actions.push(act(e, "accept", "Accept for my centre"));
      if (e.state === "accepted") {
        actions.push(h("button", { class: "secondary", onclick: () => post(e, "crossmatch", { passed: true }, "Crossmatch passed") }, "Crossmatch passed"));
        actions.push(ask(e, area, "crossmatch", "Crossmatch failed", h("input", {}), (v) => ({ passed: false, detail: v || undefined }), "danger"));
      }
      if (e.state === "crossmatch_passed") actions.push(ask(e, area, "schedule", "Schedule surgery on", h("input", { type: "date", required: true }), (v) => ({ on: v })));
      if (e.state === "scheduled") actions.push(act(e, "done", "Mark done"));
      if (!["done", "broken"].includes(e.state)) actions.push(ask(e, area, "break", "Break: reason", h("input", { required: true, minlength: 3 }), (v) => ({ reason: v }), "danger"));
    }
    main.append(h("section", { class: "exchange", "aria-label": `exchange ${e.id}`, "data-exchange": e.id },
      h("h2", {}, `Exchange ${e.id} (run ${e.run_id}): ${e.kind}`),
      h("p", {}, "State: ", h("span", { class: `state state-${e.state}` }, e.state.replace("_", " ")),
        e.broken_reason ? ` (${e.broken_reason})` : "", e.accepted_by.length ? `; accepted by ${e.accepted_by.join(", ")}` : ""),
      diagram({ ...e, length: e.transplants.length }),
      h("p", { class: "row noprint" }, actions), area));
  }
};

screens.audit = async (main, params) => {
  main.append(h("h1", {}, "Audit trail"));
  const offset = Number(params.get("offset") || 0);
  const page = await api("GET", `/audit-events?limit=100&offset=${offset}`);
  main.append(h("p", {}, `${page.total} events; showing ${offset + 1} to ${offset + page.items.length}.`),
    table(["when", "who", "action", "subject", "from", "details"], page.items.map((e) => [
      e.at.slice(0, 19).replace("T", " "), e.actor ?? "", e.action, e.subject_type ? `${e.subject_type} ${e.subject_id ?? ""}` : "",
      e.source ?? "", Object.keys(e.detail).length ? JSON.stringify(e.detail).slice(0, 120) : ""])),
    h("p", { class: "row" },
      offset > 0 ? h("a", { href: `#/audit?offset=${Math.max(0, offset - 100)}` }, "Newer") : null,
      offset + 100 < page.total ? h("a", { href: `#/audit?offset=${offset + 100}` }, "Older") : null));
};

// ---- routing --------------------------------------------------------------------------------

const NAV = {
  coordinator: [["#/", "Dashboard"], ["#/patients", "Patients"], ["#/donors", "Donors"], ["#/exchanges", "Exchanges"], ["#/runs", "Matching runs"]],
  admin: [["#/", "Dashboard"], ["#/runs", "Matching runs"], ["#/exchanges", "Exchanges"]],
  auditor: [["#/", "Dashboard"], ["#/patients", "Patients"], ["#/donors", "Donors"], ["#/exchanges", "Exchanges"], ["#/runs", "Matching runs"], ["#/audit", "Audit trail"]],
};

function renderNav(path) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!session.token) { nav.replaceChildren(); who.replaceChildren(); return; }
  nav.replaceChildren(...(NAV[session.role] || []).map(([href, text]) =>
    h("a", { href, "aria-current": (href === "#/" ? path === "" : path.startsWith(href.slice(2))) ? "page" : null }, text)));
  who.replaceChildren(`${session.user} (${session.role}${session.centre ? `, ${session.centre}` : ""}) `,
    h("button", { class: "secondary", id: "sign-out", onclick: () => { session.clear(); go("#/login"); } }, "Sign out"));
}

async function route() {
  const [rawPath, query] = location.hash.replace(/^#\/?/, "").split("?");
  const path = rawPath || "";
  const params = new URLSearchParams(query || "");
  const main = document.getElementById("main");
  main.replaceChildren();
  if (!session.token && path !== "login") { go("#/login"); return; }
  renderNav(path);
  const parts = path.split("/");
  let screen = screens.dashboard, arg;
  if (path === "login") screen = screens.login;
  else if (path === "pairs/new") screen = screens.newPair;
  else if (path === "donors/new") screen = screens.newDonor;
  else if (parts[0] === "patients" && parts[1]) { screen = screens.patient; arg = decodeURIComponent(parts[1]); }
  else if (parts[0] === "donors" && parts[1]) { screen = screens.donor; arg = decodeURIComponent(parts[1]); }
  else if (parts[0] === "runs" && parts[1]) { screen = screens.run; arg = parts[1]; }
  else if (screens[parts[0]]) screen = screens[parts[0]];
  try {
    await screen(main, params, arg);
    document.title = `${main.querySelector("h1")?.textContent || ""} - possible`;
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  } catch (err) { showError(main, err); }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
