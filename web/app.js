/* web/app.js — the page's script: drives nabla compiled to WebAssembly (nabla.js, made by
 * `make wasm` from the library and web/playground.c) and draws what it computes.
 *
 * Training runs on the page's one thread, a slice at a time: each animation frame trains for
 * a few milliseconds (pg_net_train), then redraws the loss curve, the decision boundary
 * (pg_net_grid: the output's probability over a grid) and the network. Everything numeric
 * comes from the C side; this file only moves numbers between wasm memory and the canvases.
 * window.nabla exposes the module and the sessions, for the browser test and the console. */
'use strict';

(function () {
  const EXTENT = 1.5;        /* the plane shown: [-1.5, 1.5]² */
  const GRID = 100;          /* cells per side of the decision boundary's grid */
  const UNIT_GRID = 48;      /* cells per side of a hovered unit's map */
  const FRAME_MS = 12;       /* training time per animation frame */
  const XOR_EPOCHS = 10000, XOR_LOG_EVERY = 2000, XOR_PER_FRAME = 100;
  const COLOR0 = [232, 135, 14], COLOR1 = [31, 111, 178], WHITE = [255, 255, 255];

  const $ = (id) => document.getElementById(id);
  let M = null;              /* the emscripten module */
  let gridPtr = 0, unitPtr = 0, probePtr = 0, hiddenPtr = 0;

  /* ---- the C side --------------------------------------------------------------------------- */

  function lastError() { return M.UTF8ToString(M._pg_error()); }

  /* A session (see web/playground.h); throws with nabla's message when refused. */
  function makeNet(c) {
    for (let i = 0; i < c.hidden.length; i++) M.HEAP32[(hiddenPtr >> 2) + i] = c.hidden[i];
    const net = M.ccall('pg_new', 'number',
      ['string', 'number', 'number', 'number', 'number', 'number', 'string', 'string', 'number',
       'number', 'number'],
      [c.data, c.points, c.noise, c.seed, hiddenPtr, c.hidden.length, c.act, c.optim, c.lr,
       c.batch, c.classic ? 1 : 0]);
    if (!net) throw new Error(lastError());
    return net;
  }

  function train(net, epochs) {
    const loss = M._pg_net_train(net, epochs);
    if (Number.isNaN(loss)) throw new Error(lastError());
    return loss;
  }

  function layers(net) {
    const out = [];
    for (let l = 0; l < M._pg_net_layers(net); l++) out.push(M._pg_net_units(net, l));
    return out;
  }

  /* W [in, units] and b [units] of layer l, copied out of wasm memory. */
  function weights(net, l, nIn, units) {
    const w = M._pg_net_weight(net, l) >> 2, b = M._pg_net_bias(net, l) >> 2;
    return { W: M.HEAPF32.slice(w, w + nIn * units), b: M.HEAPF32.slice(b, b + units) };
  }

  /* z and a of every unit at (x1, x2): [{z: [...], a: [...]}, ...] per layer. */
  function inspect(net, x1, x2) {
    const n = M._pg_net_inspect(net, x1, x2, probePtr);
    if (n < 0) throw new Error(lastError());
    const v = M.HEAPF32.subarray(probePtr >> 2, (probePtr >> 2) + n), out = [];
    let k = 0;
    for (const u of layers(net)) {
      out.push({ z: Array.from(v.subarray(k, k + u)), a: Array.from(v.subarray(k + u, k + 2 * u)) });
      k += 2 * u;
    }
    return out;
  }

  /* a of unit u of layer l over a res × res grid of [-EXTENT, EXTENT]², top row first. */
  function grid(net, l, u, res, ptr) {
    if (M._pg_net_grid(net, l, u, res, -EXTENT, EXTENT, ptr) !== 0) throw new Error(lastError());
    return M.HEAPF32.subarray(ptr >> 2, (ptr >> 2) + res * res);
  }

  /* ---- drawing ------------------------------------------------------------------------------ */

  const mix = (c1, c2, t) => c1.map((v, i) => Math.round(v + (c2[i] - v) * t));
  /* Probability of class 1 → orange (0) through white (½) to blue (1), lightened. */
  function probColor(p) {
    const c = p < 0.5 ? mix(COLOR0, WHITE, 2 * p) : mix(WHITE, COLOR1, 2 * p - 1);
    return mix(c, WHITE, 0.3);
  }
  const css = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

  /* A value scaled to [0, 1] for colouring, by activation: tanh and z spans are signed. */
  function unitColor(v, kind) {
    if (kind === 'tanh') return probColor((v + 1) / 2);
    if (kind === 'relu') return probColor(0.5 + 0.5 * Math.tanh(v));
    return probColor(v);
  }

  function drawField(canvas, values, res, colorOf) {
    const off = document.createElement('canvas');
    off.width = off.height = res;
    const octx = off.getContext('2d'), img = octx.createImageData(res, res);
    for (let i = 0; i < res * res; i++) {
      const c = colorOf(values[i]);
      img.data[4 * i] = c[0];
      img.data[4 * i + 1] = c[1];
      img.data[4 * i + 2] = c[2];
      img.data[4 * i + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    const ctx = canvas.getContext('2d');
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  }

  /* The loss curve: points [epoch, loss], y from 0 to the largest loss seen. */
  function drawLoss(canvas, points, title) {
    const ctx = canvas.getContext('2d'), W = canvas.width, H = canvas.height;
    const L = 36, R = 8, T = 18, B = 20;
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px ui-monospace, monospace';
    ctx.fillStyle = '#5d6772';
    ctx.fillText(title, L, 12);
    ctx.strokeStyle = '#d8dde3';
    ctx.strokeRect(L, T, W - L - R, H - T - B);
    if (points.length < 1) return;
    let ymax = 0;
    for (const p of points) if (p[1] > ymax) ymax = p[1];
    if (!(ymax > 0)) ymax = 1;
    const xmax = Math.max(points[points.length - 1][0], 1);
    const X = (e) => L + (W - L - R) * e / xmax, Y = (v) => T + (H - T - B) * (1 - v / ymax);
    ctx.fillText(ymax.toPrecision(3), 2, T + 8);
    ctx.fillText('0', 2, H - B);
    ctx.fillText(`epoch ${xmax}`, W - R - 80, H - 5);
    ctx.strokeStyle = '#1f6fb2';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
    ctx.stroke();
  }

  /* The network as circles and lines: inputs, hidden layers, output; built once per session
   * (so the units under the pointer stay the same elements), then updated each frame: edges
   * coloured by the sign of their weight (blue +, orange −) and as thick as its size, units
   * filled by their a at the probe point. onHover(l, u) gets the layer and unit under the
   * pointer (l = -1: an input), or (null) when it leaves. */
  function netView(svg, net, actName, onHover) {
    const sizes = [2].concat(layers(net)), cols = sizes.length;
    const W = +svg.getAttribute('width'), H = +svg.getAttribute('height');
    const gap = (H - 24) / Math.max(...sizes), r = Math.max(3, Math.min(9, gap * 0.38));
    const xs = (c) => 26 + (W - 52) * c / (cols - 1);
    const ys = (c, i) => 12 + (H - 24) / 2 + (i - (sizes[c] - 1) / 2) * gap;
    const NS = 'http://www.w3.org/2000/svg', lines = [], dots = [];
    svg.replaceChildren();
    for (let l = 0; l < cols - 1; l++) {
      lines.push([]);
      for (let i = 0; i < sizes[l]; i++)
        for (let j = 0; j < sizes[l + 1]; j++) {
          const line = document.createElementNS(NS, 'line');
          line.setAttribute('x1', xs(l)); line.setAttribute('y1', ys(l, i));
          line.setAttribute('x2', xs(l + 1)); line.setAttribute('y2', ys(l + 1, j));
          lines[l].push(line); /* index i * units + j, as W [in, units] */
          svg.appendChild(line);
        }
    }
    for (let c = 0; c < cols; c++) {
      dots.push([]);
      for (let i = 0; i < sizes[c]; i++) {
        const dot = document.createElementNS(NS, 'circle'), l = c - 1;
        dot.setAttribute('cx', xs(c)); dot.setAttribute('cy', ys(c, i)); dot.setAttribute('r', r);
        dot.setAttribute('class', 'unit');
        dot.setAttribute('fill', '#eee');
        dot.dataset.layer = l;
        dot.dataset.unit = i;
        dot.addEventListener('mouseenter', () => onHover(l, i));
        dot.addEventListener('mouseleave', () => onHover(null));
        dots[c].push(dot);
        svg.appendChild(dot);
      }
    }
    for (let c = 0; c < cols; c++) {
      const t = document.createElementNS(NS, 'text');
      t.setAttribute('x', xs(c) - 10); t.setAttribute('y', H - 2);
      t.textContent = c === 0 ? 'x' : c === cols - 1 ? 'out' : `h${c}`;
      svg.appendChild(t);
    }
    return {
      update(acts, hovered) {
        let wmax = 1e-6;
        const ws = [];
        for (let l = 0; l < cols - 1; l++) {
          ws.push(weights(net, l, sizes[l], sizes[l + 1]));
          for (const v of ws[l].W) wmax = Math.max(wmax, Math.abs(v));
        }
        lines.forEach((row, l) => row.forEach((line, k) => {
          const v = ws[l].W[k], m = Math.abs(v) / wmax;
          line.setAttribute('stroke', css(v >= 0 ? COLOR1 : COLOR0));
          line.setAttribute('stroke-opacity', (0.15 + 0.85 * m).toFixed(3));
          line.setAttribute('stroke-width', (0.4 + 2.6 * m).toFixed(2));
        }));
        dots.forEach((col, c) => col.forEach((dot, i) => {
          const l = c - 1;
          if (l >= 0 && acts)
            dot.setAttribute('fill', css(unitColor(acts[l].a[i], l === cols - 2 ? 'sigmoid' : actName)));
          dot.classList.toggle('hover', !!hovered && hovered[0] === l && hovered[1] === i);
        }));
      },
    };
  }

  const f3 = (v) => (v < 0 ? '' : ' ') + v.toFixed(3);
  const f4 = (v) => (v < 0 ? '−' : '') + Math.abs(v).toFixed(4);

  /* The formula of unit u of layer l at input vector `input` (the previous layer's a). */
  function unitFormula(net, l, u, input, z, a, fname) {
    const sizes = layers(net), nIn = l === 0 ? 2 : sizes[l - 1];
    const w = weights(net, l, nIn, sizes[l]);
    const inName = l === 0 ? 'x' : `a${l}`;
    const factor = (v) => (v < 0 ? `(${f4(v)})` : f4(v));
    let sum = '';
    for (let i = 0; i < nIn && i < 4; i++) {
      const wi = w.W[i * sizes[l] + u];
      sum += (i === 0 ? f4(wi) : (wi < 0 ? ' − ' : ' + ') + f4(Math.abs(wi))) + '·' + factor(input[i]);
    }
    if (nIn > 4) sum += ` + … (${nIn} terms in all)`;
    sum += (w.b[u] < 0 ? ' − ' : ' + ') + f4(Math.abs(w.b[u]));
    return `z = Σ w·${inName} + b = ${sum}\n` +
           `  = ${f4(z)}\na = ${fname}(z) = ${f4(a)}`;
  }

  /* ---- section 1: XOR ------------------------------------------------------------------------ */

  const XOR_IN = [[0, 0], [0, 1], [1, 0], [1, 1]];
  const xor = { net: 0, view: null, losses: [], log: [], running: false, hovered: null };

  function xorNew() {
    if (xor.net) M._pg_net_free(xor.net);
    xor.net = makeNet({ data: 'xor', points: 4, noise: 0, seed: 42, hidden: [4], act: 'sigmoid',
                        optim: 'gd', lr: 0.1, batch: 4, classic: true });
    xor.losses = [];
    xor.log = [];
    xor.view = netView($('xor-net'), xor.net, 'sigmoid', (l, u) => {
      xor.hovered = l === null ? null : [l, u];
      xor.view.update(null, xor.hovered);
      xorUnitInfo();
    });
  }

  function xorUnitInfo() {
    const el = $('xor-unit');
    if (!xor.hovered || xor.hovered[0] < 0) {
      el.textContent = xor.hovered ? `input x${xor.hovered[1] + 1}` : 'Hover over a unit.';
      return;
    }
    const [l, u] = xor.hovered;
    const name = l === 0 ? `hidden unit ${u + 1}` : 'the output unit';
    const rows = [`${name}: z = x W + b, a = σ(z)`, '  x        z         a'];
    for (const x of XOR_IN) {
      const v = inspect(xor.net, x[0], x[1])[l];
      rows.push(`  (${x[0]},${x[1]})  ${f3(v.z[u]).padStart(7)}  ${f3(v.a[u]).padStart(7)}`);
    }
    el.textContent = rows.join('\n');
  }

  function xorDraw() {
    drawLoss($('xor-loss'), xor.losses, 'E = ½ Σ (out − y)²');
    xor.view.update(null, xor.hovered);
    $('xor-log').textContent = xor.log.join('\n');
    xorUnitInfo();
  }

  function xorFrame() {
    try {
      for (let k = 0; k < XOR_PER_FRAME / 20; k++) {
        const loss = train(xor.net, 20), epoch = Number(M._pg_net_epochs(xor.net));
        xor.losses.push([epoch, loss]);
        if (epoch % XOR_LOG_EVERY === 0)  /* printf("epoch %5d  loss %.6f\n") */
          xor.log.push(`epoch ${String(epoch).padStart(5)}  loss ${loss.toFixed(6)}`);
      }
      if (Number(M._pg_net_epochs(xor.net)) >= XOR_EPOCHS) {
        xor.log.push('outputs for (0,0) (0,1) (1,0) (1,1):');
        xor.log.push(M.UTF8ToString(M._pg_net_print_outputs(xor.net)));
        xor.running = false;
      }
    } catch (e) {
      xor.log.push(`error: ${e.message}`);
      xor.running = false;
    }
    xorDraw();
    if (xor.running) requestAnimationFrame(xorFrame);
    else {
      $('xor-train').disabled = false;
      $('xor').dataset.state = 'done';
    }
  }

  function xorTrain() {
    xorNew();
    xor.running = true;
    $('xor-train').disabled = true;
    $('xor').dataset.state = 'training';
    requestAnimationFrame(xorFrame);
  }

  /* ---- section 2: the playground ------------------------------------------------------------- */

  const pg = { net: 0, view: null, cfg: null, losses: [], running: false, queued: false,
               probe: [0.5, 0.5], hovered: null, field: null };

  /* One frame callback at a time, however fast Train and Pause are pressed. */
  function pgSchedule() {
    if (!pg.queued) {
      pg.queued = true;
      requestAnimationFrame(pgFrame);
    }
  }

  function pgConfig() {
    const num = (id) => Number($(id).value);
    const hidden = $('pg-layers').value.split(/[ ,]+/).filter((s) => s.length).map(Number);
    if (hidden.length > 6 || hidden.some((h) => !Number.isInteger(h) || h < 1 || h > 32))
      throw new Error('hidden layers: up to 6 comma-separated sizes of 1 to 32 units, e.g. 16,16');
    return { data: $('pg-data').value, points: num('pg-points'), noise: num('pg-noise'),
             seed: num('pg-seed'), hidden, act: $('pg-act').value, optim: $('pg-optim').value,
             lr: num('pg-lr'), batch: Math.min(num('pg-batch'), num('pg-points')),
             classic: false };
  }

  function pgSetRunning(on) {
    pg.running = on;
    $('pg-train').textContent = on ? 'Pause' : 'Train';
    $('playground').dataset.state = on ? 'training' : (pg.net ? 'paused' : 'idle');
    if (on) pgSchedule();
  }

  function pgBuild() {
    pgSetRunning(false);
    if (pg.net) M._pg_net_free(pg.net);
    pg.net = 0;
    pg.view = null;
    pg.losses = [];
    $('pg-error').textContent = '';
    try {
      pg.cfg = pgConfig();
      pg.net = makeNet(pg.cfg);
      pg.hovered = null;
      pg.view = netView($('pg-net'), pg.net, pg.cfg.act, (l, u) => {
        pg.hovered = l === null ? null : [l, u];
        const acts = inspect(pg.net, pg.probe[0], pg.probe[1]);
        pg.view.update(acts, pg.hovered);
        pgUnitInfo(acts);
      });
    } catch (e) {
      $('pg-error').textContent = e.message;
    }
    $('pg-train').disabled = !pg.net;
    $('playground').dataset.state = pg.net ? 'ready' : 'error';
    pgDraw(true);
  }

  const toPlane = (px, size) => -EXTENT + 2 * EXTENT * px / size;
  const toPixel = (v, size) => (v + EXTENT) / (2 * EXTENT) * size;

  function pgDrawPlane() {
    const canvas = $('pg-plane'), ctx = canvas.getContext('2d'), S = canvas.width;
    if (pg.field) drawField(canvas, pg.field, GRID, probColor);
    else ctx.clearRect(0, 0, S, S);
    if (!pg.net) return;
    const n = M._pg_net_points(pg.net), xp = M._pg_net_x(pg.net) >> 2, yp = M._pg_net_y(pg.net) >> 2;
    for (let i = 0; i < n; i++) {
      const x = M.HEAPF32[xp + 2 * i], y = M.HEAPF32[xp + 2 * i + 1], c = M.HEAPF32[yp + i];
      ctx.beginPath();
      ctx.arc(toPixel(x, S), S - toPixel(y, S), 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = css(c > 0.5 ? COLOR1 : COLOR0);
      ctx.fill();
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    const px = toPixel(pg.probe[0], S), py = S - toPixel(pg.probe[1], S);
    ctx.strokeStyle = '#222';
    ctx.beginPath();
    ctx.moveTo(px - 7, py); ctx.lineTo(px + 7, py); ctx.moveTo(px, py - 7); ctx.lineTo(px, py + 7);
    ctx.stroke();
  }

  function pgProbeText(acts) {
    const sizes = layers(pg.net), rows = [`at x = (${f3(pg.probe[0])}, ${f3(pg.probe[1])})`];
    acts.forEach((v, l) => {
      const last = l === sizes.length - 1;
      const name = last ? 'output (a = σ(z), the probability of blue)' : `hidden ${l + 1} (a = ${pg.cfg.act}(z))`;
      rows.push(name);
      rows.push('  z ' + v.z.map(f3).join(' '));
      rows.push('  a ' + v.a.map(f3).join(' '));
    });
    return rows.join('\n');
  }

  function pgUnitInfo(acts) {
    const el = $('pg-unit'), map = $('pg-unit-map');
    if (!pg.net || !pg.hovered) {
      el.textContent = 'Hover over a unit.';
      map.getContext('2d').clearRect(0, 0, map.width, map.height);
      return;
    }
    const [l, u] = pg.hovered, sizes = layers(pg.net);
    if (l < 0) {
      el.textContent = `input x${u + 1} = ${f4(pg.probe[u])}`;
      drawField(map, Array.from({ length: UNIT_GRID * UNIT_GRID }, (_, i) => {
        const c = i % UNIT_GRID, r = Math.floor(i / UNIT_GRID);
        const v = u === 0 ? toPlane(c + 0.5, UNIT_GRID) : -toPlane(r + 0.5, UNIT_GRID);
        return v / EXTENT;
      }), UNIT_GRID, (v) => unitColor(v, 'tanh'));
      return;
    }
    const last = l === sizes.length - 1, fname = last ? 'σ' : pg.cfg.act;
    const input = l === 0 ? pg.probe : acts[l - 1].a;
    el.textContent = `${last ? 'output unit' : `hidden layer ${l + 1}, unit ${u + 1}`}\n` +
                     unitFormula(pg.net, l, u, input, acts[l].z[u], acts[l].a[u], fname);
    const kind = last ? 'sigmoid' : pg.cfg.act;
    drawField(map, grid(pg.net, l, u, UNIT_GRID, unitPtr), UNIT_GRID, (v) => unitColor(v, kind));
  }

  function pgDraw(full) {
    if (pg.net && full) pg.field = grid(pg.net, pg.cfg.hidden.length, 0, GRID, gridPtr).slice();
    if (!pg.net) pg.field = null;
    pgDrawPlane();
    drawLoss($('pg-loss'), pg.losses, pg.cfg && pg.cfg.classic ? 'E' : 'loss: binary cross-entropy');
    if (!pg.net) {
      $('pg-probe').textContent = '';
      $('pg-net').replaceChildren();
      pgUnitInfo(null);
      return;
    }
    const acts = inspect(pg.net, pg.probe[0], pg.probe[1]);
    pg.view.update(acts, pg.hovered);
    $('pg-probe').textContent = pgProbeText(acts);
    pgUnitInfo(acts);
    const last = pg.losses.length ? pg.losses[pg.losses.length - 1] : null;
    $('pg-epoch').textContent = String(Number(M._pg_net_epochs(pg.net)));
    $('pg-loss-value').textContent = last ? last[1].toFixed(4) : '–';
    const acc = M._pg_net_accuracy(pg.net);
    $('pg-accuracy').textContent = Number.isNaN(acc) ? '–' : `${(100 * acc).toFixed(1)}%`;
  }

  function pgFrame() {
    pg.queued = false;
    if (!pg.running || !pg.net) return;
    const t0 = performance.now();
    try {
      do {
        const loss = train(pg.net, 1);
        pg.losses.push([Number(M._pg_net_epochs(pg.net)), loss]);
      } while (performance.now() - t0 < FRAME_MS);
      if (pg.losses.length > 4000)  /* keep the curve light: every other point of the old half */
        pg.losses = pg.losses.filter((p, i) => i % 2 === 0 || i > 2000);
    } catch (e) {
      $('pg-error').textContent = e.message;
      pgSetRunning(false);
    }
    pgDraw(true);
    if (pg.running) pgSchedule();
  }

  /* ---- start --------------------------------------------------------------------------------- */

  function onPlaneHover(ev) {
    if (!pg.net) return;
    const rect = ev.target.getBoundingClientRect(), S = $('pg-plane').width;
    const px = (ev.clientX - rect.left) * S / rect.width, py = (ev.clientY - rect.top) * S / rect.height;
    pg.probe = [toPlane(px, S), -toPlane(py, S)];
    pgDraw(false);
  }

  createNabla().then((mod) => {
    M = mod;
    gridPtr = M._malloc(4 * GRID * GRID);
    unitPtr = M._malloc(4 * UNIT_GRID * UNIT_GRID);
    probePtr = M._malloc(4 * 2 * (6 * 32 + 1));
    hiddenPtr = M._malloc(4 * 6);
    xorNew();
    xorDraw();
    pgBuild();
    $('xor-train').disabled = false;
    $('xor-train').addEventListener('click', xorTrain);
    $('pg-train').addEventListener('click', () => pgSetRunning(!pg.running));
    $('pg-reset').disabled = false;
    $('pg-reset').addEventListener('click', pgBuild);
    for (const el of $('pg-form').querySelectorAll('input, select'))
      el.addEventListener('change', pgBuild);
    $('pg-form').addEventListener('submit', (ev) => ev.preventDefault());
    $('pg-plane').addEventListener('mousemove', onPlaneHover);
    const threads = M._nb_get_threads(), isa = M.UTF8ToString(M._nb_kernel_isa());
    $('status').textContent = `nabla.wasm loaded: training runs in this page on ${threads} ` +
      `thread${threads === 1 ? '' : 's'}, kernels "${isa}" (the portable C path).`;
    document.body.dataset.ready = '1';
    window.nabla = { module: M, xor, pg, makeNet, train, inspect };
  }).catch((e) => {
    $('status').textContent = `nabla.wasm did not load: ${e.message || e}`;
    document.body.dataset.ready = 'error';
  });
})();
