(function () {
  'use strict';
  // Draws the report from the JSON payload (graphflow/report/_payload.py
  // documents its columns). Everything user-supplied is set with textContent
  // or setAttribute, never parsed as markup.
  var D = JSON.parse(document.getElementById('gf-data').textContent);
  var N = D.ids.length;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var WALL = Math.max(D.run.wall, 0.001);
  var LABELS_UP_TO = 4000; // graph nodes beyond which names show on hover only

  function $(id) { return document.getElementById(id); }
  function status(i) { return D.statuses[+D.st.charAt(i)]; }
  function info(i) { return D.info[i] || {}; }
  function text(k) { return k === undefined || k < 0 ? null : D.strs[k]; }
  function attempts(i) { var b = D.bars[i]; return b.length > 1 ? b.length / 2 : 0; }

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function html(tag, cls, content, parent) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (content !== undefined && content !== null) { e.textContent = content; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function tip(e, content) { svg('title', {}, e).textContent = content; }
  function short(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  function ms(v) {
    var a = Math.abs(v);
    if (a === 0) { return '0'; }
    if (a < 1) { return (v * 1000).toFixed(0) + ' µs'; }
    if (a < 1000) { return v.toFixed(a < 10 ? 2 : 1) + ' ms'; }
    if (a < 60000) { return (v / 1000).toFixed(2) + ' s'; }
    return Math.floor(v / 60000) + ' min ' + Math.round((v % 60000) / 1000) + ' s';
  }

  // -- groups, critical path, selection ---------------------------------------
  var parent = new Int32Array(N).fill(-1);
  var items = {};
  var collapsed = {};
  D.groups.forEach(function (g) {
    items[g[0]] = g[1];
    collapsed[g[0]] = N > 300;
    g[1].forEach(function (k) { parent[k] = g[0]; });
  });
  var crit = new Uint8Array(N);
  D.crit.forEach(function (k) { crit[k] = 1; });
  var selected = -1;
  var dependents = null;

  function neededBy(i) {
    if (!dependents) {
      dependents = [];
      for (var k = 0; k < N; k++) { dependents.push([]); }
      D.deps.forEach(function (row, k) { row.forEach(function (d) { dependents[d].push(k); }); });
    }
    return dependents[i];
  }
  function rep(k) { var p = parent[k]; return p >= 0 && collapsed[p] ? p : k; }

  function summary(i, a) {
    var b = D.bars[i], n = attempts(i), f = info(i), st = status(i);
    var lines = [D.ids[i] + ' — ' + st];
    if (n) {
      var k = a === undefined ? n - 1 : a;
      var outcome = k < n - 1 ? 'failed, retried' : st;
      lines.push('attempt ' + (k + 1) + ' of ' + n + ': ' + outcome + ', ' +
        ms(b[2 * k + 1] - b[2 * k]) + ', from +' + ms(b[2 * k]));
      var err = f.ae ? text(f.ae[k]) : (k === n - 1 ? text(f.e) : null);
      if (err) { lines.push(short(err, 300)); }
    } else if (b.length === 0) {
      lines.push('restored from an earlier run');
    }
    if (f.r !== undefined) { lines.push(short(text(f.r), 300)); }
    if (D.out[i] >= 0 && (a === undefined || a === n - 1)) { lines.push('output: ' + short(text(D.out[i]), 300)); }
    return lines.join('\n');
  }

  // -- the timeline ------------------------------------------------------------
  var ROW = 20, LABEL = 260, PAD = 24;
  var tl = { scroll: $('tl-scroll'), body: $('tl-body'), axis: $('tl-axis'), rows: [], zoom: 1, scale: 1, frame: 0 };
  var filter = $('tl-filter'), statusFilter = $('tl-status'), sort = $('tl-sort');

  function firstStart(i) { var b = D.bars[i]; return b.length ? b[0] : -1; }
  function matches(i, q, st) {
    return (!st || status(i) === st) && (!q || D.ids[i].toLowerCase().indexOf(q) >= 0);
  }
  function ordered(list) {
    if (sort.value !== 'start') { return list; }
    return list.slice().sort(function (a, b) { return firstStart(a) - firstStart(b) || a - b; });
  }
  function visibleRows() {
    var q = filter.value.trim().toLowerCase(), st = statusFilter.value, rows = [], all = [];
    for (var i = 0; i < N; i++) { all.push(i); }
    if (q || st) { return ordered(all.filter(function (k) { return matches(k, q, st); })); }
    ordered(all.filter(function (k) { return parent[k] < 0; })).forEach(function (k) {
      rows.push(k);
      if (items[k] && !collapsed[k]) { rows.push.apply(rows, ordered(items[k])); }
    });
    return rows;
  }

  function layoutTimeline() {
    tl.rows = visibleRows();
    var width = Math.max(tl.scroll.clientWidth, LABEL + 200);
    tl.scale = (width - LABEL - PAD) * tl.zoom / WALL;
    tl.width = LABEL + WALL * tl.scale + PAD;
    tl.body.style.height = (tl.rows.length * ROW + 4) + 'px';
    tl.body.style.width = tl.width + 'px';
    tl.axis.style.width = tl.width + 'px';
    drawTimeline();
  }
  function x(t) { return LABEL + t * tl.scale; }

  function drawTimeline() {
    tl.frame = 0;
    var top = tl.scroll.scrollTop, left = tl.scroll.scrollLeft;
    var first = Math.max(0, Math.floor(top / ROW) - 15);
    var last = Math.min(tl.rows.length, Math.ceil((top + tl.scroll.clientHeight) / ROW) + 15);
    var s = svg('svg', { width: tl.width, height: Math.max(1, (last - first) * ROW), 'class': 'tl' });
    s.style.top = (first * ROW) + 'px';
    for (var r = first; r < last; r++) { drawRow(s, tl.rows[r], (r - first) * ROW, r, left); }
    tl.body.replaceChildren(s);
    drawAxis(left);
  }

  function drawRow(s, i, y, r, left) {
    var cls = 'tl-row st-' + status(i) + (crit[i] ? ' crit' : '');
    var g = svg('g', { 'class': cls, 'data-id': D.ids[i], 'data-node': i }, s);
    var stripe = (r % 2 ? ' odd' : '') + (i === selected ? ' sel' : '');
    svg('rect', { 'class': 'row' + stripe, x: 0, y: y, width: tl.width, height: ROW }, g);
    if (items[i] && collapsed[i]) { drawSpan(g, items[i], y); }
    drawBars(g, i, y);
    svg('rect', { 'class': 'lbl-bg' + stripe, x: left, y: y, width: LABEL - 4, height: ROW }, g);
    drawLabel(g, i, y, left);
  }

  function drawBars(g, i, y) {
    var b = D.bars[i], n = attempts(i), st = status(i);
    if (b.length === 0) {
      svg('text', { 'class': 'note', x: LABEL + 4, y: y + 14 }, g).textContent = 'restored from an earlier run';
      return;
    }
    if (n === 0) {
      var m = svg('rect', { 'class': 'mark st-' + st, x: x(b[0]) - 3, y: y + 7, width: 6, height: 6, 'data-node': i }, g);
      tip(m, summary(i));
      var why = info(i).r;
      var late = x(b[0]) > LABEL + (tl.width - LABEL) / 2;  // write the note on the roomier side
      var note = svg('text', { 'class': 'note', x: x(b[0]) + (late ? -8 : 8), y: y + 14 }, g);
      if (late) { note.setAttribute('text-anchor', 'end'); }
      note.textContent = st + (why !== undefined ? ': ' + short(text(why), 80) : '');
      return;
    }
    for (var k = 0; k < n; k++) {
      if (k > 0) { svg('line', { 'class': 'gap', x1: x(b[2 * k - 1]), x2: x(b[2 * k]), y1: y + 10, y2: y + 10 }, g); }
      var kind = k < n - 1 ? 'st-retried' : 'st-' + st;
      var w = Math.max(2, (b[2 * k + 1] - b[2 * k]) * tl.scale);
      var bar = svg('rect', { 'class': 'bar ' + kind, x: x(b[2 * k]), y: y + 4, width: w, height: ROW - 8,
        'data-node': i, 'data-attempt': k + 1 }, g);
      tip(bar, summary(i, k));
    }
  }

  function drawSpan(g, list, y) {
    var lo = Infinity, hi = -Infinity;
    list.forEach(function (k) {
      var b = D.bars[k];
      if (b.length > 1) { lo = Math.min(lo, b[0]); hi = Math.max(hi, b[b.length - 1]); }
    });
    if (lo <= hi) { svg('rect', { 'class': 'span', x: x(lo), y: y + 2, width: Math.max(2, (hi - lo) * tl.scale), height: ROW - 4 }, g); }
  }

  function drawLabel(g, i, y, left) {
    var indent = parent[i] >= 0 && !filter.value && !statusFilter.value ? 18 : 0;
    if (crit[i]) { svg('text', { 'class': 'crit-mark', x: left + 4, y: y + 14 }, g).textContent = '◆'; }
    if (items[i]) {
      var c = svg('text', { 'class': 'caret', x: left + 16, y: y + 14, 'data-toggle': i }, g);
      c.textContent = collapsed[i] ? '▸' : '▾';
      indent += 12;
    }
    var name = D.ids[i] + (items[i] ? '  (' + items[i].length + ' items)' : '');
    var label = svg('text', { 'class': 'lbl', x: left + 18 + indent, y: y + 14, 'data-node': i }, g);
    label.textContent = short(name, 34 - Math.round(indent / 7));
    tip(label, summary(i));
  }

  function drawAxis(left) {
    var s = svg('svg', { width: tl.width, height: 22 });
    var step = niceStep(100 / tl.scale);
    for (var t = 0; t <= WALL + step / 2; t += step) {
      var px = x(t);
      svg('line', { 'class': 'tick', x1: px, x2: px, y1: 14, y2: 22 }, s);
      svg('text', { 'class': 'tick-label', x: px + 2, y: 12 }, s).textContent = ms(t);
    }
    svg('rect', { 'class': 'lbl-bg', x: left, y: 0, width: LABEL - 4, height: 22 }, s);
    svg('text', { 'class': 'tick-label', x: left + 6, y: 15 }, s).textContent = tl.rows.length + ' rows · wall ' + ms(D.run.wall);
    tl.axis.replaceChildren(s);
  }
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-6))));
    var f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  tl.scroll.addEventListener('scroll', function () {
    if (!tl.frame) { tl.frame = requestAnimationFrame(drawTimeline); }
  });

  // -- the graph ---------------------------------------------------------------
  var NW = 150, NH = 24, GX = 56, GY = 10;
  var gr = { scroll: $('g-scroll'), zoom: 1, w: 1, h: 1, svg: null, nodes: {} };

  function upstream(i) {
    var seen = {}, out = [];
    var sources = [i].concat(items[i] && collapsed[i] ? items[i] : []);
    sources.forEach(function (k) {
      D.deps[k].forEach(function (d) {
        var r = rep(d);
        if (r !== i && !seen[r]) { seen[r] = 1; out.push(r); }
      });
    });
    return out;
  }

  function columns(shown) {
    var used = {}, cols = [];
    shown.forEach(function (i) { used[D.layer[i]] = 1; });
    var layers = Object.keys(used).map(Number).sort(function (a, b) { return a - b; });
    var colOf = {};
    layers.forEach(function (l, c) { colOf[l] = c; cols.push([]); });
    shown.forEach(function (i) { cols[colOf[D.layer[i]]].push(i); });
    return cols;
  }

  function placeGraph(shown, ups) {
    var cols = columns(shown), pos = {}, tallest = 0;
    cols.forEach(function (col, c) {
      if (c > 0) {
        var key = {};
        col.forEach(function (i) {
          var sum = 0, n = 0;
          ups[i].forEach(function (d) { if (pos[d] !== undefined) { sum += pos[d]; n++; } });
          key[i] = n ? sum / n : Infinity;
        });
        col.sort(function (a, b) { return (key[a] - key[b]) || a - b; });
      }
      col.forEach(function (i, r) { pos[i] = r; });
      tallest = Math.max(tallest, col.length);
    });
    var at = {};
    cols.forEach(function (col, c) {
      var offset = (tallest - col.length) * (NH + GY) / 2;
      col.forEach(function (i, r) { at[i] = [10 + c * (NW + GX), 10 + offset + r * (NH + GY)]; });
    });
    return { at: at, w: 20 + cols.length * (NW + GX) - GX, h: 20 + tallest * (NH + GY) };
  }

  function edgePath(a, b) {
    var x1 = a[0] + NW, y1 = a[1] + NH / 2, x2 = b[0], y2 = b[1] + NH / 2, m = (x1 + x2) / 2;
    return 'M' + x1 + ' ' + y1 + 'C' + m + ' ' + y1 + ' ' + m + ' ' + y2 + ' ' + x2 + ' ' + y2;
  }

  function drawGraph() {
    var shown = [], ups = {};
    for (var i = 0; i < N; i++) { if (rep(i) === i) { shown.push(i); ups[i] = upstream(i); } }
    var p = placeGraph(shown, ups), at = p.at;
    var s = svg('svg', { viewBox: '0 0 ' + p.w + ' ' + p.h, 'class': 'graph' });
    var edges = [];
    shown.forEach(function (k) { ups[k].forEach(function (d) { edges.push(edgePath(at[d], at[k])); }); });
    svg('path', { 'class': 'edge', d: edges.join('') }, s);
    var critEdges = [];
    for (var c = 1; c < D.crit.length; c++) {
      var a = rep(D.crit[c - 1]), b = rep(D.crit[c]);
      if (a !== b) { critEdges.push(edgePath(at[a], at[b])); }
    }
    svg('path', { 'class': 'crit-edge', d: critEdges.join('') }, s);
    gr.nodes = {};
    shown.forEach(function (k) { drawNode(s, k, at[k], shown.length <= LABELS_UP_TO); });
    gr.svg = s; gr.w = p.w; gr.h = p.h;
    gr.scroll.replaceChildren(s);
    zoomGraph(gr.zoom);
  }

  function critInGroup(k) {
    return items[k] && collapsed[k] && items[k].some(function (j) { return crit[j]; });
  }

  function drawNode(s, k, xy, labelled) {
    var onPath = crit[k] || critInGroup(k);
    var g = svg('g', { 'class': 'node st-' + status(k) + (onPath ? ' crit' : '') + (k === selected ? ' sel' : ''),
      'data-node': k, 'data-id': D.ids[k], transform: 'translate(' + xy[0] + ',' + xy[1] + ')' }, s);
    svg('rect', { width: NW, height: NH, rx: 4 }, g);
    var folded = items[k] && collapsed[k];
    var name = D.ids[k] + (folded ? ' ×' + items[k].length : '');
    if (labelled) { svg('text', { x: 6, y: 16 }, g).textContent = short(name, 21); }
    tip(g, folded ? summary(k) + '\n' + groupCounts(k) : summary(k));
    gr.nodes[k] = g;
  }

  function groupCounts(k) {
    var counts = {};
    items[k].forEach(function (j) { counts[status(j)] = (counts[status(j)] || 0) + 1; });
    return 'items: ' + Object.keys(counts).map(function (st) { return counts[st] + ' ' + st; }).join(', ');
  }

  function zoomGraph(z) {
    gr.zoom = Math.min(4, Math.max(0.05, z));
    if (!gr.svg) { return; }
    gr.svg.setAttribute('width', Math.round(gr.w * gr.zoom));
    gr.svg.setAttribute('height', Math.round(gr.h * gr.zoom));
  }
  function fitGraph() {  // the whole graph in view: an overview, names on hover
    var view = gr.scroll.getBoundingClientRect();
    zoomGraph(Math.min(1, (view.width - 4) / gr.w, (window.innerHeight * 0.75 - 4) / gr.h));
  }

  // -- details -------------------------------------------------------------------
  var panel = $('details');

  function select(i) {
    var before = gr.nodes[selected];
    selected = i;
    if (parent[i] >= 0 && collapsed[parent[i]]) { collapsed[parent[i]] = false; redraw(); }
    else {
      drawTimeline();
      if (before) { before.classList.remove('sel'); }
      if (gr.nodes[i]) { gr.nodes[i].classList.add('sel'); }
    }
    var r = tl.rows.indexOf(i);
    if (r >= 0 && (r * ROW < tl.scroll.scrollTop || (r + 1) * ROW > tl.scroll.scrollTop + tl.scroll.clientHeight - 22)) {
      tl.scroll.scrollTop = Math.max(0, r * ROW - tl.scroll.clientHeight / 3);
    }
    showDetails(i);
  }

  function showDetails(i) {
    panel.replaceChildren();
    panel.hidden = false;
    html('button', 'close', '×', panel).addEventListener('click', function () { panel.hidden = true; });
    html('h3', null, D.ids[i], panel);
    html('span', 'badge st-' + status(i), status(i), panel);
    if (crit[i]) { html('p', 'crit-note', '◆ on the critical path', panel); }
    if (parent[i] >= 0) { links('For_each item of', [parent[i]]); }
    if (items[i]) {
      var toggle = html('button', null, (collapsed[i] ? 'Show ' : 'Hide ') + items[i].length + ' items', panel);
      toggle.addEventListener('click', function () { collapsed[i] = !collapsed[i]; redraw(); showDetails(i); });
    }
    attemptTable(i);
    var f = info(i);
    block('Reason', f.r);
    block('Output', D.out[i] >= 0 ? D.out[i] : undefined);
    block('Error', f.e);
    if (f.tb !== undefined) {
      var d = html('details', null, null, panel);
      html('summary', null, 'Traceback', d);
      html('pre', null, text(f.tb), d);
    }
    links('Waited for', D.deps[i]);
    links('Needed by', neededBy(i));
  }

  function block(title, k) {
    if (k === undefined) { return; }
    html('h4', null, title, panel);
    html('pre', null, text(k), panel);
  }

  function links(title, list) {
    if (!list.length) { return; }
    html('h4', null, title + ' (' + list.length + ')', panel);
    var p = html('div', 'links', null, panel);
    list.slice(0, 60).forEach(function (k) {
      html('button', 'st-' + status(k), short(D.ids[k], 40), p).addEventListener('click', function () { select(k); });
    });
    if (list.length > 60) { html('span', null, '… and ' + (list.length - 60) + ' more', p); }
  }

  function attemptTable(i) {
    var b = D.bars[i], n = attempts(i), f = info(i);
    if (!n) { return; }
    html('h4', null, 'Attempts (' + n + ')', panel);
    var t = html('table', null, null, panel);
    var head = html('tr', null, null, t);
    ['#', 'started', 'took', 'outcome'].forEach(function (h) { html('th', null, h, head); });
    for (var k = 0; k < n; k++) {
      if (k > 0) {
        var gap = html('tr', 'backoff', null, t);
        var cell = html('td', null, 'backoff ' + ms(b[2 * k] - b[2 * k - 1]), gap);
        cell.colSpan = 4;
      }
      var row = html('tr', null, null, t);
      html('td', null, String(k + 1), row);
      html('td', null, '+' + ms(b[2 * k]), row);
      html('td', null, ms(b[2 * k + 1] - b[2 * k]), row);
      var err = f.ae ? text(f.ae[k]) : null;
      html('td', null, k < n - 1 ? 'failed: ' + (err || '') : status(i), row);
    }
  }

  // -- wiring --------------------------------------------------------------------
  function redraw() { layoutTimeline(); drawGraph(); }

  function nodeOf(e) {
    var t = e.target.closest('[data-toggle],[data-node]');
    if (!t) { return; }
    if (t.hasAttribute('data-toggle')) {
      var g = +t.getAttribute('data-toggle');
      collapsed[g] = !collapsed[g];
      redraw();
      return;
    }
    select(+t.getAttribute('data-node'));
  }
  tl.body.addEventListener('click', nodeOf);
  gr.scroll.addEventListener('click', nodeOf);
  [filter, statusFilter, sort].forEach(function (e) { e.addEventListener('input', layoutTimeline); });
  function setAll(value) { Object.keys(collapsed).forEach(function (k) { collapsed[k] = value; }); redraw(); }
  $('tl-expand').addEventListener('click', function () { setAll(false); });
  $('tl-collapse').addEventListener('click', function () { setAll(true); });
  $('tl-in').addEventListener('click', function () { tl.zoom *= 2; layoutTimeline(); });
  $('tl-out').addEventListener('click', function () { tl.zoom = Math.max(1, tl.zoom / 2); layoutTimeline(); });
  $('g-in').addEventListener('click', function () { zoomGraph(gr.zoom * 1.5); });
  $('g-out').addEventListener('click', function () { zoomGraph(gr.zoom / 1.5); });
  $('g-fit').addEventListener('click', fitGraph);
  gr.scroll.addEventListener('wheel', function (e) {
    if (e.ctrlKey) { e.preventDefault(); zoomGraph(gr.zoom * (e.deltaY < 0 ? 1.2 : 1 / 1.2)); }
  }, { passive: false });
  var resizing = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(layoutTimeline, 100);
  });

  redraw();
  zoomGraph(Math.min(1, Math.max(0.75, (gr.scroll.clientWidth - 4) / gr.w)));  // names stay legible
  var wanted = /^#node=(.+)$/.exec(location.hash);
  if (wanted) {
    var k = D.ids.indexOf(decodeURIComponent(wanted[1]));
    if (k >= 0) { select(k); }
  }
  document.body.setAttribute('data-ready', '1');
})();
