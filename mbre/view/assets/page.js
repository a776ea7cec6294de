"use strict";
// Builds the run page from the embedded JSON. Text from the data only ever goes into text nodes
// (textContent, createTextNode), never into innerHTML, so a sentence cannot inject markup.
(function () {
  const data = JSON.parse(document.getElementById("mbre-data").textContent);
  const samples = data.samples;
  const schema = data.schema;  // null for a run that kept no schema
  const definitions = Object.fromEntries(schema ? schema.labels : []);
  const ABSTAINED = "(abstained)";
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children || []) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const labelOf = (s) => (s.relation === null ? ABSTAINED : s.relation);
  const fmt = (x) => (x === null || x === undefined ? "-" : Number(x).toFixed(3));
  // Scores print with three decimals wherever they appear, raw JSON included.
  const rounded = (key, value) =>
    typeof value === "number" && !Number.isInteger(value) ? Number(value.toFixed(3)) : value;
  const hasGold = (s) => s.gold !== null && s.gold !== undefined;
  // right, wrong, or none (the input carried no gold label for the sentence)
  const verdictOf = (s) => (!hasGold(s) ? "none" : labelOf(s) === s.gold ? "right" : "wrong");

  // Offsets are Python's, in code points; JavaScript strings count UTF-16 units, so slice code points.
  function sentence(s) {
    const chars = Array.from(s.text);
    const spans = [["head", s.head], ["tail", s.tail]].sort((a, b) => a[1].start - b[1].start);
    const out = el("span", { class: "text" });
    let at = 0;
    for (const [role, span] of spans) {
      out.append(chars.slice(at, span.start).join(""));
      out.append(el("mark", { class: role, title: role }, [chars.slice(span.start, span.end).join("")]));
      at = span.end;
    }
    out.append(chars.slice(at).join(""));
    return out;
  }

  // The direction, whatever the order in the sentence: head -> tail.
  function pair(s) {
    return el("span", { class: "pair", title: "the relation reads from the head to the tail" }, [
      el("mark", { class: "head" }, [s.head.name]),
      el("span", { class: "arrow" }, [" \u2192 "]),
      el("mark", { class: "tail" }, [s.tail.name]),
    ]);
  }

  function verdict(s) {
    const v = verdictOf(s);
    if (v === "none") return null;
    const right = v === "right";
    return el("span", { class: "verdict " + v, title: "gold: " + s.gold }, [
      right ? "\u2713" : "\u2717 gold " + s.gold,
    ]);
  }

  function table(headers, rows) {
    return el("table", {}, [
      el("tr", {}, headers.map((h) => el("th", {}, [h]))),
      ...rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, [cell])))),
    ]);
  }

  const KNOWN = ["label", "confidence", "rule", "candidates", "extractions", "verdicts", "usage"];

  function detail(s) {
    const d = s.decision;
    const parts = [];
    parts.push(el("p", {}, [
      "gold: " + (s.gold === null || s.gold === undefined ? "-" : s.gold) +
      "   candidates: " + ((d.candidates || []).join(", ") || "-"),
    ]));
    if ((d.extractions || []).length) {
      parts.push(el("h4", {}, ["group answers"]));
      parts.push(table(["group", "answer", "confidence", "labels offered", "raw"], d.extractions.map((e) => [
        String(e.group),
        e.abstained ? "(no answer: " + (e.error || "unparsed") + ")" : (e.label === null ? "none" : e.label),
        fmt(e.confidence),
        (e.labels || []).join(", "),
        el("span", { class: "raw" }, [e.raw || ""]),
      ])));
    }
    if ((d.verdicts || []).length) {
      parts.push(el("h4", {}, ["verdicts"]));
      parts.push(table(["label", "holds", "confidence", "evidence", "raw"], d.verdicts.map((v) => [
        v.label,
        v.abstained ? el("span", {}, ["(no answer)"]) : el("span", { class: v.holds ? "yes" : "no" }, [v.holds ? "yes" : "no"]),
        fmt(v.confidence),
        v.evidence || "",
        el("span", { class: "raw" }, [v.raw || ""]),
      ])));
    }
    // Fields a newer mbre may add to decisions (per-label scores, ...) are shown as they are.
    const extra = Object.keys(d).filter((key) => !KNOWN.includes(key));
    if (extra.length) {
      parts.push(el("h4", {}, ["other decision fields"]));
      parts.push(table(["field", "value"], extra.map((key) => [key, el("span", { class: "raw" }, [JSON.stringify(d[key], rounded)])])));
    }
    const u = d.usage || {};
    parts.push(el("p", { class: "raw" }, [
      "LLM calls " + (u.calls || 0) + ", tokens " + (u.prompt_tokens || 0) + "+" + (u.completion_tokens || 0) +
      "   model " + s.provenance.model + ", strategy " + s.provenance.strategy,
    ]));
    return el("div", { class: "detail" }, parts);
  }

  function card(s) {
    const label = labelOf(s);
    const badge = { class: "badge label" + (s.relation === null ? " abstained" : "") };
    if (definitions[label]) badge.title = definitions[label];
    const mark = verdict(s);
    const node = el("details", { class: "sample", "data-id": s.id }, [
      el("summary", {}, [
        el("span", { class: "id" }, [s.id]),
        sentence(s),
        pair(s),
        el("span", badge, [label]),
        ...(mark ? [mark] : []),
        el("span", { class: "conf", title: "confidence" }, [fmt(s.confidence)]),
        el("span", { class: "badge rule" }, [s.decision.rule]),
      ]),
    ]);
    node.addEventListener("toggle", () => {
      if (node.open && !node.querySelector(".detail")) node.append(detail(s));  // built on demand
    });
    return node;
  }

  function barChart(counts) {
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const width = 420, row = 18, left = 150;
    const max = Math.max(1, ...entries.map((e) => e[1]));
    const root = svg("svg", { width, height: Math.max(row, entries.length * row), role: "img" });
    entries.forEach(([label, count], i) => {
      const w = ((width - left - 40) * count) / max;
      root.append(svg("text", { x: left - 6, y: i * row + 13, "text-anchor": "end" }, label));
      root.append(svg("rect", { class: "bar" + (label === ABSTAINED ? " none" : ""), x: left, y: i * row + 3, width: w, height: row - 6 }));
      root.append(svg("text", { x: left + w + 4, y: i * row + 13 }, String(count)));
    });
    return root;
  }

  function histogram(values) {
    const bins = new Array(10).fill(0);
    for (const v of values) bins[Math.min(9, Math.floor(v * 10))] += 1;
    const width = 320, height = 140, bottom = 20, barW = width / 10;
    const max = Math.max(1, ...bins);
    const root = svg("svg", { width, height: height + bottom, role: "img" });
    bins.forEach((count, i) => {
      const h = (height - 14) * count / max;
      root.append(svg("rect", { class: "bar", x: i * barW + 1, y: height - h, width: barW - 2, height: h }));
      if (count) root.append(svg("text", { x: i * barW + barW / 2, y: height - h - 3, "text-anchor": "middle" }, String(count)));
      root.append(svg("text", { x: i * barW, y: height + 14 }, (i / 10).toFixed(1)));
    });
    return root;
  }

  // Header, filter options, the sample list.
  document.getElementById("title").textContent = data.title;
  document.getElementById("run").textContent = Object.entries(data.run).map(([k, v]) => k + ": " + v).join("   ");
  // The schema's labels in its order (every one, found or not), then any other label the run holds.
  const found = [...new Set(samples.map(labelOf))].sort();
  const labels = schema ? [...schema.labels.map((l) => l[0]), ...found.filter((l) => !(l in definitions))] : found;
  const rules = [...new Set(samples.map((s) => s.decision.rule))].sort();
  for (const label of labels) {
    const option = el("option", { value: label }, [label]);
    if (definitions[label]) option.title = definitions[label];
    document.getElementById("f-label").append(option);
  }
  if (samples.some(hasGold)) {
    document.getElementById("gold-control").hidden = false;
    document.getElementById("legend-gold").hidden = false;
  }
  for (const rule of rules) document.getElementById("f-rule").append(el("option", { value: rule }, [rule]));
  const list = document.getElementById("samples");
  const cards = samples.map((s) => {
    const node = card(s);
    list.append(node);
    return node;
  });

  function update() {
    const label = document.getElementById("f-label").value;
    const rule = document.getElementById("f-rule").value;
    const min = parseFloat(document.getElementById("f-min").value || "0");
    const max = parseFloat(document.getElementById("f-max").value || "1");
    const noConf = document.getElementById("f-noconf").checked;
    const words = document.getElementById("f-text").value.trim().toLowerCase();
    const gold = document.getElementById("f-gold").value;
    const shown = [];
    samples.forEach((s, i) => {
      const c = s.confidence;
      const visible =
        (!label || labelOf(s) === label) &&
        (!rule || s.decision.rule === rule) &&
        (c === null ? noConf : c >= min && c <= max) &&
        (!words || s.text.toLowerCase().includes(words)) &&
        (!gold || verdictOf(s) === gold);
      cards[i].hidden = !visible;
      if (visible) shown.push(s);
    });
    document.getElementById("shown").textContent = "showing " + shown.length + " of " + samples.length + " samples";
    const counts = {};
    for (const s of shown) counts[labelOf(s)] = (counts[labelOf(s)] || 0) + 1;
    document.getElementById("chart-labels").replaceChildren(barChart(counts));
    const scored = shown.filter((s) => s.confidence !== null).map((s) => s.confidence);
    document.getElementById("chart-confidence").replaceChildren(histogram(scored));
  }

  // Samples without a confidence go last in both confidence orders; ties keep run order.
  const ORDERS = {
    run: () => 0,
    "confidence-down": (a, b) => (b.confidence ?? -1) - (a.confidence ?? -1),
    "confidence-up": (a, b) => (a.confidence ?? 2) - (b.confidence ?? 2),
    id: (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    label: (a, b) => labels.indexOf(labelOf(a)) - labels.indexOf(labelOf(b)),
  };

  function sort() {
    const order = ORDERS[document.getElementById("f-sort").value];
    const indices = samples.map((_, i) => i).sort((i, j) => order(samples[i], samples[j]) || i - j);
    list.replaceChildren(...indices.map((i) => cards[i]));
  }

  for (const id of ["f-label", "f-rule", "f-min", "f-max", "f-noconf", "f-text", "f-gold"]) {
    document.getElementById(id).addEventListener("input", update);
  }
  document.getElementById("f-sort").addEventListener("input", sort);
  update();
})();
