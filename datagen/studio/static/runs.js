// The runs page: start a run, follow its output over server-sent events, cancel it.
(function () {
  "use strict";
  const xsrf = document.querySelector('meta[name="xsrf"]').content;
  const status = document.getElementById("status");
  const say = (m, bad) => { status.textContent = m; status.className = bad ? "bad" : "ok"; };
  let source = null, current = null;

  async function post(path, body) {
    const res = await fetch(path, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-XSRF-Token": xsrf}, body: JSON.stringify(body || {})});
    const out = await res.json().catch(() => ({error: "HTTP " + res.status}));
    if (!res.ok) throw new Error(out.error || ("HTTP " + res.status));
    return out;
  }

  function follow(id) {
    if (source) source.close();
    current = id;
    document.getElementById("run-view").hidden = false;
    document.getElementById("run-id").textContent = id;
    const log = document.getElementById("run-log");
    const state = document.getElementById("run-state");
    const published = document.getElementById("run-published");
    log.textContent = ""; published.textContent = ""; state.textContent = "running";
    document.getElementById("cancel-run").hidden = false;
    source = new EventSource("/api/runs/" + encodeURIComponent(id) + "/events");
    source.addEventListener("line", (ev) => {
      log.textContent += JSON.parse(ev.data) + "\n";
      log.scrollTop = log.scrollHeight;
    });
    source.addEventListener("end", (ev) => {
      const end = JSON.parse(ev.data);
      state.textContent = end.state + (end.returncode !== null ? " (exit " + end.returncode + ")" : "");
      for (const ref of end.published) {
        const [name, version] = ref.split("@");
        const a = document.createElement("a");
        a.href = "/d/" + encodeURIComponent(name) + "/" + encodeURIComponent(version);
        a.textContent = "open " + ref;
        a.className = "published-version";
        published.appendChild(a);
      }
      document.getElementById("cancel-run").hidden = true;
      source.close();
    });
  }

  for (const [formId, kind] of [["start-pipeline", "pipeline"], ["start-generator", "generator"]]) {
    document.getElementById(formId).addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target, body = {kind: kind, args: f.elements.args.value};
      if (kind === "pipeline") body.path = f.elements.path.value; else body.generator = f.elements.generator.value;
      try { const job = await post("/api/runs", body); say("started " + job.id); follow(job.id); }
      catch (e) { say(e.message, true); }
    });
  }
  document.getElementById("cancel-run").addEventListener("click", async () => {
    if (!current) return;
    try { await post("/api/runs/" + encodeURIComponent(current) + "/cancel"); say("cancelling " + current); }
    catch (e) { say(e.message, true); }
  });
  document.querySelectorAll("a[data-run]").forEach((a) => a.addEventListener("click", () => follow(a.dataset.run)));
  if (location.hash.length > 1) follow(location.hash.slice(1));
})();
