// convlens explorer: choose runs, give an image (draw, upload, drop, a test image), and see the
// overview of every run chosen; click through to the formula view.
"use strict";
window.CL = window.CL || {};

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
let run = null, info = null, second = null, drawing = false, pending = null, lastBlob = null, samplesAt = 0;

CL.api = async function (path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) throw new Error(body.detail || res.statusText);
  return body;
};
const runUrl = (name) => `/api/runs/${encodeURIComponent(name)}`;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

async function loadRuns() {
  const { runs } = await CL.api("/api/runs");
  $("run").innerHTML = runs.map((r) => `<option>${CL.escape(r)}</option>`).join("");
  $("compare").innerHTML = `<option value="">(no second run)</option>` + runs.map((r) => `<option>${CL.escape(r)}</option>`).join("");
  if (runs.length) await chooseRun(runs[0]);
  else $("run-info").textContent = "no runs: train one with `convlens train`";
}

async function chooseRun(name) {
  run = name;
  info = await CL.api(runUrl(name));
  const [c, h, w] = info.input_shape;
  $("run-info").textContent = `${info.model} on ${info.data}, input ${c}x${h}x${w}`;
  pad.hidden = !info.grayscale;
  $("yours").hidden = true;
  $("input-hint").textContent = (info.grayscale ? "Draw with mouse or finger, upload, or drop an image here" : "Upload or drop an image here") + "; or pick a test image.";
  $("panes").innerHTML = "";
  $("formula").hidden = true;
  clearPad();
  samplesAt = 0;
  $("samples").innerHTML = "";
  $("mistakes").innerHTML = "";
  CL.drawCurves($("curves"), info.metrics);
  CL.loadHistory(name).catch((err) => { $("history").textContent = err.message; });
  loadSamples().catch((err) => { $("samples").textContent = err.message; });
  pickTest(0);
}

// ------------------------------------------------------------------ images in
function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}
pad.addEventListener("pointerdown", (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  const [x, y] = padPoint(e);
  ctx.beginPath();
  ctx.moveTo(x, y);
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  const [x, y] = padPoint(e);
  ctx.lineWidth = 22;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.strokeStyle = "#000";
  ctx.lineTo(x, y);
  ctx.stroke();
  schedule();
});
pad.addEventListener("pointerup", () => { drawing = false; schedule(0); });
$("clear").addEventListener("click", () => {  // back to drawing (grayscale models)
  clearPad();
  pad.hidden = !info.grayscale;
  $("yours").hidden = info.grayscale;
});
$("invert").addEventListener("change", () => { if (lastBlob) send(lastBlob); });

function schedule(delay = 150) {
  clearTimeout(pending);
  pending = setTimeout(() => pad.toBlob((blob) => send(blob), "image/png"), delay);
}

// an uploaded or dropped file: shown in "Your image" (on the pad for grayscale models)
function useFile(file) {
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    if (info.grayscale) {
      clearPad();
      const s = Math.min(pad.width / img.width, pad.height / img.height);
      ctx.drawImage(img, (pad.width - img.width * s) / 2, (pad.height - img.height * s) / 2, img.width * s, img.height * s);
    }
  };
  img.src = url;
  $("yours").src = url;
  $("yours").hidden = info.grayscale;
  send(file);
}
$("file").addEventListener("change", (e) => {
  if (e.target.files[0]) useFile(e.target.files[0]);
  e.target.value = "";  // the same file again is a new choice
});
for (const target of [pad, document.body]) {
  target.addEventListener("dragover", (e) => { e.preventDefault(); pad.classList.add("drop"); });
  target.addEventListener("drop", (e) => {
    e.preventDefault();
    pad.classList.remove("drop");
    if (e.dataTransfer.files[0]) useFile(e.dataTransfer.files[0]);
  });
}

async function post(name, blob, invert) {
  return CL.api(`${runUrl(name)}/overview?invert=${invert}`,
    { method: "POST", body: blob, headers: { "Content-Type": "application/octet-stream" } });
}

async function send(blob) {
  lastBlob = blob;
  try {
    const ov = await post(run, blob, $("invert").value);
    show(ov);
    $("true-label").textContent = "";
  } catch (err) {
    $("note").textContent = err.message;
  }
}

async function pickTest(index) {
  try {
    const ov = await CL.api(`${runUrl(run)}/overview?index=${index}`);
    lastBlob = null;
    $("yours").src = ov.image;
    $("yours").hidden = false;
    pad.hidden = true;
    show(ov);
    const wrong = ov.top[0].class !== ov.true;
    $("true-label").textContent = `test image ${index}, true label: ${ov.true}`;
    $("true-label").classList.toggle("wrong", wrong);
  } catch (err) {
    $("note").textContent = err.message;
  }
}

// ------------------------------------------------------------------ overviews
function pane(name, ov, main) {
  const div = document.createElement("div");
  div.className = "pane";
  div.innerHTML = `<h3>${CL.escape(name)}: ${CL.escape(ov.top[0].class)} ${(100 * ov.top[0].prob).toFixed(1)}%</h3>`;
  const host = document.createElement("div");
  div.append(host);
  $("panes").append(div);
  const p = CL.drawOverview(host, ov, (pn, layer, k, el) => CL.openFormula(pn, layer, k, el));
  p.run = name;
  p.main = main;
  return p;
}

let shown = 0;  // which call of show() is the latest: an older one stops after its await
async function show(ov) {
  const mine = ++shown;
  CL.stopFormula();
  $("formula").hidden = true;
  $("note").textContent = ov.note || "";
  $("top-class").textContent = ov.top[0].class;
  $("top-prob").textContent = `${(100 * ov.top[0].prob).toFixed(1)}%`;
  $("panes").innerHTML = "";
  pane(run, ov, true);
  if (second && second !== run) {
    try {  // the same image, as the first run saw it, through the second run
      const blob = await (await fetch(ov.image)).blob();
      const other = await post(second, blob, "no");
      if (mine !== shown) return;  // a newer image is on screen: its own call draws the pair
      pane(second, other, false);
    } catch (err) {
      if (mine === shown) $("note").textContent = `${second}: ${err.message}`;
    }
  }
  document.body.dataset.drawn = String(Date.now());
}

// ------------------------------------------------------------------ test images, mistakes
function thumb(t, caption) {
  const fig = document.createElement("figure");
  fig.innerHTML = `<img src="${t.png}" alt="test image ${t.index}"><figcaption>${caption}</figcaption>`;
  fig.dataset.index = t.index;
  fig.addEventListener("click", () => pickTest(t.index));
  return fig;
}

async function loadSamples() {
  const s = await CL.api(`${runUrl(run)}/samples?n=24&offset=${samplesAt}`);
  s.images.forEach((t) => $("samples").append(thumb(t, CL.escape(t.label))));
  samplesAt += s.images.length;
  $("more-samples").hidden = samplesAt >= s.total;
}
$("more-samples").addEventListener("click", loadSamples);
$("load-mistakes").addEventListener("click", async () => {
  $("mistakes").textContent = "evaluating…";
  try {
    const m = await CL.api(`${runUrl(run)}/mistakes?n=16`);
    $("mistakes").innerHTML = m.mistakes.length ? "" : `no mistakes in the first ${m.searched} test images`;
    m.mistakes.forEach((t) => $("mistakes").append(thumb(t, `${CL.escape(t.label)} &rarr; ${CL.escape(t.predicted)} ${(100 * t.prob).toFixed(0)}%`)));
  } catch (err) {
    $("mistakes").textContent = err.message;
  }
});

// ------------------------------------------------------------------ tabs, runs
function openTab(b) {
  document.querySelectorAll("#tabs button").forEach((x) => {
    x.classList.toggle("active", x === b);
    const tab = $(x.dataset.tab);
    if (tab) tab.hidden = x !== b;
  });
}
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => openTab(b)));
openTab(document.querySelector("#tabs button.active"));
$("run").addEventListener("change", (e) => chooseRun(e.target.value));
$("compare").addEventListener("change", (e) => {
  second = e.target.value || null;
  if (lastBlob) send(lastBlob);
  else if ($("yours").src) fetch($("yours").src).then((r) => r.blob()).then((b) => send(b));
});

clearPad();
loadRuns();
