// convlens explorer, training: loss and accuracy curves (a second run's dashed over them), and
// the first layer's filters with an epoch slider: their change since epoch 0, the weights on
// one scale, or each filter on its own scale, with how much the layer has moved.
"use strict";
window.CL = window.CL || {};

(function () {
  // runs: [{name, metrics, dash}]; keys: the two metrics drawn (train, test)
  function curve(runs, keys, title, percent) {
    const W = 340, H = 210, L = 44, B = 56;
    const all = runs.flatMap((r) => r.metrics);
    const epochs = all.map((m) => m.epoch);
    const vals = keys.flatMap((k) => all.map((m) => m[k])).filter((v) => v !== undefined && v !== null);
    if (!vals.length) return "";
    const lo = Math.min(...vals), hi = Math.max(...vals), span = hi - lo || 1;
    const e0 = Math.min(...epochs), e1 = Math.max(...epochs);
    const x = (e) => L + ((e - e0) / Math.max(1, e1 - e0)) * (W - L - 10);
    const y = (v) => 10 + (1 - (v - lo) / span) * (H - B - 10);
    const f = (v) => (percent ? `${(100 * v).toFixed(1)}%` : v.toFixed(3));
    const colours = ["#2f6db5", "#e67e22"];
    let lines = "";
    runs.forEach((r, n) => {
      keys.forEach((k, c) => {
        const pts = r.metrics.filter((m) => m[k] !== undefined && m[k] !== null).map((m) => `${x(m.epoch)},${y(m[k])}`).join(" ");
        lines += `<polyline fill="none" stroke="${colours[c]}" stroke-width="2" ${n ? 'stroke-dasharray="5 3"' : ""} points="${pts}"/>`;
      });
      const label = `${r.name ? CL.escape(r.name) + ": " : ""}${keys.map((k, c) => `<tspan fill="${colours[c]}">${k.replace("_", " ")}</tspan>`).join(", ")}`;
      lines += `<line x1="${L}" x2="${L + 18}" y1="${H - 24 + 13 * n}" y2="${H - 24 + 13 * n}" stroke="#555" stroke-width="2" ${n ? 'stroke-dasharray="5 3"' : ""}/>` +
        `<text x="${L + 22}" y="${H - 20 + 13 * n}" font-size="10.5">${label}</text>`;
    });
    return `<svg width="${W}" height="${H}" role="img" aria-label="${title}"><text x="${L}" y="9" font-size="11">${title}</text>` +
      `<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" stroke="#999"/>` +
      `<text x="${L - 4}" y="${y(hi) + 4}" text-anchor="end" font-size="10">${f(hi)}</text><text x="${L - 4}" y="${y(lo)}" text-anchor="end" font-size="10">${f(lo)}</text>` +
      `<text x="${(W + L) / 2}" y="${H - B + 13}" text-anchor="middle" font-size="10">epoch ${e0}..${e1}</text>${lines}</svg>`;
  }

  // `other`: {name, metrics} of a second run, drawn dashed over the first (named `name`)
  CL.drawCurves = function (host, metrics, other, name) {
    if (!metrics || !metrics.length) { host.innerHTML = `<p class="hint">no metrics recorded yet</p>`; return; }
    const runs = [{ name: other ? name : "", metrics }];
    if (other && other.metrics && other.metrics.length) runs.push(other);
    host.innerHTML = curve(runs, ["train_loss", "test_loss"], "loss", false) + curve(runs, ["train_accuracy", "test_accuracy"], "accuracy", true);
    host.dataset.runs = String(runs.length);
  };

  const norm = (a) => Math.sqrt(a.flat(3).reduce((s, v) => s + v * v, 0));
  const minus = (a, b) => a.map((o, i) => o.map((c, j) => c.map((r, k) => r.map((v, l) => v - b[i][j][k][l]))));

  // filters: [out][in][kh][kw]; colour filters (3 inputs) as RGB, others blue-white-red;
  // `lim`: the value of full colour, one number or one per filter
  function drawFilters(host, w, shape, lim) {
    const [O, C, kh, kw] = shape;
    const s = Math.max(4, Math.floor(40 / Math.max(kh, kw)));
    const cols = Math.min(16, O), rows = Math.ceil(O / cols);
    let cv = host.querySelector("canvas");
    if (!cv) { cv = document.createElement("canvas"); host.append(cv); }
    cv.width = cols * (kw * s + 4); cv.height = rows * (kh * s + 4);
    const ctx = cv.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
    for (let o = 0; o < O; o++) {
      const m = (Array.isArray(lim) ? lim[o] : lim) || 1;
      const ox = (o % cols) * (kw * s + 4) + 2, oy = Math.floor(o / cols) * (kh * s + 4) + 2;
      for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
        if (C === 3) {
          const rgb = [0, 1, 2].map((c) => Math.round(255 * Math.max(0, Math.min(1, 0.5 + w[o][c][a][b] / (2 * m)))));
          ctx.fillStyle = `rgb(${rgb})`;
        } else {
          const v = w[o][0][a][b] / m, f = Math.min(1, Math.abs(v));
          ctx.fillStyle = v >= 0 ? `rgb(255,${255 - 200 * f},${255 - 215 * f})` : `rgb(${255 - 215 * f},${255 - 160 * f},255)`;
        }
        ctx.fillRect(ox + b * s, oy + a * s, s, s);
      }
    }
  }

  CL.loadHistory = async function (run) {
    const host = document.getElementById("history"), slider = document.getElementById("epoch");
    const label = document.getElementById("epoch-label"), view = document.getElementById("filter-view");
    const hint = document.getElementById("filter-hint");
    host.innerHTML = "";
    const h = await CL.api(`/api/runs/${encodeURIComponent(run)}/history`);
    if (!h.layer) { label.textContent = ""; hint.textContent = ""; slider.hidden = true; host.innerHTML = `<p class="hint">training recorded no filters (train with --record-filters first)</p>`; return; }
    slider.hidden = false;
    slider.max = h.epochs.length - 1;
    slider.value = h.epochs.length - 1;
    const first = h.filters[0], size = norm(first) || 1;
    const changes = h.filters.map((w) => minus(w, first));
    const changeLim = Math.max(...changes.map((d) => Math.max(...d.flat(3).map(Math.abs)))) || 1;
    const show = () => {
      const e = Number(slider.value), w = h.filters[e];
      const moved = (100 * norm(changes[e])) / size;
      label.textContent = `${h.layer}, epoch ${h.epochs[e]}${h.epochs[e] === 0 ? " (initial weights)" : ""}; changed ${moved.toFixed(1)}% since epoch 0`;
      label.dataset.epoch = h.epochs[e];
      label.dataset.moved = moved.toFixed(2);
      if (view.value === "change") {
        drawFilters(host, changes[e], h.shape, changeLim);
        hint.textContent = `Each filter's change since epoch 0 (weights now minus the initial ones; red: grew, blue: shrank), on one scale: full colour is ±${changeLim.toFixed(3)}.`;
      } else if (view.value === "own") {
        drawFilters(host, w, h.shape, w.map((f) => Math.max(...f.flat(2).map(Math.abs))));
        hint.textContent = "Each filter on its own scale: full colour is its own largest weight, so small filters show their pattern too.";
      } else {
        drawFilters(host, w, h.shape, h.lim);
        hint.textContent = `The weights on one scale: full colour is ±${h.lim.toFixed(3)}. A change of ${moved.toFixed(1)}% is hard to see here; choose \u201cchange since epoch 0\u201d.`;
      }
    };
    slider.oninput = show;
    view.onchange = show;
    show();
  };
})();
