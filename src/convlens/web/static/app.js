// convlens explorer: draw or upload, predict as you draw, click maps for the arithmetic.
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
let run = null, info = null, token = null, selected = null, drawing = false, pending = null;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

async function api(path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) throw new Error(body.detail || res.statusText);
  return body;
}

async function loadRuns() {
  const { runs } = await api("/api/runs");
  const select = $("run");
  select.innerHTML = runs.map((r) => `<option>${r}</option>`).join("");
  if (runs.length) await chooseRun(runs[0]);
  else $("run-info").textContent = "no runs: train one with `convlens train`";
}

async function chooseRun(name) {
  run = name;
  info = await api(`/api/runs/${encodeURIComponent(name)}`);
  const [c, h, w] = info.input_shape;
  $("run-info").textContent = `${info.model} on ${info.data}, input ${c}x${h}x${w}`;
  pad.hidden = !info.grayscale;
  for (const kind of ["curves", "filters", "evolution"]) {
    document.querySelector(`#${kind} img`).src =
      `/api/runs/${encodeURIComponent(name)}/picture/${kind}`;
  }
  clearPad();
}

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
$("clear").addEventListener("click", () => { clearPad(); });
$("invert").addEventListener("change", () => schedule(0));

function schedule(delay = 150) {
  clearTimeout(pending);
  pending = setTimeout(() => pad.toBlob((blob) => predict(blob), "image/png"), delay);
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) predict(e.target.files[0]); });
for (const target of [pad, document.body]) {
  target.addEventListener("dragover", (e) => { e.preventDefault(); pad.classList.add("drop"); });
  target.addEventListener("drop", (e) => {
    e.preventDefault();
    pad.classList.remove("drop");
    if (e.dataTransfer.files[0]) predict(e.dataTransfer.files[0]);
  });
}

async function predict(blob) {
  try {
    const invert = $("invert").value;
    const result = await api(`/api/runs/${encodeURIComponent(run)}/predict?invert=${invert}`,
                             { method: "POST", body: blob, headers: { "Content-Type": "application/octet-stream" } });
    show(result);
  } catch (err) {
    $("note").textContent = err.message;
    $("bars").innerHTML = "";
  }
}

function show(result) {
  token = result.token;
  $("seen").src = result.input;
  $("note").textContent = result.note || "";
  $("bars").innerHTML = result.top.map((t, k) =>
    `<div class="bar${k === 0 ? " top" : ""}"><span>${t.class}</span>` +
    `<div><div class="fill" style="width:${(100 * t.prob).toFixed(1)}%"></div></div>` +
    `<span>${(100 * t.prob).toFixed(1)}%</span></div>`).join("");
  $("maps").innerHTML = result.layers.map((layer) =>
    `<div class="layer"><h3>${layer.name} (${layer.kind}) ${layer.shape.join("x")}` +
    `${layer.maps.length < layer.shape[0] ? `, first ${layer.maps.length} maps` : ""}</h3>` +
    `<div class="maps">${layer.maps.map((m) =>
      `<div class="map" data-layer="${layer.name}" data-channel="${m.channel}" ` +
      `data-h="${layer.shape[1]}" data-w="${layer.shape[2]}" title="${layer.name} map ${m.channel}">` +
      `<img src="${m.png}" alt="${layer.name} map ${m.channel}"></div>`).join("")}</div></div>`).join("");
  if (selected) select(selected.layer, selected.channel, false);
}

$("maps").addEventListener("click", (e) => {
  const map = e.target.closest(".map");
  if (map) select(map.dataset.layer, Number(map.dataset.channel), true);
});

async function select(layer, channel, fresh) {
  const map = document.querySelector(`.map[data-layer="${layer}"][data-channel="${channel}"]`);
  if (!map) return;
  document.querySelectorAll(".map.selected").forEach((m) => m.classList.remove("selected"));
  map.classList.add("selected");
  selected = { layer, channel, h: Number(map.dataset.h), w: Number(map.dataset.w), img: map.querySelector("img") };
  const zoom = $("zoom");
  zoom.hidden = false;
  const z = zoom.getContext("2d");
  z.imageSmoothingEnabled = false;
  const img = new Image();
  img.onload = () => z.drawImage(img, 0, 0, zoom.width, zoom.height);
  img.src = selected.img.src;
  $("detail-hint").textContent = `${layer}, map ${channel}: click a pixel of the enlarged map.`;
  if (fresh) $("arith").innerHTML = "";
  try {
    const f = await api(`/api/runs/${encodeURIComponent(run)}/filter?layer=${encodeURIComponent(layer)}&channel=${channel}`);
    $("filter").innerHTML = `<p>filter ${channel} of ${layer}: ${f.in_channels} input channel(s), bias ${f.bias.toFixed(3)}</p>` +
      f.weights.slice(0, 2).map((k, c) => `<div>input ${c}</div>` + grid(k)).join("");
  } catch (err) {
    $("filter").innerHTML = `<p class="hint">${err.message}</p>`;
  }
}

$("zoom").addEventListener("click", async (e) => {
  if (!selected || !token) return;
  const r = e.target.getBoundingClientRect();
  const j = Math.floor((e.clientX - r.left) / r.width * selected.w);
  const i = Math.floor((e.clientY - r.top) / r.height * selected.h);
  try {
    const a = await api(`/api/runs/${encodeURIComponent(run)}/arithmetic?token=${token}` +
      `&layer=${encodeURIComponent(selected.layer)}&channel=${selected.channel}&i=${i}&j=${j}`);
    $("arith").innerHTML = arithmetic(a);
  } catch (err) {
    $("arith").innerHTML = `<p class="hint">${err.message}</p>`;
  }
});

function grid(rows) {
  return `<table class="grid">${rows.map((r) => `<tr>${r.map((v) =>
    v === null ? `<td class="pad" title="padding: not counted">pad</td>`
      : `<td>${Number(v).toFixed(2)}</td>`).join("")}</tr>`).join("")}</table>`;
}

function arithmetic(a) {
  if (a.kind === "pool") {
    return `<p>pixel (${a.pixel}) of ${a.layer} map ${a.channel} = ${a.mode} of this window:</p>` +
      grid(a.patch) + `<p class="sum">${a.mode}(...) = ${a.value.toFixed(3)}</p>`;
  }
  const parts = a.channel_sums.map((s, c) =>
    `<div class="chan"><span>in ${c}</span>${grid(a.patch[c])}<span>&times;</span>` +
    `${grid(a.kernel[c])}<span class="sum">&rarr; ${s.toFixed(3)}</span></div>`).join("");
  const rest = a.in_channels > a.shown_channels
    ? ` + ${a.other_channels_sum.toFixed(3)} (channels ${a.shown_channels}..${a.in_channels - 1})` : "";
  const after = a.after.length ? `; after ${a.after.join(" and ")}: <b>${a.value.toFixed(3)}</b>` : "";
  return `<p>pixel (${a.pixel}) of ${a.layer} map ${a.channel}:</p>${parts}` +
    `<p class="sum">${a.channel_sums.map((s) => s.toFixed(3)).join(" + ")}${rest} + bias ${a.bias.toFixed(3)}` +
    ` = <b>${a.conv_value.toFixed(3)}</b>${after}</p>`;
}

document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => {
  document.querySelectorAll("#tabs button").forEach((x) => x.classList.toggle("active", x === b));
  document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== b.dataset.tab; });
}));
$("run").addEventListener("change", (e) => chooseRun(e.target.value));

clearPad();
loadRuns();
