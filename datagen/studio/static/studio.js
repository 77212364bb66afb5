// datagen studio: keyboard review and the few POSTs. Text is only ever set with
// textContent, never innerHTML: record text is untrusted.
(function () {
  "use strict";
  const xsrf = document.querySelector('meta[name="xsrf"]').content;
  const dataEl = document.getElementById("page-data");
  if (!dataEl) return;
  const page = JSON.parse(dataEl.textContent);
  const api = "/api/datasets/" + encodeURIComponent(page.name) + "/" + encodeURIComponent(page.version);
  const status = document.getElementById("status");
  const say = (msg, bad) => { if (status) { status.textContent = msg; status.className = bad ? "bad" : "ok"; } };

  async function post(path, body) {
    const res = await fetch(api + path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-XSRF-Token": xsrf},
      body: JSON.stringify(body),
    });
    const out = await res.json().catch(() => ({error: "HTTP " + res.status}));
    if (!res.ok) throw Object.assign(new Error(out.error || ("HTTP " + res.status)), {status: res.status});
    return out;
  }

  function showDraft(d) {
    page.revision = d.revision;
    const rev = document.getElementById("revision");
    if (rev) rev.textContent = d.revision;
    const c = document.getElementById("counts");
    if (c && d.counts) {
      const un = page.recordsTotal !== undefined ? "" : "";
      c.textContent = d.counts.accept + " accepted · " + d.counts.reject + " rejected · " + d.counts.edit + " edited" + un;
    }
  }

  async function review(body) {
    try {
      const d = await post("/review", Object.assign({revision: page.revision}, body));
      showDraft(d);
      return d;
    } catch (e) {
      say(e.status === 409 ? "stale: " + e.message : e.message, true);
      throw e;
    }
  }

  const note = () => (document.getElementById("note") || {}).value || "";
  const editor = document.getElementById("editor");

  function openEditor(id, rec, done) {
    const f = document.getElementById("edit-form");
    document.getElementById("edit-id").textContent = id;
    for (const k of ["instruction", "input", "output"]) f.elements[k].value = rec[k] || "";
    editor.returnValue = "";
    editor.onclose = async () => {
      if (editor.returnValue !== "save") return;
      const edit = {};
      for (const k of ["instruction", "input", "output"]) if (f.elements[k].value !== (rec[k] || "")) edit[k] = f.elements[k].value;
      if (!Object.keys(edit).length) { say("no change"); return; }
      await review({id: id, action: "edit", edit: edit, note: note()});
      done();
    };
    editor.showModal();
  }

  function typing(ev) {
    const t = ev.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || (editor && editor.open));
  }

  // ---- the version page: a table of records -------------------------------------------
  const table = document.getElementById("records");
  if (table) {
    const rows = Array.from(table.querySelectorAll("tbody tr"));
    let cur = rows.length ? 0 : -1;
    const select = (i) => {
      if (!rows.length) return;
      cur = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach((r, j) => r.classList.toggle("sel", j === cur));
      rows[cur].focus({preventScroll: true});
      rows[cur].scrollIntoView({block: "nearest"});
    };
    const mark = (row, action) => {
      const cell = row.querySelector(".state");
      cell.textContent = action || "";
      cell.className = "state " + (action || "");
    };
    const history = [];
    rows.forEach((r, j) => r.addEventListener("click", () => select(j)));
    select(0);
    document.addEventListener("keydown", async (ev) => {
      if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey || cur < 0) return;
      const row = rows[cur], id = row.dataset.id;
      try {
        if (ev.key === "j") { select(cur + 1); }
        else if (ev.key === "k") { select(cur - 1); }
        else if (ev.key === "Enter") { row.querySelector("a").click(); }
        else if (ev.key === "a" || ev.key === "r") {
          const action = ev.key === "a" ? "accept" : "reject";
          await review({id: id, action: action, note: action === "reject" ? note() : ""});
          history.push([row, row.querySelector(".state").textContent]);
          mark(row, action); say(action + "ed " + id); select(cur + 1);
        } else if (ev.key === "e") {
          ev.preventDefault();
          const res = await fetch(api + "/records/" + encodeURIComponent(id), {credentials: "same-origin"});
          const rec = await res.json();
          openEditor(id, rec, () => { history.push([row, row.querySelector(".state").textContent]); mark(row, "edit"); say("edited " + id); });
        } else if (ev.key === "u") {
          await review({action: "undo"});
          const last = history.pop();
          if (last) { mark(last[0], last[1]); select(rows.indexOf(last[0])); }
          say("undone");
        }
      } catch (e) { /* said in the status line */ }
    });
    const bulk = async (action) => {
      try {
        const d = await review({action: action, filter: page.query, note: note()});
        say(action + "ed " + d.selected + " records (all matching the filter)");
        rows.forEach((r) => mark(r, action));
      } catch (e) { /* said */ }
    };
    const br = document.getElementById("bulk-reject"), ba = document.getElementById("bulk-accept");
    if (br) br.addEventListener("click", () => bulk("reject"));
    if (ba) ba.addEventListener("click", () => bulk("accept"));
    const pub = document.getElementById("publish");
    if (pub) pub.addEventListener("click", async () => {
      pub.disabled = true;
      say("publishing…");
      try {
        const v = await post("/publish", {revision: page.revision});
        say("");
        const a = document.createElement("a");
        a.href = "/d/" + encodeURIComponent(page.name) + "/" + encodeURIComponent(v.version);
        a.id = "published-link";
        a.textContent = "published " + v.ref + ": " + v.records + " records, " + v.rejected + " rejected";
        status.appendChild(a);
      } catch (e) { say(e.message, true); pub.disabled = false; }
    });
  }

  // ---- the report: built once per version, then the page shows its figures ----------------
  const buildReport = document.getElementById("build-report");
  if (buildReport) buildReport.addEventListener("click", async () => {
    const rs = document.getElementById("report-status");
    buildReport.disabled = true;
    rs.textContent = "building the report… (a minute for a large version)";
    try {
      await post("/report", {});
      window.location.reload();
    } catch (e) { rs.textContent = e.message; rs.className = "bad"; buildReport.disabled = false; }
  });

  // ---- the record page -----------------------------------------------------------------
  if (page.id && !table) {
    const act = async (action) => {
      try {
        if (action === "edit") {
          openEditor(page.id, page.record, () => say("edited (draft r" + page.revision + ")"));
          return;
        }
        await review(action === "undo" ? {action: "undo"} : {id: page.id, action: action, note: note()});
        say(action === "undo" ? "undone" : action + "ed (draft r" + page.revision + ")");
      } catch (e) { /* said */ }
    };
    document.querySelectorAll("button[data-act]").forEach((b) => b.addEventListener("click", () => act(b.dataset.act)));
    const keys = {a: "accept", r: "reject", e: "edit", u: "undo"};
    document.addEventListener("keydown", (ev) => {
      if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (keys[ev.key]) { ev.preventDefault(); act(keys[ev.key]); }
      else if (ev.key === "j" || ev.key === "k") {
        const link = document.getElementById(ev.key === "j" ? "next-record" : "prev-record");
        if (link) link.click();
      }
    });
  }
})();
