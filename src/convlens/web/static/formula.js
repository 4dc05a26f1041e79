// convlens explorer, the formula view: click a map, hover its pixels to move the kernel's
// window over the input, click one; the window slides there (animated, pausable, step by step)
// and the arithmetic follows with the model's own numbers, coloured by value.
"use strict";
window.CL = window.CL || {};

(function () {
  const box = () => document.getElementById("formula");
  const BIG = 224;
  const SLIDE_MS = 220, STEP_MS = 1600;  // a frame of the sliding window; of the arithmetic
  let anim = null;  // {frames, k, timer}

  // numbers: 3 decimals in tables, no "-0.000"; a chain of terms with its own signs
  const num = (v, d = 3) => (v === null ? "pad" : Math.abs(v) < 0.5 * 10 ** -d ? (0).toFixed(d) : Number(v).toFixed(d));
  const term = (v, d = 4) => `${v < 0 ? "&minus;" : "+"} ${num(Math.abs(v), d)}`;
  const chain = (vs, d = 4) => vs.map((v, n) => (n === 0 ? num(v, d) : term(v, d))).join(" ");
  CL.num = num;

  // blue (negative) - white - red (positive), as the overview's maps
  function colour(v, m) {
    if (v === null || !m) return "";
    const f = Math.min(1, Math.abs(v) / m);
    const [r, g, b] = v >= 0 ? [255, 255 - 200 * f, 255 - 215 * f] : [255 - 215 * f, 255 - 160 * f, 255];
    return `background: rgb(${r | 0},${g | 0},${b | 0});${f > 0.65 ? " color: #fff;" : ""}`;
  }
  const maxAbs = (rows) => Math.max(0, ...rows.flat().filter((v) => v !== null).map(Math.abs));

  function grid(rows, mark) {
    const m = maxAbs(rows);
    return `<table class="grid">${rows.map((r, a) => `<tr>${r.map((v, b) =>
      `<td class="${v === null ? "pad" : ""}${mark && mark(a, b) ? " win" : ""}" style="${colour(v, m)}">${num(v)}</td>`).join("")}</tr>`).join("")}</table>`;
  }

  // what each kind of layer does, for a beginner: by the parts a column's type names
  const ABOUT = {
    Conv2d: "A convolution slides a small grid of learned weights (the kernel) over its input; at each position it multiplies the window by the kernel, adds everything up over every input channel, and adds a bias. Each output map is one kernel's answer to \u201cwhere does my pattern appear?\u201d",
    BatchNorm2d: "Batch norm rescales each map with statistics measured in training: subtract the map's mean, divide by its spread, then apply a learned scale and shift. It keeps the numbers in a range that trains well.",
    ReLU: "ReLU keeps positive values and sets negative ones to zero: the map only reports where its pattern is present, not where it is absent.",
    activation: "An activation bends each value on its own (no neighbours): without it, stacked layers would collapse into one linear map.",
    MaxPool2d: "Max pooling keeps the largest value of each small window: the map gets smaller and the answer keeps \u201cthe pattern is somewhere here\u201d without its exact position.",
    AvgPool2d: "Average pooling replaces each window by its mean: a smaller, smoother map.",
    AdaptiveAvgPool2d: "Global average pooling takes the mean of each whole map: one number per channel, however large the image.",
    Linear: "A dense (fully connected) layer: each unit is a weighted sum of every input value plus a bias; the weights say which evidence counts for or against it.",
    Dropout: "Dropout does nothing at test time (in training it silenced random units).",
    softmax: "Softmax turns the last layer's scores (logits) into probabilities: exponentiate each, divide by their sum. The largest score wins, and the gaps between scores decide how sure the answer is.",
    block: "A residual block computes a few layers and adds its own input back (the shortcut) before the last activation: the layers only need to learn a correction, which makes deep networks trainable.",
  };
  const ACTIVATIONS = ["GELU", "SiLU", "Tanh", "Sigmoid", "LeakyReLU", "ELU", "Hardswish", "Mish", "ReLU6"];
  function about(type, kind) {
    if (kind === "softmax") return ABOUT.softmax;
    const parts = String(type || "").split(" + ");
    const said = parts.map((p) => ABOUT[p] || (ACTIVATIONS.includes(p) ? ABOUT.activation : "")).filter(Boolean);
    if (!said.length && /Block|Residual|Bottleneck/.test(type)) said.push(ABOUT.block);
    return [...new Set(said)].join(" ");
  }
  CL.about = about;

  CL.formulaOf = async function (pane, layer, k, i, j) {
    pane.cache = pane.cache || {};
    const key = `${pane.ov.token}|${layer}|${k}|${i}|${j}`;
    if (!pane.cache[key]) {
      pane.cache[key] = CL.api(`/api/runs/${encodeURIComponent(pane.run)}/formula?token=${pane.ov.token}` +
        `&layer=${encodeURIComponent(layer)}&channel=${k}&i=${i}&j=${j}`);
    }
    return pane.cache[key];
  };

  // an enlarged copy of a map canvas, with an optional box (rows/cols in map coordinates)
  function enlarge(src, size, rect, cell) {
    const cv = document.createElement("canvas");
    const s = Math.max(1, Math.floor(size / Math.max(src.width, src.height)));
    cv.width = src.width * s; cv.height = src.height * s;
    redraw(cv, src, s, rect, cell);
    cv.className = "big";
    cv.scale = s;
    return cv;
  }
  function redraw(cv, src, s, rect, cell) {
    const ctx = cv.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(src, 0, 0, cv.width, cv.height);
    if (rect) {
      ctx.strokeStyle = "#e67e22"; ctx.lineWidth = 3;
      ctx.strokeRect(rect[1] * s, rect[0] * s, rect[3] * s, rect[2] * s);
    }
    if (cell) {
      ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 2;
      ctx.strokeRect(cell[1] * s + 1, cell[0] * s + 1, s - 2, s - 2);
    }
  }

  // the window of output pixel (oi, oj), from the geometry of any one formula `a`
  function windowAt(a, oi, oj) {
    const kh = a.rows.length, kw = a.cols.length;
    const stepR = kh > 1 ? a.rows[1] - a.rows[0] : 1, stepC = kw > 1 ? a.cols[1] - a.cols[0] : 1;
    const [sr, sc] = a.stride || [1, 1];
    return [a.rows[0] + (oi - a.pixel[0]) * sr, a.cols[0] + (oj - a.pixel[1]) * sc, (kh - 1) * stepR + 1, (kw - 1) * stepC + 1];
  }
  const mapOf = (pane, layer, c) => pane.net.querySelector(`canvas[data-map="${CSS.escape(`${layer}:${c}`)}"]`);

  CL.openFormula = function (pane, layer, k, el) {
    const f = box();
    f.hidden = false;
    stop();
    document.querySelectorAll(".selected").forEach((e) => e.classList.remove("selected"));
    el.classList.add("selected");
    const col = pane.byName[layer];
    const text = about(col ? col.type : "", layer === "softmax" ? "softmax" : "");
    const para = text ? `<p class="about">${CL.escape(text)}</p>` : "";
    if (!col || col.shape.length !== 3) {  // a unit, a class or a pooled vector: no pixel to pick
      const what = layer === "softmax" ? `class ${CL.escape(pane.ov.softmax.classes[k])}` : `unit ${k}`;
      f.innerHTML = `<h2>${CL.escape(layer)}, ${what}${col ? ` (${CL.escape(col.type)})` : ""}</h2>${para}<div id="explain"></div>`;
      explain(pane, layer, k, 0, 0, el);
      f.scrollIntoView({ block: "nearest" });
      return;
    }
    const [, H, W] = col.shape;
    f.innerHTML = `<h2>${CL.escape(layer)}, map ${k} (${CL.escape(col.type)}): hover a pixel to see its window, click it for the arithmetic</h2>${para}` +
      `<div class="stage"><div id="window-in"></div><div><div class="hint" id="formula-at">output: ${CL.escape(layer)} map ${k}</div><div id="pick"></div></div><div id="explain"></div></div>`;
    const big = enlarge(el, BIG);
    big.id = "formula-map";
    f.querySelector("#pick").append(big);
    let geometry = null, input = null, picked = null;
    CL.formulaOf(pane, layer, k, 0, 0).then((a) => {  // the kernel's geometry, for hovering
      if (a.kind !== "conv" && a.kind !== "pool") return;
      const src = mapOf(pane, col.from, a.kind === "pool" ? k : a.first_channel || 0);
      if (!src) return;
      geometry = a;
      input = enlarge(src, 168, windowAt(a, 0, 0));
      input.id = "formula-input";
      f.querySelector("#window-in").innerHTML = `<div class="hint">input: ${CL.escape(col.from)} map ${a.kind === "pool" ? k : a.first_channel || 0}</div>`;
      f.querySelector("#window-in").append(input);
    }).catch(() => {});
    const at = (e) => {
      const r = big.getBoundingClientRect();
      return [Math.min(H - 1, Math.floor(((e.clientY - r.top) / r.height) * H)), Math.min(W - 1, Math.floor(((e.clientX - r.left) / r.width) * W))];
    };
    big.addEventListener("mousemove", (e) => {
      const [i, j] = at(e);
      const v = CL.valueAt(col, k, i, j);
      f.querySelector("#formula-at").textContent = `output: ${layer} map ${k}, pixel (${i}, ${j}) = ${num(v)}`;
      redraw(big, el, big.scale, null, [i, j]);
      if (geometry && input) redraw(input, mapOf(pane, col.from, geometry.kind === "pool" ? k : geometry.first_channel || 0), input.scale, windowAt(geometry, i, j));
    });
    big.addEventListener("mouseleave", () => {
      redraw(big, el, big.scale, null, picked);
      if (geometry && input && picked) redraw(input, mapOf(pane, col.from, geometry.kind === "pool" ? k : geometry.first_channel || 0), input.scale, windowAt(geometry, ...picked));
    });
    big.addEventListener("click", (e) => {
      picked = at(e);
      redraw(big, el, big.scale, null, picked);
      explain(pane, layer, k, picked[0], picked[1], el);
    });
    f.scrollIntoView({ block: "nearest" });
  };

  async function explain(pane, layer, k, i, j, el) {
    const host = box().querySelector("#explain") || box();
    let a;
    try { a = await CL.formulaOf(pane, layer, k, i, j); } catch (err) { host.innerHTML = `<p class="error">${CL.escape(err.message)}</p>`; return; }
    const frames = a.kind === "conv" || a.kind === "pool" ? windowFrames(pane, a) : [{ ms: STEP_MS, draw: () => staticView(a) }];
    const total = frames.length;
    const controls = total > 1 ? `<div class="controls"><button id="formula-play">Pause</button><button id="formula-prev">&#9664; step</button>` +
      `<button id="formula-next">step &#9654;</button><input id="formula-step" type="range" min="0" max="${total - 1}" value="0" aria-label="step"><span id="formula-count"></span></div>` : "";
    host.innerHTML = `${controls}<div id="formula-frame"></div><p class="sum">= <b id="formula-value" data-value="${a.value}">${a.value.toFixed(4)}</b> ` +
      `<span class="hint">(${CL.escape(a.layer)}${a.pixel && a.kind !== "dense" && a.kind !== "softmax" ? ` at (${a.pixel})` : ""}, the model's own value)</span></p>`;
    anim = { frames, k: 0, timer: null };
    const show = (n) => {
      anim.k = Math.max(0, Math.min(total - 1, n));
      host.querySelector("#formula-frame").innerHTML = "";
      host.querySelector("#formula-frame").append(frames[anim.k].draw());
      if (total > 1) {
        host.querySelector("#formula-step").value = anim.k;
        host.querySelector("#formula-count").textContent = `${anim.k + 1} / ${total}`;
      }
    };
    anim.show = show;
    show(0);
    if (total === 1) return;
    const paused = () => { stop(); host.querySelector("#formula-play").textContent = "Play"; };
    host.querySelector("#formula-play").onclick = (e) => { if (anim.timer) paused(); else { play(); e.target.textContent = "Pause"; } };
    host.querySelector("#formula-prev").onclick = () => { paused(); show(anim.k - 1); };
    host.querySelector("#formula-next").onclick = () => { paused(); show(anim.k + 1); };
    host.querySelector("#formula-step").oninput = (e) => { paused(); show(Number(e.target.value)); };
    play();
  }

  function play() {
    stop();
    const tick = () => {
      if (anim.k >= anim.frames.length - 1) { anim.timer = null; const b = document.getElementById("formula-play"); if (b) b.textContent = "Play"; return; }
      anim.show(anim.k + 1);
      anim.timer = setTimeout(tick, anim.frames[anim.k].ms);
    };
    anim.timer = setTimeout(tick, anim.frames[anim.k].ms);
  }
  function stop() { if (anim && anim.timer) { clearTimeout(anim.timer); anim.timer = null; } }
  CL.stopFormula = stop;

  // conv / pool: the window slides over the input map up to the chosen pixel, then the
  // arithmetic per input channel, then the channel sums, bias and what follows
  function windowFrames(pane, a) {
    const col = pane.byName[a.layer];
    const flat = col.shape.length !== 3;  // a global pool's output is one value per channel
    const ow = flat ? 1 : col.shape[2];
    const kh = a.rows.length, kw = a.cols.length;
    const sr = (a.stride || [1, 1])[0];
    const first = a.first_channel || 0;
    const inMap = (c) => mapOf(pane, col.from, a.kind === "pool" ? a.channel : first + c);
    const target = a.pixel[0] * ow + a.pixel[1];
    const skip = Math.max(1, Math.ceil(target / 16));
    const frames = [];
    const boxAt = (p) => {
      const oi = Math.floor(p / ow), oj = p % ow;
      return [...windowAt(a, oi, oj), oi, oj];
    };
    const pair = (c, p, body, ms) => ({ ms, draw: () => {
      const div = document.createElement("div");
      div.className = "stage";
      const b = boxAt(p), m = inMap(c);
      if (m) { const fig = document.createElement("div"); fig.innerHTML = `<div class="hint">input: ${CL.escape(col.from)} map ${a.kind === "pool" ? a.channel : first + c}</div>`; fig.append(enlarge(m, 168, b.slice(0, 4))); div.append(fig); }
      const out = document.querySelector(".selected");
      if (!flat && out && out.tagName === "CANVAS") { const fig = document.createElement("div"); fig.innerHTML = `<div class="hint">output: ${CL.escape(a.layer)} map ${a.channel}</div>`; fig.append(enlarge(out, 168, null, [b[4], b[5]])); div.append(fig); }
      const text = document.createElement("div");
      text.innerHTML = body;
      div.append(text);
      return div;
    } });
    for (let p = 0; p < target; p += skip) frames.push(pair(0, p, `<p>the ${kh}x${kw} window slides${sr > 1 ? ` with stride ${sr}` : ""} to output pixel (${a.pixel.join(", ")})…</p>`, SLIDE_MS));
    if (a.kind === "pool") {
      const cells = a.patch.flat().filter((v) => v !== null);
      const count = a.count || cells.length;  // a mean divides by the cells that count
      const v = a.mode === "max" ? Math.max(...cells) : cells.reduce((s, x) => s + x, 0) / count;
      frames.push(pair(0, target, `<p>${a.mode} of the window:</p>${grid(a.patch, (r, c) => a.mode === "max" && a.patch[r][c] === v)}` +
        `<p class="sum">${a.mode}(${cells.map((x) => num(x)).join(", ")})${a.mode === "mean" ? ` (sum / ${count})` : ""} = ${num(v, 4)}</p>`, STEP_MS));
      return frames;
    }
    let running = 0;
    a.channel_sums.forEach((s, c) => {
      const prods = a.patch[c].map((r, x) => r.map((v, y) => v * a.kernel[c][x][y]));
      const before = running;
      running += s;
      frames.push(pair(c, target, `<p>input channel ${first + c} of ${a.in_channels}: window &times; kernel, cell by cell, then add them up</p><div class="eq">${grid(a.patch[c])}<span>&times;</span>${grid(a.kernel[c])}` +
        `<span>=</span>${grid(prods)}</div><p class="sum">sum of products = ${num(s, 4)}</p>` +
        (c ? `<p class="runsum">running sum: ${num(before, 4)} ${term(s)} = ${num(running, 4)}</p>` : ""), STEP_MS));
    });
    frames.push(pair(a.shown_channels - 1, target, finish(a), STEP_MS));
    return frames;
  }

  function finish(a) {
    const rest = a.in_channels > a.shown_channels ? ` ${term(a.other_channels_sum)} (channels ${a.shown_channels}..${a.in_channels - 1})` : "";
    const sums = a.channel_sums.length > 12 ? `${chain(a.channel_sums.slice(0, 12), 3)} + … (${a.channel_sums.length} channel sums)` : chain(a.channel_sums, 3);
    return `<p class="sum">${sums}${rest} ${term(a.bias)} (bias) = <b>${num(a.conv_value, 4)}</b></p>` + steps(a.steps);
  }

  function steps(list) {
    return (list || []).map((s) => `<p class="sum">${CL.escape(s.op)}: ${CL.escape(s.text)} = <b>${num(s.value, 4)}</b></p>`).join("");
  }

  function staticView(a) {
    const div = document.createElement("div");
    if (a.kind === "dense") {
      const rest = a.n_terms - a.terms.length;
      const m = Math.max(...a.terms.map((t) => Math.abs(t.product)));
      div.innerHTML = `<p>unit ${a.channel} of ${CL.escape(a.layer)}: weighted sum of ${a.n_terms} inputs plus bias; the ${a.terms.length} largest terms (red: for, blue: against):</p>` +
        `<table class="grid"><tr><th>input #</th><th>value</th><th>weight</th><th>product</th></tr>${a.terms.map((t) =>
          `<tr><td>${t.index}</td><td>${num(t.input)}</td><td>${num(t.weight)}</td><td style="${colour(t.product, m)}">${num(t.product, 4)}</td></tr>`).join("")}</table>` +
        `<p class="sum">${chain(a.terms.map((t) => t.product), 3)}${rest > 0 ? ` ${term(a.other_terms_sum)} (${rest} more terms)` : ""} ${term(a.bias)} (bias) = <b>${num(a.dense_value, 4)}</b></p>` + steps(a.steps);
    } else if (a.kind === "softmax") {
      div.innerHTML = `<p>p = exp(z &minus; max z) / sum of exp(z<sub>j</sub> &minus; max z), for class <b>${CL.escape(a.classes[a.channel])}</b> (highlighted)</p>` +
        `<table class="grid"><tr><th>class</th><th>logit z</th><th>exp(z &minus; max)</th><th>p</th></tr>${a.classes.map((c, k) =>
          `<tr class="${k === a.channel ? "win" : ""}"><td>${CL.escape(c)}</td><td>${num(a.logits[k], 4)}</td><td>${num(a.exps[k], 4)}</td><td>${num(a.exps[k] / a.exp_sum, 4)}</td></tr>`).join("")}</table>` +
        `<p class="sum">${num(a.exps[a.channel], 4)} / ${num(a.exp_sum, 4)}</p>`;
    } else if (a.kind === "block") {
      div.innerHTML = `<p>${CL.escape(a.type)}: its parts, in order, at this position (the shortcut is added before the last activation):</p>` +
        `<table class="grid">${a.parts.map((p) => `<tr><td>${CL.escape(p.name)}</td><td>${CL.escape(p.type)}</td><td>${p.value === null ? "" : num(p.value, 4)}</td></tr>`).join("")}</table>`;
    } else {
      div.innerHTML = `<p>input value ${num(a.input, 4)}</p>` + steps(a.steps);
    }
    return div;
  }
})();
