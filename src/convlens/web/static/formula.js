// convlens explorer, the formula view: click a map, then a pixel; the kernel slides over each
// input channel (animated, pausable, step by step) with the model's own numbers.
"use strict";
window.CL = window.CL || {};

(function () {
  const box = () => document.getElementById("formula");
  const f3 = (v) => (v === null ? "pad" : Number(v).toFixed(3));
  const BIG = 224;
  let anim = null;  // {frames, k, timer}

  CL.formulaOf = async function (pane, layer, k, i, j) {
    pane.cache = pane.cache || {};
    const key = `${pane.ov.token}|${layer}|${k}|${i}|${j}`;
    if (!pane.cache[key]) {
      pane.cache[key] = CL.api(`/api/runs/${encodeURIComponent(pane.run)}/formula?token=${pane.ov.token}` +
        `&layer=${encodeURIComponent(layer)}&channel=${k}&i=${i}&j=${j}`);
    }
    return pane.cache[key];
  };

  function grid(rows, mark) {
    return `<table class="grid">${rows.map((r, a) => `<tr>${r.map((v, b) =>
      `<td class="${v === null ? "pad" : ""}${mark && mark(a, b) ? " win" : ""}">${f3(v)}</td>`).join("")}</tr>`).join("")}</table>`;
  }

  // an enlarged copy of a map canvas, with an optional box (rows/cols in map coordinates)
  function enlarge(src, size, rect, cell) {
    const cv = document.createElement("canvas");
    const s = Math.max(1, Math.floor(size / Math.max(src.width, src.height)));
    cv.width = src.width * s; cv.height = src.height * s;
    const ctx = cv.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(src, 0, 0, cv.width, cv.height);
    if (rect) {
      ctx.strokeStyle = "#e67e22"; ctx.lineWidth = 2;
      ctx.strokeRect(rect[1] * s, rect[0] * s, rect[3] * s, rect[2] * s);
    }
    if (cell) {
      ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 2;
      ctx.strokeRect(cell[1] * s + 1, cell[0] * s + 1, s - 2, s - 2);
    }
    cv.className = "big";
    cv.scale = s;
    return cv;
  }

  CL.openFormula = function (pane, layer, k, el) {
    const f = box();
    f.hidden = false;
    stop();
    document.querySelectorAll(".selected").forEach((e) => e.classList.remove("selected"));
    el.classList.add("selected");
    const col = pane.byName[layer];
    if (!col || col.shape.length !== 3) {  // a unit, a class or a pooled vector: no pixel to pick
      const what = layer === "softmax" ? "class" : "unit";
      f.innerHTML = `<h2>${CL.escape(layer)}, ${what} ${k}${col ? ` (${CL.escape(col.type)})` : ""}</h2><div id="explain"></div>`;
      explain(pane, layer, k, 0, 0, el);
      f.scrollIntoView({ block: "nearest" });
      return;
    }
    f.innerHTML = `<h2>${CL.escape(layer)}, map ${k} (${CL.escape(col.type)}): click a pixel</h2><div class="stage"><div id="pick"></div><div id="explain"></div></div>`;
    const big = enlarge(el, BIG);
    big.id = "formula-map";
    f.querySelector("#pick").append(big);
    big.addEventListener("click", (e) => {
      const r = big.getBoundingClientRect();
      const j = Math.floor(((e.clientX - r.left) / r.width) * col.shape[2]);
      const i = Math.floor(((e.clientY - r.top) / r.height) * col.shape[1]);
      const again = enlarge(el, BIG, null, [i, j]);
      big.getContext("2d").drawImage(again, 0, 0);
      explain(pane, layer, k, i, j, el);
    });
    f.scrollIntoView({ block: "nearest" });
  };

  async function explain(pane, layer, k, i, j, el) {
    const host = box().querySelector("#explain") || box();
    let a;
    try { a = await CL.formulaOf(pane, layer, k, i, j); } catch (err) { host.innerHTML = `<p class="hint">${CL.escape(err.message)}</p>`; return; }
    const frames = a.kind === "conv" || a.kind === "pool" ? windowFrames(pane, a) : [() => staticView(a)];
    const total = frames.length;
    host.innerHTML = `<div class="controls"><button id="formula-play">Pause</button><button id="formula-prev">&#9664; step</button>` +
      `<button id="formula-next">step &#9654;</button><input id="formula-step" type="range" min="0" max="${total - 1}" value="0"><span id="formula-count"></span></div>` +
      `<div id="formula-frame"></div><p class="sum">= <b id="formula-value" data-value="${a.value}">${a.value.toFixed(4)}</b> ` +
      `<span class="hint">(${CL.escape(a.layer)}${a.pixel && a.kind !== "dense" && a.kind !== "softmax" ? ` at (${a.pixel})` : ""}, the model's own value)</span></p>`;
    anim = { frames, k: 0, timer: null };
    const show = (n) => {
      anim.k = Math.max(0, Math.min(total - 1, n));
      host.querySelector("#formula-frame").innerHTML = "";
      host.querySelector("#formula-frame").append(frames[anim.k]());
      host.querySelector("#formula-step").value = anim.k;
      host.querySelector("#formula-count").textContent = `${anim.k + 1} / ${total}`;
    };
    anim.show = show;
    host.querySelector("#formula-play").onclick = (e) => { if (anim.timer) { stop(); e.target.textContent = "Play"; } else { play(); e.target.textContent = "Pause"; } };
    host.querySelector("#formula-prev").onclick = () => { stop(); host.querySelector("#formula-play").textContent = "Play"; show(anim.k - 1); };
    host.querySelector("#formula-next").onclick = () => { stop(); host.querySelector("#formula-play").textContent = "Play"; show(anim.k + 1); };
    host.querySelector("#formula-step").oninput = (e) => { stop(); host.querySelector("#formula-play").textContent = "Play"; show(Number(e.target.value)); };
    show(0);
    if (total > 1) play(); else host.querySelector("#formula-play").textContent = "Play";
  }

  function play() {
    stop();
    anim.timer = setInterval(() => {
      if (anim.k >= anim.frames.length - 1) { stop(); const b = document.getElementById("formula-play"); if (b) b.textContent = "Play"; return; }
      anim.show(anim.k + 1);
    }, 140);
  }
  function stop() { if (anim && anim.timer) { clearInterval(anim.timer); anim.timer = null; } }
  CL.stopFormula = stop;

  // conv / pool: the window slides over the input map up to the chosen pixel, then the
  // arithmetic per input channel, then the channel sums, bias and what follows
  function windowFrames(pane, a) {
    const col = pane.byName[a.layer];
    const src = pane.net.querySelector(`.col[data-layer="${CSS.escape(col.from)}"]`);
    const maps = src ? [...src.querySelectorAll("canvas[data-map]")] : [];
    const flat = col.shape.length !== 3;  // a global pool's output is one value per channel
    const ow = flat ? 1 : col.shape[2];
    const kh = a.rows.length, kw = a.cols.length;
    const stepR = a.rows.length > 1 ? a.rows[1] - a.rows[0] : 1, stepC = a.cols.length > 1 ? a.cols[1] - a.cols[0] : 1;
    const sr = (a.stride || [1, 1])[0], sc = (a.stride || [1, 1])[1];
    const first = a.first_channel || 0;
    const inMap = (c) => maps[(a.kind === "pool" ? a.channel : first + c)] || null;
    const target = a.pixel[0] * ow + a.pixel[1];
    const skip = Math.max(1, Math.ceil(target / 24));
    const frames = [];
    const boxAt = (p) => {
      const oi = Math.floor(p / ow), oj = p % ow;
      const r0 = a.rows[0] + (oi - a.pixel[0]) * sr, c0 = a.cols[0] + (oj - a.pixel[1]) * sc;
      return [r0, c0, (kh - 1) * stepR + 1, (kw - 1) * stepC + 1, oi, oj];
    };
    const pair = (c, p, body) => () => {
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
    };
    for (let p = 0; p < target; p += skip) frames.push(pair(0, p, `<p>the ${kh}x${kw} window slides${sr > 1 ? ` with stride ${sr}` : ""} to output pixel (${a.pixel})…</p>`));
    if (a.kind === "pool") {
      const cells = a.patch.flat().filter((v) => v !== null);
      const count = a.count || cells.length;  // a mean divides by the cells that count
      const v = a.mode === "max" ? Math.max(...cells) : cells.reduce((s, x) => s + x, 0) / count;
      frames.push(pair(0, target, `<p>${a.mode} of the window:</p>${grid(a.patch, (r, c) => a.mode === "max" && a.patch[r][c] === v)}` +
        `<p class="sum">${a.mode}(${cells.map(f3).join(", ")})${a.mode === "mean" ? ` (sum / ${count})` : ""} = ${v.toFixed(4)}</p>`));
      return frames;
    }
    let running = 0;
    a.channel_sums.forEach((s, c) => {
      const prods = a.patch[c].map((r, x) => r.map((v, y) => v * a.kernel[c][x][y]));
      const before = running;
      running += s;
      frames.push(pair(c, target, `<p>input channel ${first + c} of ${a.in_channels}:</p><div class="eq">${grid(a.patch[c])}<span>&times;</span>${grid(a.kernel[c])}` +
        `<span>=</span>${grid(prods)}</div><p class="sum">sum of products = ${s.toFixed(4)}</p>` +
        `<p class="runsum">running sum: ${before.toFixed(4)} + ${s.toFixed(4)} = ${running.toFixed(4)}</p>`));
    });
    frames.push(pair(a.shown_channels - 1, target, finish(a)));
    return frames;
  }

  function finish(a) {
    const rest = a.in_channels > a.shown_channels ? ` + ${a.other_channels_sum.toFixed(4)} (channels ${a.shown_channels}..${a.in_channels - 1})` : "";
    const sums = a.channel_sums.length > 12 ? `${a.channel_sums.slice(0, 12).map((s) => s.toFixed(3)).join(" + ")} + … (${a.channel_sums.length} channel sums)`
      : a.channel_sums.map((s) => s.toFixed(3)).join(" + ");
    return `<p class="sum">${sums}${rest} + bias ${a.bias.toFixed(4)} = <b>${a.conv_value.toFixed(4)}</b></p>` + steps(a.steps);
  }

  function steps(list) {
    return (list || []).map((s) => `<p class="sum">${CL.escape(s.op)}: ${CL.escape(s.text)} = <b>${s.value.toFixed(4)}</b></p>`).join("");
  }

  function staticView(a) {
    const div = document.createElement("div");
    if (a.kind === "dense") {
      const rest = a.n_terms - a.terms.length;
      div.innerHTML = `<p>unit ${a.channel} of ${CL.escape(a.layer)}: weighted sum of ${a.n_terms} inputs plus bias; the ${a.terms.length} largest terms:</p>` +
        `<table class="grid"><tr><td>input #</td><td>value</td><td>weight</td><td>product</td></tr>${a.terms.map((t) =>
          `<tr><td>${t.index}</td><td>${f3(t.input)}</td><td>${f3(t.weight)}</td><td>${t.product.toFixed(4)}</td></tr>`).join("")}</table>` +
        `<p class="sum">${a.terms.map((t) => t.product.toFixed(3)).join(" + ")}${rest > 0 ? ` + ${a.other_terms_sum.toFixed(4)} (${rest} more terms)` : ""} + bias ${a.bias.toFixed(4)} = <b>${a.dense_value.toFixed(4)}</b></p>` + steps(a.steps);
    } else if (a.kind === "softmax") {
      div.innerHTML = `<p>softmax: p = exp(z - max z) / sum of exp(z_j - max z), for class <b>${CL.escape(a.classes[a.channel])}</b></p>` +
        `<table class="grid"><tr><td>class</td><td>logit z</td><td>exp(z - max)</td><td>p</td></tr>${a.classes.map((c, k) =>
          `<tr class="${k === a.channel ? "win" : ""}"><td>${CL.escape(c)}</td><td>${a.logits[k].toFixed(4)}</td><td>${a.exps[k].toFixed(4)}</td><td>${(a.exps[k] / a.exp_sum).toFixed(4)}</td></tr>`).join("")}</table>` +
        `<p class="sum">${a.exps[a.channel].toFixed(4)} / ${a.exp_sum.toFixed(4)}</p>`;
    } else if (a.kind === "block") {
      div.innerHTML = `<p>${CL.escape(a.type)}: its parts, in order, at this position (the shortcut is added before the last activation):</p>` +
        `<table class="grid">${a.parts.map((p) => `<tr><td>${CL.escape(p.name)}</td><td>${CL.escape(p.type)}</td><td>${p.value === null ? "" : p.value.toFixed(4)}</td></tr>`).join("")}</table>`;
    } else {
      div.innerHTML = `<p>input value ${a.input.toFixed(4)}</p>` + steps(a.steps);
    }
    return div;
  }
})();
