// The page of `anymae serve`: talks to /api/* only (served from this machine).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { runs: [], maskers: [], request: 0, timer: null, hide: new Set(), modalities: null };

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  children.forEach((c) => node.appendChild(c));
  return node;
}

function figure(title, src, cls) {
  return el("figure", cls ? { class: cls } : {}, [el("img", { src, alt: title }), el("figcaption", { text: title })]);
}

// ------------------------------------------------------------ reconstruct tab
function currentRun() { return state.runs.find((r) => r.id === $("run").value) || null; }

function fillMaskerArgs() {
  const box = $("masker-args");
  box.innerHTML = "";
  const masker = state.maskers.find((m) => m.name === $("masker").value);
  $("masker-doc").textContent = masker ? masker.doc : "The masker the run was trained with (its recipe's, or --masker), at the ratio chosen here.";
  if (!masker) return;
  for (const arg of masker.args) {
    const input = el("input", { "data-arg": arg.name, "data-type": arg.type, placeholder: arg.default === null ? "" : String(arg.default) });
    input.addEventListener("change", schedule);
    box.appendChild(el("label", { text: arg.name + " " }, [input]));
  }
}

function maskerArgs() {
  const args = {};
  for (const input of $("masker-args").querySelectorAll("input")) {
    const text = input.value.trim();
    if (!text) continue;
    const type = input.dataset.type;
    args[input.dataset.arg] = (type === "int" || type === "float") && !isNaN(Number(text)) ? Number(text)
      : type === "bool" ? text === "true" : text;
  }
  return args;
}

function fillModalities(names) {
  const box = $("modalities");
  if (state.modalities && state.modalities.join() === names.join()) return;
  state.modalities = names;
  box.innerHTML = "";
  for (const name of names) {
    const box1 = el("input", { type: "checkbox", id: "hide-" + name });
    box1.checked = state.hide.has(name);
    box1.addEventListener("change", () => {
      if (box1.checked) state.hide.add(name); else state.hide.delete(name);
      schedule();
    });
    box.appendChild(el("label", { text: "hide " + name + " " }, [box1]));
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(update, 120);
}

async function update() {
  const run = currentRun();
  if (!run || run.generator) return;
  const form = new FormData();
  form.append("run", run.id);
  form.append("masker", $("masker").value);
  form.append("ratio", $("ratio").value);
  form.append("seed", $("seed").value || "0");
  form.append("masker_args", JSON.stringify(maskerArgs()));
  form.append("hide", Array.from(state.hide).join(","));
  const file = $("file").files[0];
  if ($("source-file").checked && file) form.append("file", file, file.name);
  else form.append("sample", $("sample").value || "0");
  const id = ++state.request;
  $("status").textContent = "working...";
  const started = performance.now();
  try {
    const out = await api("/api/reconstruct", { method: "POST", body: form });
    if (id !== state.request) return;  // a newer request is on its way
    showError("");
    draw(out);
    $("status").textContent = `updated in ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    if (id !== state.request) return;
    showError(err.message);
    $("status").textContent = "";
  }
}

function draw(out) {
  const box = $("result");
  box.innerHTML = "";
  box.dataset.ratio = out.ratio;
  box.dataset.seed = out.seed;
  if (out.rows) {  // multi-modal: one row per modality
    fillModalities(out.modalities);
    for (const row of out.rows) {
      box.appendChild(el("div", { class: "row" }, [el("div", { class: "label", text: row.name + (row.hidden_all ? " (hidden)" : "") }),
        ...row.panels.map((p) => figure(p.title, p.png))]));
    }
    $("summary").textContent = out.rows.map((r) => `${r.name}: ${r.num_hidden}/${r.num_tokens} hidden` +
      (r.mean_error !== undefined ? `, mean error ${r.mean_error.toFixed(4)}` : "")).join(" | ");
    return;
  }
  fillModalities([]);
  if (out.points) {
    const views = new PointViews();
    const wrap = el("div", { class: "points" });
    const layers = [["input", [[out.points.input, "#455a64"]]], ["visible groups", [[out.points.visible, "#455a64"]]],
      ["reconstruction (red: predicted)", [[out.points.visible, "#90a4ae"], [out.points.predicted, "#d32f2f"]]],
      ["hidden groups, truth", [[out.points.hidden_truth, "#1565c0"]]]];
    for (const [title, parts] of layers) {
      const canvas = el("canvas", { width: 260, height: 260 });
      wrap.appendChild(el("figure", {}, [canvas, el("figcaption", { text: title })]));
      views.add(canvas, parts.map(([points, colour]) => ({ points, colour })));
    }
    box.appendChild(wrap);
    box.appendChild(el("p", { class: "doc", text: "Drag to turn, wheel to zoom." }));
  } else if (out.frames) {  // video: a strip of frames per panel
    for (const panel of out.panels) {
      box.appendChild(el("div", { class: "row" }, [el("div", { class: "label", text: panel.title }),
        el("div", { class: "strip" }, panel.frames.map((src, t) => figure("t=" + t, src, "frame")))]));
    }
  } else {
    box.appendChild(el("div", { class: "row", id: "panels" }, out.panels.map((p) => figure(p.title, p.png))));
  }
  const hidden = out.mean_error_hidden, visible = out.mean_error_visible;
  $("summary").textContent = out.num_tokens === undefined ? "" :
    `${out.num_hidden} of ${out.num_tokens} tokens hidden (masker ${out.masker}, ratio ${out.ratio}, seed ${out.seed}); ` +
    `mean squared error per token: hidden ${hidden === null ? "-" : hidden.toFixed(4)}, visible ${visible === null ? "-" : visible.toFixed(4)} ` +
    `(normalised units; the error map's top is ${out.error_max.toFixed(4)})`;
}

// ------------------------------------------------------------ generate panel (generator runs)
function showMode() {
  const gen = Boolean(currentRun() && currentRun().generator);
  $("reconstruct-controls").hidden = gen;
  $("generate-controls").hidden = !gen;
  $("result").hidden = gen;
  $("generated").hidden = !gen;
  $("masker-doc").hidden = gen;
  $("summary").textContent = "";
}

function fillGenerateOptions(out) {
  if (state.generateRun === out.run) return;
  state.generateRun = out.run;
  const klass = $("gen-class"), sampler = $("gen-sampler");
  klass.innerHTML = "";
  klass.appendChild(el("option", { value: "all", text: out.num_classes ? "every class (one row each)" : "unconditional" }));
  out.classes.forEach((name, i) => klass.appendChild(el("option", { value: String(i), text: name === String(i) ? name : `${i}: ${name}` })));
  klass.value = out.class === null ? "all" : String(out.class);
  sampler.innerHTML = "";
  for (const name of out.samplers) sampler.appendChild(el("option", { value: name, text: name }));
  sampler.value = out.sampler;
  $("gen-steps").max = String(out.num_tokens);
}

async function generate() {
  const run = currentRun();
  if (!run || !run.generator) return;
  const fresh = state.generateRun !== run.id;  // another run: its classes and samplers are not known yet
  const settings = { run: run.id, steps: $("gen-steps").value, temperature: $("gen-temperature").value,
    guidance: $("gen-guidance").value, seed: $("gen-seed").value || "0", count: $("gen-count").value };
  if (!fresh) { settings.class = $("gen-class").value; settings.sampler = $("gen-sampler").value; }
  const id = ++state.request;
  $("status").textContent = "generating...";
  try {
    const out = await api("/api/generate", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(settings) });
    if (id !== state.request) return;
    showError("");
    fillGenerateOptions(out);
    $("samples").src = out.picture;
    $("generated").dataset.seed = out.seed;
    $("summary").textContent = `${out.count} samples of ${out.run} (${out.class === null ? "every class" : "class " + out.class}), ` +
      `${out.sampler}, ${out.steps} steps (${out.full_passes} full + ${out.cheap_passes} cheap passes), temperature ${out.temperature}, ` +
      `guidance ${out.guidance}, seed ${out.seed}: ${out.seconds.toFixed(3)} s`;
    $("status").textContent = `generated in ${out.seconds.toFixed(2)} s`;
  } catch (err) {
    if (id !== state.request) return;
    showError(err.message);
    $("status").textContent = "";
  }
}

// ------------------------------------------------------------ mask gallery tab
async function drawGallery() {
  const params = new URLSearchParams({ masker: $("gallery-masker").value, seed: $("gallery-seed").value || "0" });
  if ($("gallery-ratio").value) params.set("ratio", $("gallery-ratio").value);
  $("status").textContent = "drawing masks...";
  try {
    const blob = await api("/api/masks?" + params.toString());
    $("gallery").src = URL.createObjectURL(blob);
    showError("");
  } catch (err) { showError(err.message); }
  $("status").textContent = "";
}

// ------------------------------------------------------------ run tab
function drawCurve(curve) {
  const canvas = $("curve"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!curve || curve.step.length === 0) { $("curve-note").textContent = "no metrics.csv in this run"; return; }
  const left = 50, bottom = canvas.height - 30, top = 10, right = canvas.width - 10;
  const xs = curve.step, ys = curve.loss;
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const px = (x) => left + (x - x0) / (x1 - x0) * (right - left), py = (y) => bottom - (y - y0) / (y1 - y0) * (bottom - top);
  ctx.strokeStyle = "#999"; ctx.beginPath(); ctx.moveTo(left, top); ctx.lineTo(left, bottom); ctx.lineTo(right, bottom); ctx.stroke();
  ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
  ctx.fillText(y1.toFixed(3), 2, top + 8); ctx.fillText(y0.toFixed(3), 2, bottom);
  ctx.fillText("step " + x0, left, bottom + 15); ctx.fillText("step " + x1, right - 60, bottom + 15);
  ctx.strokeStyle = "#00796b"; ctx.lineWidth = 1.5; ctx.beginPath();
  xs.forEach((x, i) => (i ? ctx.lineTo(px(x), py(ys[i])) : ctx.moveTo(px(x), py(ys[i]))));
  ctx.stroke(); ctx.lineWidth = 1;
  $("curve-note").textContent = `training loss, ${xs.length} points from metrics.csv`;
}

function drawProbe(rows) {
  const box = $("probe");
  box.innerHTML = "";
  if (!rows) { box.textContent = "no probe.json yet: `anymae probe RUN` writes it"; return; }
  const keys = ["linear", "knn"].filter((k) => rows.some((r) => r[k] !== undefined));
  const head = el("tr", {}, [el("th", { text: "features" }), ...keys.map((k) => el("th", { text: k }))]);
  const body = rows.map((r) => el("tr", {}, [el("td", { text: r.name }),
    ...keys.map((k) => el("td", { text: typeof r[k] === "number" ? (100 * r[k]).toFixed(1) + "%" : "-" }))]));
  box.appendChild(el("table", {}, [head, ...body]));
}

async function showRun() {
  const run = currentRun();
  if (!run) return;
  try {
    const info = await api("/api/runs/" + encodeURIComponent(run.id));
    $("run-title").textContent = `${info.id}: ${info.recipe || "?"} on ${info.data || "?"} (${info.path})`;
    $("config").textContent = info.config || info.error || "";
    drawCurve(info.curve);
    drawProbe(info.probe);
  } catch (err) { showError(err.message); }
}

// ------------------------------------------------------------ start
function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const page of document.querySelectorAll(".page")) page.hidden = page.id !== "page-" + name;
  showError("");
  if (name === "run") showRun();
  if (name === "masks" && !$("gallery").getAttribute("src")) drawGallery();
}

async function start() {
  try {
    const [runs, maskers] = await Promise.all([api("/api/runs"), api("/api/maskers")]);
    state.runs = runs.runs;
    state.maskers = maskers.maskers;
  } catch (err) { showError(err.message); return; }
  for (const run of state.runs) {
    $("run").appendChild(el("option", { value: run.id, text: `${run.id} (${run.recipe || "?"}, ${run.modality || "?"})` }));
  }
  $("masker").appendChild(el("option", { value: "", text: "the run's own" }));
  for (const m of state.maskers) {
    $("masker").appendChild(el("option", { value: m.name, text: m.name }));
    $("gallery-masker").appendChild(el("option", { value: m.name, text: m.name }));
  }
  $("gallery-masker").appendChild(el("option", { value: "all", text: "all" }));
  $("gallery-masker").value = "random";
  $("masker").value = "";
  fillMaskerArgs();
  if (!state.runs.length) showError("no run folders: start `anymae serve RUN` with a run folder (see `anymae pretrain`)");
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("ratio").addEventListener("input", () => { $("ratio-value").textContent = $("ratio").value; schedule(); });
  $("masker").addEventListener("change", () => { fillMaskerArgs(); schedule(); });
  $("run").addEventListener("change", () => {
    state.hide.clear(); state.modalities = null; showMode();
    if (currentRun() && currentRun().generator) generate(); else schedule();
    if (!$("page-run").hidden) showRun();
  });
  $("generate").addEventListener("click", generate);
  $("file").addEventListener("change", () => { $("source-file").checked = true; schedule(); });
  for (const id of ["seed", "sample", "source-sample", "source-file"]) $(id).addEventListener("change", schedule);
  $("gallery-draw").addEventListener("click", drawGallery);
  showMode();
  if (state.runs.length) { if (currentRun().generator) generate(); else update(); }
}

start();
