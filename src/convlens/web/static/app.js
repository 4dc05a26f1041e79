// convlens explorer: choose runs, give an image (draw, upload, drop, a test image), and see the
// overview of every run chosen; click through to the formula view.
"use strict";
window.CL = window.CL || {};

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
let run = null, info = null, second = null, drawing = false, pending = null, lastBlob = null, samplesAt = 0;
let fromPad = false;  // the last image is a drawing on the page's own pad (white on black)
let lastTest = null;  // or the index of the test image on screen
let secondInfo = null;  // the second run's info
let drawn = [];  // [name, overview] of the panes on screen: redrawn when the window resizes

CL.api = async function (path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) throw new Error(body.detail || res.statusText);
  return body;
};
const runUrl = (name) => `/api/runs/${encodeURIComponent(name)}`;

function clearPad() {  // black paper, white ink: what digit models were trained on
  ctx.fillStyle = "#000";
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
  second = null;
  lastTest = null;
  $("compare").value = "";
  $("pair").hidden = true;
  pad.hidden = !info.grayscale;
  $("yours").hidden = true;
  $("input-hint").textContent = (info.grayscale ? "Draw with mouse or finger, upload, or drop an image here" : "Upload or drop an image here") + "; or pick a test image.";
  clearResult();
  clearPad();
  samplesAt = 0;
  $("samples").innerHTML = "";
  $("mistakes").innerHTML = "";
  CL.drawCurves($("curves"), info.metrics);
  CL.loadHistory(name).catch((err) => { $("history").textContent = err.message; });
  loadSamples().catch((err) => { $("samples").textContent = err.message; });
  $("confusion").innerHTML = $("cell").innerHTML = "";
  confusionOf = null;
  if (!$("images-tab").hidden) loadConfusion();
  if (info.grayscale) {  // the empty pad first: draw, and watch the network answer
    pad.hidden = false;
    $("panes").innerHTML = `<p class="empty">Draw a digit on the black pad on the left (or upload an image, or pick one under <i>Images to try</i>): every layer of ${CL.escape(name)} appears here.</p>`;
  } else {
    pickTest(0);
  }
}

// no prediction on screen: before the first image, and after an image the model could not take
function clearResult() {
  drawn = [];
  $("panes").innerHTML = "";
  $("formula").hidden = true;
  $("top-class").textContent = $("top-prob").textContent = $("true-label").textContent = "";
  $("note").textContent = $("unlike").textContent = "";
  $("note").classList.remove("error");
  $("unlike").hidden = true;
}

function showError(message) {  // nothing of the old answer stays, nor the image that failed
  clearResult();
  clearPad();
  $("yours").hidden = true;
  pad.hidden = !info.grayscale;
  $("note").textContent = message;
  $("note").classList.add("error");
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
  ctx.strokeStyle = "#fff";
  ctx.lineTo(x, y);
  ctx.stroke();
  schedule();
});
pad.addEventListener("pointerup", () => { drawing = false; schedule(0); });
$("clear").addEventListener("click", () => {  // back to drawing (grayscale models)
  clearPad();
  pad.hidden = !info.grayscale;
  $("yours").hidden = info.grayscale;
  lastBlob = null;
});
$("invert").addEventListener("change", () => { if (lastBlob) send(lastBlob, fromPad); });

function schedule(delay = 150) {
  clearTimeout(pending);
  pending = setTimeout(() => pad.toBlob((blob) => send(blob, true), "image/png"), delay);
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

// the pad is drawn white on black like the training digits: "auto" keeps it as it is
async function send(blob, pad = false) {
  lastBlob = blob;
  fromPad = pad;
  lastTest = null;
  const invert = pad && $("invert").value === "auto" ? "no" : $("invert").value;
  try {
    const ov = await post(run, blob, invert);
    show(ov);
    $("true-label").textContent = "";
  } catch (err) {
    showError(err.message);
  }
}

async function pickTest(index) {
  try {
    const ov = await CL.api(`${runUrl(run)}/overview?index=${index}`);
    lastBlob = null;
    fromPad = false;
    lastTest = index;
    $("yours").src = ov.image;
    $("yours").hidden = false;
    pad.hidden = true;
    show(ov);
    const wrong = ov.top[0].class !== ov.true;
    $("true-label").textContent = `test image ${index}, true label: ${ov.true}`;
    $("true-label").classList.toggle("wrong", wrong);
  } catch (err) {
    showError(err.message);
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
  const p = CL.drawOverview(host, ov, (pn, layer, k, el) => CL.openFormula(pn, layer, k, el), room(), zoom(), $("scale").value);
  p.run = name;
  p.main = main;
  return p;
}

// the space a pane may take: the width of the panes' row (half of it side by side), the
// height of the window below the top of the panes
function room() {
  const panes = $("panes"), twoWide = drawn.length > 1 && panes.classList.contains("side");
  const width = panes.clientWidth / (twoWide ? 2 : 1) - (twoWide ? 8 : 0);
  const top = panes.getBoundingClientRect().top + window.scrollY;
  // less the pane's title, a column's heading and legend (about 90 px) and a margin
  const height = Math.max(200, (window.innerHeight - top - 170) / (drawn.length > 1 && !twoWide ? 2 : 1));
  return { width, height };
}
const zoom = () => ($("zoom").value === "fit" ? null : Number($("zoom").value));
const SIDE_BY_SIDE = 1500;  // px of window from which two runs sit side by side

function redraw() {
  if (!drawn.length) return;
  CL.stopFormula();
  $("formula").hidden = true;
  $("panes").innerHTML = "";
  $("panes").classList.toggle("side", drawn.length > 1 && window.innerWidth >= SIDE_BY_SIDE);
  drawn.forEach(([name, ov], n) => pane(name, ov, n === 0));
  document.body.dataset.drawn = String(Date.now());
}
$("zoom").addEventListener("change", redraw);
$("scale").addEventListener("change", redraw);
let resizing = null, wide = window.innerWidth;  // a new width redraws (a taller window need not)
window.addEventListener("resize", () => {
  if (window.innerWidth === wide) return;
  wide = window.innerWidth;
  clearTimeout(resizing);
  resizing = setTimeout(redraw, 200);
});

let shown = 0;  // which call of show() is the latest: an older one stops after its await
async function show(ov) {
  const mine = ++shown;
  CL.stopFormula();
  $("formula").hidden = true;
  $("note").classList.remove("error");
  $("note").textContent = fromPad ? "" : ov.note || "";
  $("unlike").textContent = ov.unlike || "";
  $("unlike").hidden = !ov.unlike;
  $("top-class").textContent = ov.top[0].class;
  $("top-prob").textContent = `${(100 * ov.top[0].prob).toFixed(1)}%`;
  drawn = [[run, ov]];
  redraw();
  if (second && second !== run) {
    try {  // the same image, as the first run saw it, through the second run
      // a test image of the same data set: the same pixels, by its index
      const same = ov.index !== undefined && secondInfo && secondInfo.data === info.data;
      const other = same ? await CL.api(`${runUrl(second)}/overview?index=${ov.index}`)
        : await post(second, await (await fetch(ov.image)).blob(), "no");
      if (mine !== shown) return;  // a newer image is on screen: its own call draws the pair
      drawn.push([second, other]);
      redraw();
    } catch (err) {
      if (mine === shown) $("note").textContent = `${second}: ${err.message}`;
    }
  }
}

// ------------------------------------------------------------------ test images, mistakes
function thumb(t, caption) {
  const fig = document.createElement("figure");
  fig.innerHTML = `<img src="${t.png}" alt="test image ${t.index}"><figcaption>${caption}</figcaption>`;
  fig.dataset.index = t.index;
  fig.addEventListener("click", () => {  // back to the overview, with this image
    openTab(document.querySelector('#tabs button[data-tab="overview-tab"]'));
    pickTest(t.index);
  });
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

// the confusion matrix of the test images (evaluated once, on first opening the tab); a
// cell opens its images, the most confident first
let confusionOf = null;
async function loadConfusion() {
  if (confusionOf === run) return;
  confusionOf = run;
  const host = $("confusion");
  host.textContent = "evaluating the test images…";
  try {
    const m = await CL.api(`${runUrl(run)}/confusion`);
    const most = Math.max(1, ...m.matrix.flat());  // mistakes on their own scale: few, but seen
    const wrong = Math.max(1, ...m.matrix.flatMap((row, t) => row.filter((_, p) => p !== t)));
    const cell = (v, t, p) => {
      const f = t === p ? v / most : Math.max(0.3, v / wrong), hue = t === p ? "47,109,181" : "192,57,43";
      const style = v ? `background: rgba(${hue},${(0.12 + 0.88 * f).toFixed(2)}); color: ${f > 0.5 ? "#fff" : "#222"}` : "";
      return `<td class="${v ? "" : "zero"}" data-true="${t}" data-pred="${p}" style="${style}" title="true ${CL.escape(m.classes[t])}, predicted ${CL.escape(m.classes[p])}: ${v}">${v}</td>`;
    };
    host.innerHTML = `<table class="confusion"><tr><th>true &darr; predicted &rarr;</th>${m.classes.map((c) => `<th>${CL.escape(c)}</th>`).join("")}</tr>` +
      m.matrix.map((row, t) => `<tr><th>${CL.escape(m.classes[t])}</th>${row.map((v, p) => cell(v, t, p)).join("")}</tr>`).join("") + `</table>` +
      `<p class="hint">${m.searched} test images, accuracy ${(100 * m.accuracy).toFixed(1)}%; blue: right, red: wrong, darker: more.</p>`;
  } catch (err) {
    host.textContent = err.message;
    confusionOf = null;
  }
}
$("confusion").addEventListener("click", async (e) => {
  const td = e.target.closest("td[data-true]");
  if (!td || td.classList.contains("zero")) return;
  $("confusion").querySelectorAll("td.open").forEach((x) => x.classList.remove("open"));
  td.classList.add("open");
  const t = td.dataset.true, p = td.dataset.pred;
  try {
    const c = await CL.api(`${runUrl(run)}/cell?true=${t}&predicted=${p}&n=24`);
    $("cell").innerHTML = "";
    c.images.forEach((x) => $("cell").append(thumb(x, `${CL.escape(x.label)} &rarr; ${CL.escape(x.predicted)} ${(100 * x.prob).toFixed(0)}%`)));
    if (c.count > c.images.length) $("cell").insertAdjacentHTML("beforeend", `<span class="hint">… ${c.count - c.images.length} more</span>`);
  } catch (err) {
    $("cell").textContent = err.message;
  }
});

// ------------------------------------------------------------------ tabs, runs
function openTab(b) {
  document.querySelectorAll("#tabs button").forEach((x) => {
    x.classList.toggle("active", x === b);
    const tab = $(x.dataset.tab);
    if (tab) tab.hidden = x !== b;
  });
  if (b.dataset.tab === "images-tab" && run) loadConfusion();
}
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => openTab(b)));
openTab(document.querySelector("#tabs button.active"));
$("run").addEventListener("change", (e) => chooseRun(e.target.value));
// two runs that do not take the same images, or do not name the same classes, say so
function pairNote(a, b, nameB) {
  const shape = (i) => i.input_shape.join("x");
  const why = [];
  if (shape(a) !== shape(b)) why.push(`${CL.escape(nameB)} takes ${shape(b)} images, ${CL.escape(run)} takes ${shape(a)}`);
  if (a.classes.join("|") !== b.classes.join("|")) {
    const list = (i) => i.classes.slice(0, 5).map(CL.escape).join(", ") + (i.classes.length > 5 ? ", …" : "");
    why.push(`their classes differ (${CL.escape(run)}: ${list(a)}; ${CL.escape(nameB)}: ${list(b)})`);
  }
  return why.length ? `These two runs were not trained on the same kind of data: ${why.join("; ")}. The image is converted for each, and their answers cannot be compared class for class.` : "";
}

$("compare").addEventListener("change", async (e) => {
  second = e.target.value || null;
  secondInfo = null;
  $("pair").hidden = true;
  CL.drawCurves($("curves"), info.metrics);
  if (second) {
    try {
      const other = secondInfo = await CL.api(runUrl(second));
      $("pair").innerHTML = pairNote(info, other, second);
      $("pair").hidden = !$("pair").innerHTML;
      CL.drawCurves($("curves"), info.metrics, { name: second, metrics: other.metrics }, run);
    } catch (err) {
      showError(err.message);
    }
  }
  if (lastTest !== null) pickTest(lastTest);
  else if (lastBlob) send(lastBlob, fromPad);
});

clearPad();
loadRuns();
