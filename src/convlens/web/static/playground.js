// convlens explorer, Playground: sliders for a convolution's geometry, its output size with
// the numbers filled in, and the sliding window animated like `convlens conv-explain`.
// The rules are convlens.primer's (geometry.output_size, transposed.transposed_output_size);
// tests/test_playground.py checks the page against them in headless Chromium.
"use strict";

(() => {
  const root = document.getElementById("playground");
  if (!root) return;

  // id, label, symbol, min, max, start: the conv-explain GIF's example (7x7, k 3, s 2, p 1)
  const SLIDERS = [
    ["pg-input", "input size", "i", 1, 16, 7],
    ["pg-kernel", "kernel size", "k", 1, 7, 3],
    ["pg-stride", "stride", "s", 1, 4, 2],
    ["pg-padding", "padding", "p", 0, 4, 1],
    ["pg-dilation", "dilation", "d", 1, 4, 1],
    ["pg-output-padding", "output_padding", "a", 0, 3, 0],
  ];
  // the primer's colours (look/explain.py)
  const PAD = "#d9d9d9", WINDOW = "#d62728", DONE = "#cfe3f7", NOW = "#ffcf66", TAP = "rgba(214,39,40,.16)";
  const FRAME_MS = 700; // per step: time to read the caption
  const PANEL_PX = 340; // widest grid drawing; cells shrink to fit, numbers hide when tiny

  const link = document.createElement("link"); // the page's own stylesheet stays untouched
  link.rel = "stylesheet";
  link.href = "/static/playground.css";
  document.head.append(link);

  root.innerHTML = `
    <h2>Playground: how big is a convolution's output?</h2>
    <div class="pg-top">
      <div class="pg-controls">
        ${SLIDERS.map(([id, label, sym, lo, hi, start]) => `
          <label class="pg-slider" id="${id}-row"><span>${label} <i>${sym}</i></span>
            <input type="range" id="${id}" min="${lo}" max="${hi}" value="${start}">
            <output for="${id}" id="${id}-value">${start}</output></label>`).join("")}
        <label class="pg-switch"><input type="checkbox" id="pg-transposed"> transposed convolution
          (ConvTranspose2d)</label>
        <p class="hint" id="pg-ap-hint">output_padding must be smaller than the stride or the dilation.</p>
      </div>
      <div class="pg-result">
        <p class="pg-size">output size <b id="pg-output"></b> <span id="pg-shape" class="hint"></span></p>
        <p class="pg-formula" id="pg-formula"></p>
        <p class="hint" id="pg-note"></p>
        <p class="pg-message" id="pg-message" role="alert" hidden></p>
      </div>
    </div>
    <div class="pg-buttons">
      <button id="pg-reset" title="back to the start">&#x25C0;&#x25C0; start</button>
      <button id="pg-back" title="one step back">&#x25C0; back</button>
      <button id="pg-play">&#x25B6; play</button>
      <button id="pg-step" title="one step forward">step &#x25B6;</button>
      <button id="pg-end" title="jump to the end">end &#x25B6;&#x25B6;</button>
      <span id="pg-progress" class="hint"></span>
    </div>
    <p class="pg-caption" id="pg-caption"></p>
    <div class="pg-panels" id="pg-panels">
      <figure><svg id="pg-svg-in"></svg><figcaption id="pg-in-title"></figcaption></figure>
      <figure><svg id="pg-svg-kernel"></svg><figcaption>kernel</figcaption></figure>
      <figure><svg id="pg-svg-out"></svg><figcaption id="pg-out-title"></figcaption></figure>
    </div>`;

  const el = (id) => document.getElementById(id);
  const inputs = Object.fromEntries(SLIDERS.map(([id]) => [id, el(id)]));
  let state = null, t = 0, timer = null;

  // ------------------------------------------------------------------ the arithmetic
  function settings() {
    const v = (id) => Number(inputs[id].value);
    return { i: v("pg-input"), k: v("pg-kernel"), s: v("pg-stride"), p: v("pg-padding"),
             d: v("pg-dilation"), a: v("pg-output-padding"), transposed: el("pg-transposed").checked };
  }

  // the numbers of the examples: small integers, as conv-explain draws them (0..9, kernel -1..2)
  const inputValue = (r, c) => (r * 7 + c * 3 + 2) % 10;
  const kernelValue = (u, v) => ((u * 2 + v * 5 + 1) % 4) - 1;
  const num = (v) => (v < 0 ? `(${v})` : String(v)); // 6·(-1), not 6·-1
  const grid = (h, w, f) => Array.from({ length: h }, (_, r) => Array.from({ length: w }, (_, c) => f(r, c)));

  /** Output size of a Conv2d axis: floor((i + 2p - d(k-1) - 1) / s) + 1 (geometry.output_size). */
  function convSize({ i, k, s, p, d }) {
    const room = i + 2 * p - d * (k - 1) - 1; // where the last whole window starts
    const o = Math.floor(room / s) + 1;
    const formula = `o = floor((i + 2p − d(k−1) − 1) / s) + 1<br>` +
      `&nbsp;&nbsp;= floor((${i} + 2·${p} − ${d}·(${k}−1) − 1) / ${s}) + 1 = floor(${room} / ${s}) + 1 = <b>${o}</b>`;
    const problem = o >= 1 ? "" :
      `${o} < 1: no output. A kernel reaching d(k−1)+1 = ${d * (k - 1) + 1} cells does not fit in ` +
      `${i} input cells + 2·${p} padding = ${i + 2 * p}; use more padding, a smaller kernel or less dilation.`;
    return { o, formula, problem, note: "As PyTorch's Conv2d counts it (and MaxPool2d, without ceil_mode)." };
  }

  /** Output size of a ConvTranspose2d axis: s(i-1) - 2p + d(k-1) + a + 1 (transposed_output_size). */
  function transposedSize({ i, k, s, p, d, a }) {
    const canvas = s * (i - 1) + d * (k - 1) + 1; // the cells the kernel scatters into
    const o = canvas - 2 * p + a;
    const note = "Dumoulin &amp; Visin's o′ = s(i′−1) + a + k − 2p, with dilation d = 1.";
    const formula = `o′ = s(i′−1) + a + d(k−1) + 1 − 2p<br>` +
      `&nbsp;&nbsp;= ${s}·(${i}−1) + ${a} + ${d}·(${k}−1) + 1 − 2·${p} = <b>${o}</b>`;
    let problem = "";
    if (a >= s && a >= d) {
      problem = `output_padding a = ${a} must be smaller than the stride (${s}) or the dilation (${d}), as in PyTorch.`;
    } else if (o < 1) {
      problem = `${o} < 1: no output. Padding p = ${p} crops all of the ${canvas} cells the kernel ` +
        `scatters into; use padding ≤ ${Math.floor((canvas + a - 1) / 2)}.`;
    }
    return { o, canvas, formula, problem, note };
  }

  /** Every step of the animation, computed once per setting. */
  function plan(g) {
    const size = g.transposed ? transposedSize(g) : convSize(g);
    const x = grid(g.i, g.i, inputValue), kernel = grid(g.k, g.k, kernelValue);
    const base = { g, size, x, kernel, steps: [] };
    if (size.problem) return base;
    // conv: output cell `at` reads padded rows at*s + u*d; transposed: input cell `at` writes them
    const taps = (at) => Array.from({ length: g.k }, (_, u) => at * g.s + u * g.d);
    if (!g.transposed) {
      const padded = grid(g.i + 2 * g.p, g.i + 2 * g.p, (r, c) =>
        r < g.p || c < g.p || r >= g.p + g.i || c >= g.p + g.i ? 0 : x[r - g.p][c - g.p]);
      for (let oi = 0; oi < size.o; oi++) {
        for (let oj = 0; oj < size.o; oj++) {
          const rows = taps(oi), cols = taps(oj), terms = [];
          let value = 0;
          rows.forEach((r, u) => cols.forEach((c, v) => {
            value += padded[r][c] * kernel[u][v];
            terms.push(`${num(padded[r][c])}·${num(kernel[u][v])}`);
          }));
          base.steps.push({ at: [oi, oj], rows, cols, value, terms });
        }
      }
      return Object.assign(base, { padded });
    }
    const side = size.canvas + g.a; // output_padding adds cells at the end
    for (let ii = 0; ii < g.i; ii++) {
      for (let ij = 0; ij < g.i; ij++) {
        base.steps.push({ at: [ii, ij], rows: taps(ii), cols: taps(ij), value: x[ii][ij] });
      }
    }
    base.steps.push({ crop: true });
    return Object.assign(base, { side });
  }

  // ------------------------------------------------------------------ drawing
  function cellPx(n) { return Math.max(5, Math.min(30, Math.floor(PANEL_PX / Math.max(n, 1)))); }

  /** An SVG grid of `values` (null: blank) with per-cell fill from `shade(r, c)`. */
  function drawGrid(svg, values, shade, extra = "") {
    const h = values.length, w = h ? values[0].length : 0, px = cellPx(Math.max(h, w));
    const font = Math.round(px * 0.45);
    let body = "";
    values.forEach((row, r) => row.forEach((v, c) => {
      body += `<rect x="${c * px}" y="${r * px}" width="${px}" height="${px}" fill="${shade(r, c) || "#fff"}" stroke="${px < 10 ? "#bbb" : "#888"}" stroke-width="${px < 10 ? 0.3 : 0.6}"/>`;
      if (v !== null && px >= 16) {
        body += `<text x="${c * px + px / 2}" y="${r * px + px / 2}" font-size="${font}">${v}</text>`;
      }
    }));
    svg.setAttribute("width", w * px + 4);
    svg.setAttribute("height", h * px + 4);
    svg.setAttribute("viewBox", `-2 -2 ${w * px + 4} ${h * px + 4}`);
    svg.dataset.values = JSON.stringify(values);
    svg.innerHTML = body + extra.replaceAll("PX", String(px));
    return px;
  }

  const box = (r0, c0, rows, cols, px, dashed) =>
    `<rect x="${c0 * px}" y="${r0 * px}" width="${cols * px}" height="${rows * px}" fill="none" ` +
    `stroke="${WINDOW}" stroke-width="2.5"${dashed ? ' stroke-dasharray="5 3"' : ""}/>`;

  function drawConv(p) {
    const { g, size, padded, kernel } = p;
    const shown = p.steps.slice(0, t), now = t > 0 ? p.steps[t - 1] : null;
    const isPad = (r, c) => r < g.p || c < g.p || r >= g.p + g.i || c >= g.p + g.i;
    const tap = new Set(now ? now.rows.flatMap((r) => now.cols.map((c) => `${r},${c}`)) : []);
    const px = cellPx(padded.length);
    const window = now ? box(now.rows[0], now.cols[0], g.d * (g.k - 1) + 1, g.d * (g.k - 1) + 1, px, g.d > 1) : "";
    drawGrid(el("pg-svg-in"), padded, (r, c) => tap.has(`${r},${c}`) ? (isPad(r, c) ? "#e7b9b9" : TAP) : isPad(r, c) ? PAD : "", window);
    el("pg-in-title").textContent = `padded input ${padded.length}×${padded.length} (grey = padding)`;
    drawGrid(el("pg-svg-kernel"), kernel, () => (now ? TAP : ""));
    const out = grid(size.o, size.o, () => null);
    shown.forEach((s) => { out[s.at[0]][s.at[1]] = s.value; });
    drawGrid(el("pg-svg-out"), out, (r, c) => (now && now.at[0] === r && now.at[1] === c ? NOW : out[r][c] !== null ? DONE : ""));
    el("pg-out-title").textContent = `output ${size.o}×${size.o}`;
    el("pg-caption").textContent = now
      ? `output[${now.at[0]}, ${now.at[1]}] = ${now.terms.slice(0, 9).join(" + ")}${now.terms.length > 9 ? " + …" : ""} = ${now.value}` +
        `   (padded rows ${now.rows.join(", ")}; cols ${now.cols.join(", ")})`
      : `input ${g.i}×${g.i}, kernel ${g.k}×${g.k}, stride ${g.s}, padding ${g.p}, dilation ${g.d}: ` +
        `press play or step to slide the kernel.`;
  }

  function drawTransposed(p) {
    const { g, size, x, kernel, side } = p;
    const last = t === p.steps.length, now = t > 0 && !last ? p.steps[t - 1] : null;
    const canvas = grid(side, side, () => null);
    const hit = new Set();
    p.steps.slice(0, t).forEach((s) => {
      if (s.crop) return;
      s.rows.forEach((r, u) => s.cols.forEach((c, v) => {
        canvas[r][c] = (canvas[r][c] ?? 0) + s.value * kernel[u][v];
        if (s === now) hit.add(`${r},${c}`);
      }));
    });
    const cropped = (r, c) => r < g.p || c < g.p || r >= g.p + size.o || c >= g.p + size.o;
    drawGrid(el("pg-svg-in"), x, (r, c) => (now && now.at[0] === r && now.at[1] === c ? NOW : ""));
    el("pg-in-title").textContent = `input ${g.i}×${g.i}`;
    drawGrid(el("pg-svg-kernel"), kernel, () => (now ? TAP : ""));
    const px = cellPx(side);
    drawGrid(el("pg-svg-out"), canvas,
      (r, c) => (hit.has(`${r},${c}`) ? NOW : cropped(r, c) ? PAD : canvas[r][c] !== null ? DONE : ""),
      last ? box(g.p, g.p, size.o, size.o, px, false) : "");
    el("pg-out-title").textContent = last
      ? `output ${size.o}×${size.o} (the canvas without its grey border)`
      : `canvas ${side}×${side} (grey = cropped by padding)`;
    el("pg-caption").textContent = last
      ? `output = the canvas without its grey border: ${size.o}×${size.o}`
      : now
        ? `input[${now.at[0]}, ${now.at[1]}] = ${now.value} adds ${now.value} × kernel into canvas rows ` +
          `${now.rows[0]}..${now.rows[g.k - 1]}, cols ${now.cols[0]}..${now.cols[g.k - 1]}` +
          (g.d > 1 && g.k > 1 ? ` (every ${g.d}th)` : "")
        : `transposed conv: input ${g.i}×${g.i}, kernel ${g.k}×${g.k}, stride ${g.s}, padding ${g.p}, ` +
          `output_padding ${g.a}, dilation ${g.d}: each input cell adds value × kernel into the canvas.`;
  }

  function draw() {
    const p = state, n = p.steps.length;
    el("pg-panels").hidden = !n;
    el("pg-progress").textContent = n ? `step ${t} / ${n}` : "";
    for (const id of ["pg-reset", "pg-back"]) el(id).disabled = !n || t === 0;
    for (const id of ["pg-step", "pg-end"]) el(id).disabled = !n || t === n;
    el("pg-play").disabled = !n;
    el("pg-play").innerHTML = timer ? "&#x25AE;&#x25AE; pause" : "&#x25B6; play";
    if (!n) {
      el("pg-caption").textContent = "Nothing to animate: change a slider.";
      return;
    }
    if (p.g.transposed) drawTransposed(p);
    else drawConv(p);
  }

  // ------------------------------------------------------------------ controls
  function pause() { clearInterval(timer); timer = null; }

  function go(step) {
    t = Math.max(0, Math.min(state.steps.length, step));
    if (t === state.steps.length) pause();
    draw();
  }

  function update() {
    pause();
    const g = settings();
    const ap = inputs["pg-output-padding"];
    ap.max = String(Math.max(g.s, g.d) - 1); // PyTorch: a < stride or a < dilation
    ap.disabled = ap.max === "0";
    g.a = Number(ap.value); // the browser clamps the value to the new max
    el("pg-output-padding-row").hidden = el("pg-ap-hint").hidden = !g.transposed;
    if (!g.transposed) g.a = 0;
    for (const [id] of SLIDERS) el(`${id}-value`).textContent = inputs[id].value;
    state = plan(g);
    const { o, formula, problem, note } = state.size;
    el("pg-output").textContent = problem ? "none" : String(o);
    el("pg-shape").textContent = problem ? "" : `(${o}×${o} from ${g.i}×${g.i})`;
    el("pg-formula").innerHTML = formula;
    el("pg-note").innerHTML = note;
    el("pg-message").textContent = problem;
    el("pg-message").hidden = !problem;
    root.classList.toggle("pg-impossible", Boolean(problem));
    t = 0;
    draw();
  }

  for (const input of [...Object.values(inputs), el("pg-transposed")]) {
    input.addEventListener("input", update);
    input.addEventListener("change", update);
  }
  el("pg-reset").addEventListener("click", () => { pause(); go(0); });
  el("pg-back").addEventListener("click", () => { pause(); go(t - 1); });
  el("pg-step").addEventListener("click", () => { pause(); go(t + 1); });
  el("pg-end").addEventListener("click", () => { pause(); go(state.steps.length); });
  el("pg-play").addEventListener("click", () => {
    if (timer) { pause(); draw(); return; }
    if (t === state.steps.length) t = 0; // play again from the start
    timer = setInterval(() => go(t + 1), FRAME_MS);
    draw();
  });

  update();
})();
