// psinet playground: the page only draws and sends the learner's choices.
// Every number comes from the server (psinet); nothing here computes a network.
"use strict";

(() => {
  const TOKEN = document.querySelector('meta[name="psinet-token"]').content;
  const CLASS_COLOURS = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00"];
  const LAYER_COLOURS = ["#3b0f70", "#8c2981", "#de4968", "#f66e5c", "#fe9f6d", "#c9a800", "#2a9d8f"];
  const SHAPES = ["circle", "square", "triangle", "diamond", "cross"];
  const MAX_STEPS = 500; // per Play request (the server allows up to 1000)
  const $ = (id) => document.getElementById(id);

  const ui = {
    options: null,
    session: null,
    data: null,
    state: null,
    view: "forward",
    playing: false,
    stepsPerFrame: 1,
    busy: false,
    csv: "", // the learner's own data, sent again with every reset while dataset is "custom"
    stepIndex: -1, // the backward walk: -1 = not stepping, else the index into sample.steps
    stepKey: null, // which sample/network the step index belongs to
    edit: null, // the edge whose weight the editor is setting: {layer, row, col}
  };
  const MAX_CSV_BYTES = 64 * 1024;
  const FEATURE_LABELS = {
    x1: "x₁", x2: "x₂", "x1^2": "x₁²", "x2^2": "x₂²", x1x2: "x₁x₂", sin_x1: "sin x₁", sin_x2: "sin x₂",
  };
  // Measured by the browser test and shown nowhere: Play press to the first redrawn frame.
  window.psinet = { frames: 0, playPressed: null, playToFirstFrameMs: null, ui };

  // ------------------------------------------------------------------ the API
  async function api(path, body) {
    const init = { headers: { "X-Psinet-Token": TOKEN } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  }

  function showMessage(text) {
    const box = $("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // ------------------------------------------------------------------ the settings form
  function fillSelect(select, values, labels) {
    select.replaceChildren(
      ...values.map((v) => {
        const option = document.createElement("option");
        option.value = v;
        option.textContent = labels ? labels[v] || v : v;
        return option;
      }),
    );
  }

  function setBounds(id, [lo, hi]) {
    $(id).min = lo;
    $(id).max = hi;
  }

  function layerRow(index, width, activation) {
    const row = document.createElement("div");
    row.className = "layer-row";
    const name = document.createElement("span");
    name.textContent = `layer ${index + 1}`;
    const w = document.createElement("input");
    w.type = "number";
    w.className = "width";
    w.min = 1;
    w.max = ui.options.bounds.width[1];
    w.value = width;
    w.setAttribute("aria-label", `Neurons in hidden layer ${index + 1}`);
    const f = document.createElement("select");
    f.className = "layer-f";
    fillSelect(f, ui.options.hidden_activations);
    f.value = activation;
    f.setAttribute("aria-label", `f of hidden layer ${index + 1}`);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove hidden layer ${index + 1}`);
    remove.addEventListener("click", () => {
      row.remove();
      renumberLayers();
      settingsChanged();
    });
    row.append(name, w, f, remove);
    return row;
  }

  function renumberLayers() {
    [...$("layers").children].forEach((row, i) => {
      row.querySelector("span").textContent = `layer ${i + 1}`;
      row.querySelector(".width").setAttribute("aria-label", `Neurons in hidden layer ${i + 1}`);
      row.querySelector(".layer-f").setAttribute("aria-label", `f of hidden layer ${i + 1}`);
      row.querySelector("button").setAttribute("aria-label", `Remove hidden layer ${i + 1}`);
    });
    $("add-layer").disabled = $("layers").children.length >= ui.options.bounds.hidden_layers[1];
  }

  function showConfig(config) {
    for (const key of ["dataset", "n_samples", "noise", "n_classes", "validation", "output",
      "optimizer", "learning_rate", "batch_size", "l2", "seed"]) {
      $(key).value = config[key];
    }
    if (config.dataset === "custom") ensureCustomOption();
    $("dataset").value = config.dataset;
    if (config.csv) ui.csv = config.csv;
    const chosen = new Set(config.features || ["x1", "x2"]);
    document.querySelectorAll('#features input[type="checkbox"]').forEach((box) => {
      box.checked = chosen.has(box.value);
    });
    $("layers").replaceChildren(
      ...config.hidden.map((n, i) => layerRow(i, n, config.activations[i])),
    );
    renumberLayers();
    syncActivation();
    syncOutput();
  }

  function syncActivation() {
    const names = [...document.querySelectorAll(".layer-f")].map((s) => s.value);
    const same = names.length > 0 && names.every((n) => n === names[0]);
    const mixed = $("activation").querySelector('option[value="mixed"]');
    if (mixed) mixed.hidden = same;
    $("activation").value = same ? names[0] : "mixed";
  }

  function ensureCustomOption() {
    if ($("dataset").querySelector('option[value="custom"]')) return;
    const option = document.createElement("option");
    option.value = "custom";
    option.textContent = "custom (your data)";
    $("dataset").append(option);
  }

  function featureBoxes(names) {
    $("features").replaceChildren(...names.map((name) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "features";
      box.value = name;
      box.setAttribute("aria-label", `feature ${name}`);
      label.append(box, ` ${FEATURE_LABELS[name] || name}`);
      return label;
    }));
  }

  function syncOutput() {
    const dataset = $("dataset").value;
    const spirals = dataset === "spirals";
    $("n_classes").disabled = !spirals;
    // the learner's own data brings its samples, classes and (no) noise
    $("n_samples").disabled = dataset === "custom";
    $("noise").disabled = dataset === "custom";
    if (!spirals && dataset !== "custom") $("n_classes").value = 2;
    const multi = Number($("n_classes").value) > 2;
    $("output").querySelector('option[value="sigmoid"]').disabled = multi;
    if (multi) $("output").value = "softmax";
  }

  function readConfig() {
    const number = (id) => Number($(id).value);
    const config = {
      dataset: $("dataset").value,
      n_samples: number("n_samples"),
      noise: number("noise"),
      n_classes: number("n_classes"),
      validation: number("validation"),
      hidden: [...document.querySelectorAll(".layer-row .width")].map((i) => Number(i.value)),
      activations: [...document.querySelectorAll(".layer-f")].map((s) => s.value),
      output: $("output").value,
      optimizer: $("optimizer").value,
      learning_rate: number("learning_rate"),
      batch_size: number("batch_size"),
      l2: number("l2"),
      seed: number("seed"),
    };
    if (ui.options.features) {
      config.features = [...document.querySelectorAll('#features input[type="checkbox"]:checked')]
        .map((box) => box.value);
    }
    if (config.dataset === "custom") config.csv = ui.csv;
    return config;
  }

  async function settingsChanged() {
    pause();
    syncOutput();
    try {
      const state = await api("/api/reset", { session: ui.session, config: readConfig() });
      showMessage("");
      render(state);
    } catch (error) {
      showMessage(`Setting refused: ${error.message}`);
    }
  }

  // ------------------------------------------------------------------ training controls
  async function train(body) {
    if (ui.busy) return null;
    ui.busy = true;
    document.body.dataset.busy = true;
    try {
      const state = await api("/api/train", { session: ui.session, ...body });
      render(state);
      return state;
    } catch (error) {
      showMessage(error.message);
      pause();
      return null;
    } finally {
      ui.busy = false;
      document.body.dataset.busy = false;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  function stepsFor(state) {
    const speed = $("speed").value;
    if (speed === "step") return 1;
    if (speed === "epoch") return Math.min(MAX_STEPS, state.steps_per_epoch);
    return ui.stepsPerFrame;
  }
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

  async function play() {
    if (ui.playing || (ui.state && ui.state.diverged)) return;
    ui.playing = true;
    updateButtons();
    window.psinet.playPressed = performance.now();
    window.psinet.playToFirstFrameMs = null;
    ui.stepsPerFrame = 1;
    while (ui.playing) {
      const started = performance.now();
      const state = await train({ steps: stepsFor(ui.state) });
      if (state === null) break;
      await nextFrame();
      if (window.psinet.playToFirstFrameMs === null) {
        window.psinet.playToFirstFrameMs = performance.now() - window.psinet.playPressed;
      }
      if (state.diverged) break;
      // "fastest": aim at 40–150 ms per frame, more steps per request when they are cheap
      const took = performance.now() - started;
      if (took < 40) ui.stepsPerFrame = Math.min(MAX_STEPS, ui.stepsPerFrame * 2);
      else if (took > 150) ui.stepsPerFrame = Math.max(1, Math.floor(ui.stepsPerFrame / 2));
      // the other speeds: at most one frame every 60 ms, so a person can follow
      if ($("speed").value !== "fastest") await sleep(60 - (performance.now() - started));
    }
    ui.playing = false;
    updateButtons();
  }

  function pause() {
    ui.playing = false;
    updateButtons();
  }

  function updateButtons() {
    const diverged = Boolean(ui.state && ui.state.diverged);
    $("play").disabled = ui.playing || diverged;
    $("pause").disabled = !ui.playing;
    $("step").disabled = ui.playing || diverged;
    $("epoch-button").disabled = ui.playing || diverged;
    document.body.dataset.playing = ui.playing;
  }

  // ------------------------------------------------------------------ drawing helpers
  function fit(canvas) {
    // Draw at the screen's pixel density; returns a context in CSS pixels.
    const ratio = window.devicePixelRatio || 1;
    const w = Number(canvas.getAttribute("width")) / (canvas.dataset.ratio || 1);
    const h = Number(canvas.getAttribute("height")) / (canvas.dataset.ratio || 1);
    if (Number(canvas.dataset.ratio || 1) !== ratio) {
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
      canvas.dataset.ratio = ratio;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  function hex(colour) {
    const n = parseInt(colour.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function fmt(x) {
    if (x === null || x === undefined) return "–";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e4)) return x.toExponential(2);
    return Number(x.toPrecision(3)).toString();
  }

  function marker(ctx, shape, x, y, r) {
    ctx.beginPath();
    if (shape === "circle") ctx.arc(x, y, r, 0, 2 * Math.PI);
    else if (shape === "square") ctx.rect(x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
    else if (shape === "triangle") {
      ctx.moveTo(x, y - r * 1.1);
      ctx.lineTo(x + r, y + r * 0.75);
      ctx.lineTo(x - r, y + r * 0.75);
      ctx.closePath();
    } else if (shape === "diamond") {
      ctx.moveTo(x, y - r * 1.2);
      ctx.lineTo(x + r * 1.1, y);
      ctx.lineTo(x, y + r * 1.2);
      ctx.lineTo(x - r * 1.1, y);
      ctx.closePath();
    } else {
      ctx.moveTo(x - r, y - r);
      ctx.lineTo(x + r, y + r);
      ctx.moveTo(x + r, y - r);
      ctx.lineTo(x - r, y + r);
    }
  }

  // ------------------------------------------------------------------ data + decision boundary
  function toPixel(extent, w, h, x, y) {
    const [x0, x1, y0, y1] = extent;
    return [((x - x0) / (x1 - x0)) * w, ((y1 - y) / (y1 - y0)) * h];
  }

  function drawData(state) {
    const { ctx, w, h } = fit($("data-plot"));
    const { n, extent, y_hat: yHat } = state.grid;
    const k = state.sizes[state.sizes.length - 1];
    if (yHat === null) { // the outputs overflowed after divergence: nothing to colour
      ctx.fillStyle = "#eeeeee";
      ctx.fillRect(0, 0, w, h);
    }
    const image = new ImageData(n, n);
    const colours = CLASS_COLOURS.map(hex);
    for (let i = 0; yHat !== null && i < n * n; i++) {
      const out = yHat[i];
      const p = k === 1 ? [1 - out[0], out[0]] : out; // one sigmoid output: P(class 1)
      let r = 0, g = 0, b = 0;
      p.forEach((pk, c) => {
        r += pk * colours[c][0];
        g += pk * colours[c][1];
        b += pk * colours[c][2];
      });
      const mix = 0.5; // lighten towards white so the points stand out
      image.data.set([r * mix + 255 * (1 - mix), g * mix + 255 * (1 - mix),
        b * mix + 255 * (1 - mix), 255], 4 * i);
    }
    const small = document.createElement("canvas");
    small.width = n;
    small.height = n;
    small.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    // The lattice points are cell centres at the edges of the plot: stretch half a cell out.
    const cw = w / (n - 1), ch = h / (n - 1);
    ctx.drawImage(small, -cw / 2, -ch / 2, w + cw, h + ch);

    // axes through 0
    ctx.strokeStyle = "rgba(0,0,0,0.25)";
    ctx.lineWidth = 1;
    const [ox, oy] = toPixel(extent, w, h, 0, 0);
    ctx.beginPath();
    ctx.moveTo(0, oy); ctx.lineTo(w, oy); ctx.moveTo(ox, 0); ctx.lineTo(ox, h);
    ctx.stroke();

    const { X, y, n_train: nTrain } = ui.data;
    for (let i = 0; i < X.length; i++) {
      const [px, py] = toPixel(extent, w, h, X[i][0], X[i][1]);
      marker(ctx, SHAPES[y[i]], px, py, 3.6);
      if (i < nTrain) {
        ctx.fillStyle = CLASS_COLOURS[y[i]];
        ctx.fill();
        ctx.strokeStyle = "rgba(0,0,0,0.65)";
        ctx.lineWidth = 0.8;
      } else {
        ctx.fillStyle = "#fff";
        ctx.fill();
        ctx.strokeStyle = CLASS_COLOURS[y[i]];
        ctx.lineWidth = 2;
      }
      ctx.stroke();
    }
    if (state.sample) {
      const [px, py] = toPixel(extent, w, h, ...state.sample.x);
      ctx.beginPath();
      ctx.arc(px, py, 9, 0, 2 * Math.PI);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2.5;
      ctx.stroke();
    }
    // axis labels
    ctx.fillStyle = "rgba(0,0,0,0.6)";
    ctx.font = "11px sans-serif";
    ctx.fillText("x₁ →", w - 34, oy - 4 > 12 ? oy - 4 : 12);
    ctx.fillText("↑ x₂", ox + 4 < w - 30 ? ox + 4 : w - 30, 12);
  }

  function nearestSample(event) {
    const canvas = $("data-plot");
    const rect = canvas.getBoundingClientRect();
    const { extent } = ui.state.grid;
    const [x0, x1, y0, y1] = extent;
    const x = x0 + ((event.clientX - rect.left) / rect.width) * (x1 - x0);
    const y = y1 - ((event.clientY - rect.top) / rect.height) * (y1 - y0);
    let best = 0, bestDistance = Infinity;
    ui.data.X.forEach(([a, b], i) => {
      const d = (a - x) ** 2 + (b - y) ** 2;
      if (d < bestDistance) { best = i; bestDistance = d; }
    });
    return best;
  }

  // ------------------------------------------------------------------ line charts
  function chart(canvas, series, { logY = false, yMin = null, yMax = null, xLabel = "epochs" } = {}) {
    const { ctx, w, h } = fit(canvas);
    const left = 46, right = 8, top = 8, bottom = 22;
    const xs = series.length ? series[0].x : [];
    const values = series.flatMap((s) => s.y).filter((v) => v !== null && Number.isFinite(v) && (!logY || v > 0));
    if (!xs.length || !values.length) return;
    const tf = logY ? Math.log10 : (v) => v;
    let lo = yMin !== null ? yMin : Math.min(...values.map(tf));
    let hi = yMax !== null ? yMax : Math.max(...values.map(tf));
    if (logY) { lo = Math.floor(lo); hi = Math.ceil(hi); }
    if (hi - lo < 1e-12) { hi += 0.5; lo -= logY ? 0.5 : 0; }
    if (!logY && yMin === null) lo = Math.min(0, lo);
    const xMax = Math.max(xs[xs.length - 1], 1); // at least one epoch wide
    const X = (v) => left + (v / xMax) * (w - left - right);
    const Y = (v) => top + (1 - (tf(v) - lo) / (hi - lo)) * (h - top - bottom);

    ctx.font = "10px sans-serif";
    ctx.fillStyle = "#5b6472";
    ctx.strokeStyle = "#e3e6ea";
    ctx.lineWidth = 1;
    const ticks = logY ? range(lo, hi, Math.max(1, Math.ceil((hi - lo) / 6))) : niceTicks(lo, hi);
    for (const t of ticks) {
      const py = top + (1 - (t - lo) / (hi - lo)) * (h - top - bottom);
      ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(w - right, py); ctx.stroke();
      ctx.fillText(logY ? `1e${t}` : fmt(t), 2, py + 3);
    }
    for (const t of niceTicks(0, xMax)) {
      if (X(t) < w - right - 60) ctx.fillText(fmt(t), X(t) - 6, h - 8); // leave room for the label
    }
    ctx.fillText(xLabel, w - right - 40, h - 8);
    ctx.strokeStyle = "#9aa4b2";
    ctx.strokeRect(left, top, w - left - right, h - top - bottom);

    series.forEach((s, index) => {
      ctx.strokeStyle = s.colour;
      ctx.lineWidth = 1.8;
      ctx.setLineDash(s.dash ? [5, 3] : []);
      ctx.beginPath();
      let pen = false;
      s.y.forEach((v, i) => {
        if (v === null || !Number.isFinite(v) || (logY && v <= 0)) { pen = false; return; }
        const px = X(s.x[i]), py = Math.max(top, Math.min(h - bottom, Y(v)));
        if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        pen = true;
      });
      ctx.stroke();
      // a dot on the newest value, so a single point (or the present) is visible
      for (let i = s.y.length - 1; i >= 0; i--) {
        const v = s.y[i];
        if (v === null || !Number.isFinite(v) || (logY && v <= 0)) continue;
        ctx.beginPath();
        ctx.arc(X(s.x[i]), Math.max(top, Math.min(h - bottom, Y(v))), 2.5, 0, 2 * Math.PI);
        ctx.fillStyle = s.colour;
        ctx.fill();
        break;
      }
      // legend, top right, line sample + name
      const ly = top + 12 + index * 13;
      ctx.beginPath();
      ctx.moveTo(w - right - 118, ly - 3); ctx.lineTo(w - right - 98, ly - 3);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#1d2430";
      ctx.fillText(s.name, w - right - 94, ly);
    });
    ctx.setLineDash([]);
  }

  function range(a, b, step) {
    const out = [];
    for (let v = a; v <= b + 1e-9; v += step) out.push(v);
    return out;
  }

  function niceTicks(lo, hi) {
    const span = hi - lo || 1;
    const raw = span / 4;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= 5);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-6; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  function drawCharts(state) {
    const hs = state.history;
    chart($("loss-chart"), [
      { name: "training", colour: "#1d2430", x: hs.epochs, y: hs.loss },
      ...(state.val ? [{ name: "validation", colour: "#d55e00", dash: true, x: hs.epochs, y: hs.val_loss }] : []),
    ]);
    chart($("accuracy-chart"), [
      { name: "training", colour: "#1d2430", x: hs.epochs, y: hs.accuracy },
      ...(state.val ? [{ name: "validation", colour: "#d55e00", dash: true, x: hs.epochs, y: hs.val_accuracy }] : []),
    ], { yMin: 0, yMax: 1 });
    const L = state.sizes.length - 1;
    chart($("grad-chart"), [...Array(L).keys()].map((l) => ({
      name: `‖∂E/∂W_${l}‖${l === 0 ? " first" : l === L - 1 ? " output" : ""}`,
      colour: LAYER_COLOURS[l % LAYER_COLOURS.length],
      dash: l % 2 === 1,
      x: hs.epochs,
      y: hs.grad_norms.map((g) => g[l]),
    })), { logY: true });
  }

  // ------------------------------------------------------------------ the network diagram
  const SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs = {}, text = null) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== null) node.textContent = text;
    return node;
  }

  function drawNetwork(state) {
    const svg = $("network");
    const sizes = state.sizes;
    const L = sizes.length - 1;
    const sample = traced(state);
    const backward = ui.view === "backward";
    const nodeW = L > 3 ? 66 : 78, nodeH = sample ? 30 : 22, gapY = 8;
    const step = currentStep(state);
    // while stepping: the column whose Ψ is computed, and the one above it that it reads
    const computing = step ? step.layer + 1 : null;
    const reading = step && step.kind === "recursion" ? step.from_layer + 1 : null;
    const top = 62, colGap = Math.max(nodeW + (L > 3 ? 36 : 60), Math.min(190, 640 / L));
    const rows = Math.max(...sizes.map((n, c) => n + (c < L ? 1 : 0)));
    const height = top + rows * (nodeH + gapY) + 26;
    const width = 40 + L * colGap + nodeW + 20;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.replaceChildren();

    // node centres: column c holds n_c neurons, then (except the output) its bias node "1"
    const centre = (c, j) => {
      const count = sizes[c] + (c < L ? 1 : 0);
      const y0 = top + ((rows - count) * (nodeH + gapY)) / 2;
      return [40 + c * colGap + nodeW / 2, y0 + j * (nodeH + gapY) + nodeH / 2];
    };

    // edges: from X̄_l (neurons and bias) to layer l+1; weight or per-sample ∂E/∂w
    const edgeValues = [];
    for (let l = 0; l < L; l++) {
      edgeValues.push(backward && sample ? sample.layers[l].grad_W : state.weights[l]);
    }
    let biggest = 0;
    edgeValues.forEach((M) => M.forEach((row) => row.forEach((v) => { biggest = Math.max(biggest, Math.abs(v)); })));
    const edges = el("g");
    const hits = el("g", { class: "edge-hits" });
    const symbol = backward && sample ? "∂E/∂W" : "W";
    for (let l = 0; l < L; l++) {
      for (let j = 0; j < sizes[l + 1]; j++) {
        for (let i = 0; i <= sizes[l]; i++) {
          const v = edgeValues[l][j][i];
          const [x1, y1] = centre(l, i);
          const [x2, y2] = centre(l + 1, j);
          const widthPx = biggest > 0 ? 0.4 + 5.6 * (Math.abs(v) / biggest) : 0.5;
          const active = reading !== null && l === reading - 1 && i < sizes[l];
          const line = el("line", {
            class: `edge ${v >= 0 ? "pos" : "neg"}${active ? " active" : ""}${step && !active ? " faded" : ""}`,
            x1: x1 + nodeW / 2, y1, x2: x2 - nodeW / 2, y2,
            "stroke-width": widthPx.toFixed(2),
            "stroke-opacity": backward && !sample ? 0.25 : 0.85,
          });
          const from = i === sizes[l] ? "bias" : `neuron ${i}`;
          const tip = `${symbol}_${l}[${j}, ${i}] = ${v}  (${from} of layer ${l} → neuron ${j} of layer ${l + 1})`;
          line.append(el("title", {}, tip));
          edges.append(line);
          // a wide invisible line on top: click it to set the weight W_l[j, i]
          const hit = el("line", {
            class: "edge-hit", x1: x1 + nodeW / 2, y1, x2: x2 - nodeW / 2, y2,
            "data-testid": `edge-${l}-${j}-${i}`, "data-layer": l, "data-row": j, "data-col": i,
          });
          hit.append(el("title", {}, `${tip}\nclick to set W_${l}[${j}, ${i}]`));
          hits.append(hit);
        }
      }
    }
    svg.append(edges);

    // columns: titles, neurons and bias nodes
    for (let c = 0; c <= L; c++) {
      const [cx] = centre(c, 0);
      // three short lines: the layer, its f (or the input), and what its nodes show
      const title = c === 0 ? "input" : c === L ? "output" : `hidden ${c}`;
      const f = c === 0 ? "X̄₀ = [x, 1]" : c === L ? state.config.output : state.config.activations[c - 1];
      const shows = c === 0 ? "" : backward ? `Ψ_${c - 1} = ∂E/∂z_${c - 1}` : `z_${c - 1}, f(z_${c - 1})`;
      svg.append(el("text", { class: "column-title", x: cx, y: 14, "text-anchor": "middle" }, title));
      svg.append(el("text", { class: "column-sub", x: cx, y: 29, "text-anchor": "middle" }, f));
      svg.append(el("text", { class: "column-sub", x: cx, y: 44, "text-anchor": "middle" }, shows));
      if (c === computing || c === reading) {
        const [, yTop] = centre(c, 0);
        const [, yBottom] = centre(c, sizes[c] - 1);
        svg.append(el("rect", {
          class: c === computing ? "column-highlight computing" : "column-highlight reading",
          "data-testid": c === computing ? "highlight-computing" : "highlight-reading",
          "data-column": c,
          x: cx - nodeW / 2 - 7, y: yTop - nodeH / 2 - 7, width: nodeW + 14,
          height: yBottom - yTop + nodeH + 14, rx: 8,
        }));
      }
      for (let j = 0; j < sizes[c]; j++) {
        const node = neuron(state, c, j, centre(c, j), nodeW, nodeH);
        if (step && c > 0 && c < computing) node.classList.add("pending");
        svg.append(node);
      }
      if (c < L) {
        const [bx, by] = centre(c, sizes[c]);
        const g = el("g", { class: "node bias" });
        g.append(el("rect", { x: bx - 14, y: by - 11, width: 28, height: 22, rx: 11 }));
        g.append(el("text", { x: bx, y: by + 4, "text-anchor": "middle" }, "1"));
        g.append(el("title", {}, `bias node of X̄_${c}: the constant input 1; its weights are the last column of W_${c}`));
        svg.append(g);
        svg.append(el("text", { class: "bias-label", x: bx - 18, y: by + 4, "text-anchor": "end" }, "bias"));
      }
    }
    // legend and the direction of the sweep
    const legend = el("g", { class: "legend" });
    const ly = height - 10;
    legend.append(el("line", { class: "edge pos", x1: 10, y1: ly - 4, x2: 34, y2: ly - 4, "stroke-width": 3 }));
    legend.append(el("text", { x: 38, y: ly }, `${symbol} > 0`));
    legend.append(el("line", { class: "edge neg", x1: 100, y1: ly - 4, x2: 124, y2: ly - 4, "stroke-width": 3 }));
    legend.append(el("text", { x: 128, y: ly }, `${symbol} < 0 (dashed)`));
    legend.append(el("text", { x: 250, y: ly }, `width ∝ |${symbol}|, largest = ${fmt(biggest)}`));
    legend.append(el("text", { class: "flow", x: width - 12, y: ly, "text-anchor": "end" },
      backward ? "Ψ flows ← from the output back" : "forward →"));
    svg.append(legend);
    svg.append(hits);
  }

  function neuron(state, c, j, [x, y], w, h) {
    const L = state.sizes.length - 1;
    const sample = traced(state);
    const backward = ui.view === "backward";
    const g = el("g", { class: `node${c === L ? " output" : ""}` });
    g.append(el("rect", { x: x - w / 2, y: y - h / 2, width: w, height: h, rx: 5 }));
    const lines = [];
    let tip = "";
    if (c === 0) {
      const features = state.config.features || ["x1", "x2"];
      const name = FEATURE_LABELS[features[j]] || features[j] || `x${j + 1}`;
      // the input's value: the backend's feature vector, else x itself for x1, x2
      const input = sample && (sample.input || sample.features);
      const plain = { x1: 0, x2: 1 }[features[j]];
      const value = !sample ? null : input ? input[j] : plain !== undefined ? sample.x[plain] : null;
      lines.push(value === null ? name : `${name} ${fmt(value)}`);
      tip = value === null ? `input ${j}: ${features[j] || name}` : `${features[j]} = ${value}`;
    } else if (sample && !backward) {
      const layer = sample.layers[c - 1];
      lines.push(`z ${fmt(layer.z[j])}`, `f ${fmt(layer.a[j])}`);
      tip = `z_${c - 1}[${j}] = ${layer.z[j]}\nf(z) = ${layer.a[j]}`;
    } else if (sample && backward) {
      const psi = sample.layers[c - 1].psi[j];
      const text = el("text", {
        x, y: y + 4, "text-anchor": "middle",
        "data-testid": `psi-${c - 1}-${j}`, "data-value": String(psi),
      }, `Ψ ${fmt(psi)}`);
      const fPrime = sample.layers[c - 1].f_prime;
      const fp = fPrime ? fPrime[j] : null;
      if (fPrime !== undefined) {
        text.setAttribute("y", y - 3);
        g.append(el("text", {
          x, y: y + 10, "text-anchor": "middle", class: "fprime",
          "data-testid": `fprime-${c - 1}-${j}`, "data-value": String(fp),
        }, fp === null ? "f' (softmax)" : `f'(z) ${fmt(fp)}`));
        // a ring by f′: the darker the red, the less of Ψ gets through this neuron
        if (fp !== null) {
          const shrink = Math.max(0, Math.min(1, 1 - Math.abs(fp)));
          // (style, not attributes: the stylesheet's .node rect stroke would win over those)
          const ring = g.querySelector("rect").style;
          ring.stroke = `rgb(${Math.round(85 + 150 * shrink)}, ${Math.round(96 - 40 * shrink)}, ${Math.round(110 - 60 * shrink)})`;
          ring.strokeWidth = (1.2 + 2.3 * shrink).toFixed(2);
        }
      }
      g.append(text);
      tip = `Ψ_${c - 1}[${j}] = ∂E/∂z_${c - 1}[${j}] = ${psi}` +
        (fp === null || fp === undefined ? "" : `\nf'_${c - 1}(z) = ${fp}: Ψ of the layer above, weighted, is multiplied by this`);
    } else {
      lines.push(`neuron ${j}`);
      tip = `neuron ${j} of layer ${c}`;
    }
    lines.forEach((t, k) => {
      const dy = lines.length === 1 ? 4 : k === 0 ? -3 : 10;
      g.append(el("text", { x, y: y + dy, "text-anchor": "middle" }, t));
    });
    g.append(el("title", {}, tip));
    return g;
  }

  // ------------------------------------------------------------------ stepping backward
  function stepsOf(state) {
    const sample = traced(state);
    return sample && Array.isArray(sample.steps) ? sample.steps : null;
  }

  function currentStep(state) {
    const steps = stepsOf(state);
    if (ui.view !== "backward" || !steps || ui.stepIndex < 0) return null;
    return steps[Math.min(ui.stepIndex, steps.length - 1)];
  }

  function updateStepper(state) {
    const steps = stepsOf(state);
    const key = steps ? `${state.session}:${state.sample.index}:${state.sizes.join(",")}` : null;
    if (key !== ui.stepKey) {
      ui.stepKey = key;
      ui.stepIndex = -1;
    }
    const show = ui.view === "backward" && steps !== null;
    $("stepper").hidden = !show;
    if (!show) return;
    if (ui.stepIndex >= steps.length) ui.stepIndex = steps.length - 1;
    $("step-up").disabled = ui.stepIndex < 0;
    $("step-down").disabled = ui.stepIndex >= steps.length - 1;
    $("step-reset").disabled = ui.stepIndex < 0;
    const step = currentStep(state);
    $("step-panel").hidden = !step;
    $("stepper").dataset.step = ui.stepIndex;
    if (!step) {
      $("step-count-label").textContent = `${steps.length} steps, from the output down to layer 0`;
      return;
    }
    $("step-count-label").textContent = `step ${ui.stepIndex + 1} of ${steps.length}: ` +
      (step.kind === "start" ? `Ψ_${step.layer} at the output` : `Ψ_${step.layer} from Ψ_${step.from_layer}`);
    $("step-equation").textContent = step.equation;
    // one line per neuron of the layer computed: Ψ_l[j] = its numbers plugged in
    const numbers = Array.isArray(step.numbers) ? step.numbers : String(step.numbers).split("; ");
    $("step-numbers").textContent = numbers.length === (step.psi || []).length
      ? numbers.map((line, j) => `Ψ_${step.layer}[${j}] = ${line}`).join("\n")
      : numbers.join("\n");
    $("step-code").textContent = step.code;
  }

  function moveStep(delta) {
    const steps = ui.state && stepsOf(ui.state);
    if (!steps) return;
    ui.stepIndex = delta === 0 ? -1 : Math.max(-1, Math.min(steps.length - 1, ui.stepIndex + delta));
    updateStepper(ui.state);
    drawNetwork(ui.state);
  }

  // ------------------------------------------------------------------ hidden neurons over the plane
  function drawNeurons(state) {
    const maps = state.neurons;
    const box = $("neuron-maps");
    $("neurons-figure").hidden = !maps || !maps.layers || maps.layers.length === 0;
    if ($("neurons-figure").hidden) {
      box.replaceChildren();
      return;
    }
    const n = maps.n;
    const columns = maps.layers.map((neurons, l) => {
      const column = document.createElement("div");
      column.className = "neuron-column";
      const title = document.createElement("div");
      title.className = "sub";
      title.textContent = `hidden ${l + 1} (${state.config.activations[l]})`;
      column.append(title);
      neurons.forEach((values, j) => {
        const canvas = document.createElement("canvas");
        canvas.width = n;
        canvas.height = n;
        canvas.className = "neuron-map";
        canvas.dataset.testid = `neuron-map-${l}-${j}`;
        canvas.setAttribute("data-testid", `neuron-map-${l}-${j}`);
        let biggest = 0, lo = Infinity, hi = -Infinity;
        for (const v of values) {
          if (v === null || !Number.isFinite(v)) continue;
          biggest = Math.max(biggest, Math.abs(v));
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        const image = new ImageData(n, n);
        const pos = hex("#0072B2"), neg = hex("#E69F00");
        values.forEach((v, i) => {
          const t = v === null || !Number.isFinite(v) || biggest === 0 ? 0 : v / biggest;
          const c = t >= 0 ? pos : neg;
          const a = Math.abs(t);
          image.data.set([255 + (c[0] - 255) * a, 255 + (c[1] - 255) * a, 255 + (c[2] - 255) * a, 255], 4 * i);
        });
        canvas.getContext("2d").putImageData(image, 0, 0);
        canvas.title = `hidden ${l + 1}, neuron ${j}: f(z) over the plane, from ${fmt(lo)} to ${fmt(hi)}`;
        canvas.setAttribute("aria-label", canvas.title);
        column.append(canvas);
      });
      return column;
    });
    box.replaceChildren(...columns);
  }

  // ------------------------------------------------------------------ setting one weight
  function openWeightEditor(target, event) {
    const layer = Number(target.dataset.layer), row = Number(target.dataset.row), col = Number(target.dataset.col);
    ui.edit = { layer, row, col };
    const value = ui.state.weights[layer][row][col];
    const bias = col === ui.state.sizes[layer] ? " (bias)" : "";
    $("weight-label").textContent = `W_${layer}[${row}, ${col}]${bias} =`;
    $("weight-value").value = String(value);
    const editor = $("weight-editor");
    editor.hidden = false;
    editor.dataset.layer = layer;
    editor.dataset.row = row;
    editor.dataset.col = col;
    const figure = editor.parentElement.getBoundingClientRect();
    const x = Math.min(event.clientX - figure.left + 8, figure.width - editor.offsetWidth - 4);
    editor.style.left = `${Math.max(0, x)}px`;
    editor.style.top = `${event.clientY - figure.top + 8}px`;
    $("weight-value").focus();
    $("weight-value").select();
  }

  async function setWeight() {
    if (!ui.edit) return;
    const text = $("weight-value").value.trim();
    const number = Number(text);
    // a text that is no finite number goes as it is: the server says what it wants
    const value = text !== "" && Number.isFinite(number) ? number : text;
    try {
      const state = await api("/api/weight", { session: ui.session, ...ui.edit, value });
      showMessage("");
      closeWeightEditor();
      render(state);
    } catch (error) {
      showMessage(`Weight refused: ${error.message}`);
    }
  }

  function closeWeightEditor() {
    ui.edit = null;
    $("weight-editor").hidden = true;
  }

  // ------------------------------------------------------------------ the learner's own data
  const maxCsvBytes = () => (ui.options && ui.options.custom && ui.options.custom.max_bytes) || MAX_CSV_BYTES;

  function readCsvFile(file) {
    if (!file) return;
    if (file.size > maxCsvBytes()) {
      showMessage(`CSV refused: ${file.name} has ${file.size} bytes; at most ${maxCsvBytes()}.`);
      $("csv-file").value = "";
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      $("csv").value = String(reader.result);
      showMessage("");
    };
    reader.onerror = () => showMessage(`Could not read ${file.name}.`);
    reader.readAsText(file);
  }

  async function useCsv() {
    const csv = $("csv").value;
    if (new Blob([csv]).size > maxCsvBytes()) {
      showMessage(`CSV refused: at most ${maxCsvBytes()} bytes, got ${new Blob([csv]).size}.`);
      return;
    }
    if (!csv.trim()) {
      showMessage("CSV refused: paste lines x1,x2,label first (or load a .csv file).");
      return;
    }
    pause();
    const config = { ...readConfig(), dataset: "custom", csv };
    delete config.output; // the server picks sigmoid or softmax from the data's classes
    try {
      const state = await api("/api/reset", { session: ui.session, config });
      ui.csv = csv;
      showMessage("");
      render(state);
    } catch (error) {
      showMessage(`Your data was refused: ${error.message}`);
    }
  }

  // ------------------------------------------------------------------ the run as a Python script
  async function exportPython() {
    try {
      const answer = await api("/api/export", { session: ui.session });
      showMessage("");
      $("export-code").textContent = answer.python;
      $("export-box").hidden = false;
      let copied = false;
      if (navigator.clipboard && window.isSecureContext) {
        try {
          await navigator.clipboard.writeText(answer.python);
          copied = true;
        } catch (_) {
          copied = false; // no permission: the box below still holds the script
        }
      }
      $("export-status").textContent = copied
        ? "Copied to the clipboard. Run it with python: it rebuilds this network with psinet."
        : "Select and copy the script below. Run it with python: it rebuilds this network with psinet.";
      $("export-box").dataset.copied = copied;
    } catch (error) {
      showMessage(`Export failed: ${error.message}`);
    }
  }

  // The selected sample's values, unless psinet refused to trace it (overflow).
  const traced = (state) => (state.sample && !state.sample.error ? state.sample : null);

  function describeSample(state) {
    const s = state.sample;
    const info = $("sample-info");
    if (!s) {
      info.textContent = "Click a point in the data plot to follow that sample through the network.";
      return;
    }
    if (s.error) {
      info.textContent = `Sample #${s.index}: psinet cannot trace it: ${s.error}.`;
      return;
    }
    info.dataset.index = s.index;
    const yHat = s.y_hat.map(fmt).join(", ");
    info.textContent = `Sample #${s.index} (${s.part} part): x = (${fmt(s.x[0])}, ${fmt(s.x[1])}), ` +
      `class ${s.label}; ŷ = (${yHat}); its loss E = ${fmt(s.E)}. Values from psinet.trace on this one sample` +
      (state.config.l2 > 0 ? " (without the L2 term)." : ".");
  }

  function describeView(state) {
    const help = $("view-help");
    if (ui.view === "forward") {
      help.textContent = "Forward: each neuron computes z = X̄ W_lᵀ (its inputs and the blue bias input 1, " +
        "weighted by the edges) and passes f(z) on to the right. Edges show the weights.";
    } else {
      help.textContent = "Backward: Ψ_{L-1} = ∂E/∂z at the output, then Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1}) " +
        "right to left (W_l without its bias column). Each edge shows ∂E/∂w = Ψ of the neuron it enters × the input it carries; " +
        "f'(z) under Ψ is the factor each neuron lets through (a red ring: little). Press ▶ Step backward to walk it.";
    }
  }

  // ------------------------------------------------------------------ one frame
  function render(state) {
    if (state.data) ui.data = state.data;
    const first = ui.state === null || state.session !== ui.session;
    ui.state = state;
    ui.session = state.session;
    if (first || state.data) showConfig(state.config);
    $("epoch-count").textContent = state.epoch;
    $("step-count").textContent = `${state.step} / ${state.steps_per_epoch}`;
    const four = (v) => (v === null || v === undefined ? "–" : v.toFixed(4));
    const loss = $("train-loss");
    loss.textContent = four(state.train.loss);
    loss.dataset.value = String(state.train.loss);
    $("val-loss").textContent = state.val ? four(state.val.loss) : "–";
    const acc = (v) => (v === null ? "–" : `${(100 * v).toFixed(1)}%`);
    $("accuracy").textContent = state.val
      ? `${acc(state.train.accuracy)} / ${acc(state.val.accuracy)}`
      : acc(state.train.accuracy);
    drawData(state);
    drawCharts(state);
    updateStepper(state);
    drawNetwork(state);
    drawNeurons(state);
    describeSample(state);
    describeView(state);
    $("trace").textContent = state.trace.text;
    $("trace-caption").textContent = `(${state.trace.batch.length} rows of the training set, epoch ${state.trace.epoch}: ` +
      "what Step computes next, before its update)";
    if (state.diverged) showMessage(state.diverged);
    updateButtons();
    window.psinet.frames += 1;
    document.body.dataset.frames = window.psinet.frames;
  }

  // ------------------------------------------------------------------ start
  async function start() {
    try {
      ui.options = await api("/api/options");
      fillSelect($("dataset"), ui.options.datasets);
      fillSelect($("optimizer"), ui.options.optimizers, {
        sgd: "SGD", momentum: "SGD + momentum 0.9", nesterov: "SGD + Nesterov 0.9",
        adam: "Adam", rmsprop: "RMSprop", adagrad: "Adagrad",
      });
      if (ui.options.features) featureBoxes(ui.options.features);
      $("features-fieldset").hidden = !ui.options.features;
      fillSelect($("activation"), [...ui.options.hidden_activations, "mixed"], { mixed: "(per layer)" });
      const b = ui.options.bounds;
      for (const key of ["n_samples", "noise", "n_classes", "validation", "learning_rate", "batch_size", "l2", "seed"]) {
        setBounds(key, b[key]);
      }
      const state = await api("/api/session", { config: ui.options.defaults });
      render(state);
    } catch (error) {
      showMessage(`Could not start: ${error.message}`);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("step").addEventListener("click", () => train({ steps: 1 }));
    $("epoch-button").addEventListener("click", () => train({ epochs: 1 }));
    $("play").addEventListener("click", play);
    $("pause").addEventListener("click", pause);
    $("reset").addEventListener("click", async () => {
      pause();
      try {
        showMessage("");
        render(await api("/api/reset", { session: ui.session }));
      } catch (error) {
        showMessage(error.message);
      }
    });
    $("controls").addEventListener("submit", (event) => event.preventDefault());
    $("controls").addEventListener("change", (event) => {
      if (event.target.closest("#own-data")) return; // "Train on my data" starts that run
      if (event.target.id === "dataset" && event.target.value === "custom" && !ui.csv) {
        showMessage("Paste or load your CSV under Your data, then press Train on my data.");
        return;
      }
      if (event.target.id === "activation") {
        if (event.target.value === "mixed") return;
        document.querySelectorAll(".layer-f").forEach((s) => { s.value = event.target.value; });
      }
      if (event.target.id === "dataset") {
        if (ui.state && ui.state.config.dataset === "custom") { // leaving your data
          $("n_samples").value = ui.options.defaults.n_samples;
        }
        const noise = ui.options.default_noise[event.target.value];
        if (noise !== undefined) $("noise").value = noise;
        if (event.target.value === "spirals") $("n_classes").value = 3;
      }
      settingsChanged();
    });
    $("add-layer").addEventListener("click", () => {
      const rows = $("layers").children.length;
      const f = $("activation").value === "mixed" ? "tanh" : $("activation").value;
      $("layers").append(layerRow(rows, 4, f));
      renumberLayers();
      settingsChanged();
    });
    $("data-plot").addEventListener("click", async (event) => {
      if (!ui.state) return;
      try {
        render(await api("/api/select", { session: ui.session, index: nearestSample(event) }));
      } catch (error) {
        showMessage(error.message);
      }
    });
    document.querySelectorAll('input[name="view"]').forEach((radio) => {
      radio.addEventListener("change", () => {
        ui.view = radio.value;
        if (ui.state) {
          updateStepper(ui.state);
          drawNetwork(ui.state);
          describeView(ui.state);
        }
      });
    });
    $("step-down").addEventListener("click", () => moveStep(1));
    $("step-up").addEventListener("click", () => moveStep(-1));
    $("step-reset").addEventListener("click", () => moveStep(0));
    $("network").addEventListener("click", (event) => {
      const target = event.target.closest(".edge-hit");
      if (target && ui.state) openWeightEditor(target, event);
    });
    $("weight-set").addEventListener("click", setWeight);
    $("weight-cancel").addEventListener("click", closeWeightEditor);
    $("weight-value").addEventListener("keydown", (event) => {
      if (event.key === "Enter") setWeight();
      if (event.key === "Escape") closeWeightEditor();
    });
    $("csv-file").addEventListener("change", (event) => readCsvFile(event.target.files[0]));
    $("use-csv").addEventListener("click", useCsv);
    $("export").addEventListener("click", exportPython);
    $("export-close").addEventListener("click", () => { $("export-box").hidden = true; });
    window.addEventListener("pagehide", () => {
      if (!ui.session) return;
      const blob = new Blob([JSON.stringify({ session: ui.session })], { type: "application/json" });
      navigator.sendBeacon(`/api/close?token=${encodeURIComponent(TOKEN)}`, blob);
    });
    start();
  });
})();
