// The table (DataTables, paged) and the details of the row clicked in it: its text filled in and
// its Plotly figures drawn from its compact data only then. `DataTable` is imported by the page
// before this runs.
const table = JSON.parse(document.getElementById("board-table").textContent);
const details = JSON.parse(document.getElementById("board-details").textContent);
const facets = table.facets;
const shared = details.figures;
const plotConfig = { responsive: true, displaylogo: false };
let opened = null;

const board = new DataTable("#board", {
  data: table.rows,
  columns: table.columns.map((c, i) => ({
    title: c.title,
    visible: i !== 0,
    type: c.numeric ? "num" : "string",
    render: c.numeric ? DataTable.render.number(null, ".", 1) : null,
    defaultContent: "-",
    className: c.wrap ? "wrap" : "",
    searchPanes: { show: facets.includes(i) },
  })),
  layout: {
    top1: facets.length ? "searchPanes" : null,
    topStart: "search",
    topEnd: "pageLength",
    bottomStart: "info",
    bottomEnd: "paging",
  },
  searchPanes: {
    columns: facets, threshold: 1, cascadePanes: true, layout: "columns-" + facets.length,
    dtOpts: { scrollY: "7.5em", scrollCollapse: true },
  },
  paging: true,
  pageLength: table.page_length,
  lengthMenu: [...table.page_lengths, { label: "All", value: -1 }],
  deferRender: true,
  rowCallback: (tr, data) => { tr.classList.toggle("shown", data[0] === opened); },
  order: [],
});

function plot(div, figure) {
  if (!figure) { Plotly.purge(div); div.hidden = true; return; }
  div.hidden = false;
  Plotly.react(div, figure.data, { ...shared.layout, ...figure.layout }, plotConfig);
}

const axis = (text, more) => ({ title: { text }, ...more });
const colours = shared.seed_colours;
const colour = (row, seed) => colours[row.seeds.indexOf(seed) % colours.length];

function rocFigure(row) {
  const x = shared.fpr, roc = row.roc;
  const band = { x, line: { width: 0 }, hoverinfo: "skip" };
  return {
    data: [
      { ...band, y: roc.high, showlegend: false },
      { ...band, y: roc.low, fill: "tonexty", fillcolor: "rgba(31,119,180,0.2)", name: "95% band" },
      ...roc.seeds.map((y, i) => ({
        x, y, mode: "lines", name: `seed ${row.seeds[i]}`, opacity: 0.6,
        line: { width: 1, color: colour(row, row.seeds[i]) },
      })),
      { x, y: roc.mean, mode: "lines", name: `mean, AUROC ${row.auroc.toFixed(1)}`,
        line: { width: 3, color: "#1f77b4" } },
      { x: [0, 1], y: [0, 1], mode: "lines", name: "chance", line: { dash: "dot", color: "grey" } },
    ],
    layout: {
      title: { text: "ROC curve" }, xaxis: axis("false positive rate"),
      yaxis: axis("true positive rate"), legend: { x: 0.55, y: 0.05 },
    },
  };
}

const DASHES = ["solid", "dash", "dot", "dashdot", "longdash"];  // a row's seeds, in seed order
const CLASS_COLOURS = { normal: "#1f77b4", abnormal: "#d62728" };

function scoreFigure(row) {
  const [low, high, points] = row.scores.grid;
  const x = Array.from({ length: points }, (_, i) => low + (high - low) * i / (points - 1));
  const drawn = row.scores.seeds, one = drawn.length === 1;
  const data = [], shapes = [], annotations = [];
  drawn.forEach((seed, i) => {
    const dash = DASHES[i % DASHES.length];
    for (const name of ["normal", "abnormal"]) {
      if (!seed[name]) continue;
      data.push({
        x, y: seed[name], mode: "lines", ...(one ? { fill: "tozeroy" } : {}),
        name: one ? name : `${name}, seed ${row.seeds[i]}`,
        line: { color: CLASS_COLOURS[name], dash, width: 1.5 },
      });
    }
    if (seed.threshold === null) return;
    shapes.push({
      type: "line", x0: seed.threshold, x1: seed.threshold, xref: "x", y0: 0, y1: 1,
      yref: "y domain", line: { dash, color: "black", width: 1 },
    });
    if (!annotations.length) {
      annotations.push({
        text: `threshold${one ? "" : "s"} (${shared.val_percentile}th pct. of validation normals)`,
        x: seed.threshold, xref: "x", xanchor: "left", y: 1, yref: "y domain", yanchor: "top",
        showarrow: false,
      });
    }
  });
  const seeds = row.seeds.join(", ");
  const title = row.deterministic
    ? `Test scores, seeds ${seeds} (deterministic: identical)`
    : `Test scores, seed${row.seeds.length > 1 ? "s" : ""} ${seeds}`;
  return {
    data,
    layout: {
      title: { text: title }, xaxis: axis("anomaly score"), yaxis: axis("density"), shapes,
      annotations,
    },
  };
}

function curveFigure(row) {
  if (!row.curves) return null;
  const columns = row.curves.length, spacing = 0.2 / columns;
  const width = (1 - spacing * (columns - 1)) / columns;
  const data = [], layout = { title: { text: "Training curves" }, annotations: [] };
  row.curves.forEach((curve, i) => {
    const n = i ? String(i + 1) : "", start = i * (width + spacing);
    layout["xaxis" + n] = axis(curve.unit, { anchor: "y" + n, domain: [start, start + width] });
    layout["yaxis" + n] = { anchor: "x" + n, domain: [0, 1] };
    layout.annotations.push({
      text: curve.name.replaceAll("_", " "), x: start + width / 2, xref: "paper", xanchor: "center",
      y: 1, yref: "paper", yanchor: "bottom", showarrow: false, font: { size: 16 },
    });
    for (const line of curve.seeds) {
      data.push({
        x: line.step, y: line.value, mode: "lines", name: `seed ${line.seed}`,
        legendgroup: String(line.seed), showlegend: i === 0, xaxis: "x" + n, yaxis: "y" + n,
        line: { color: colour(row, line.seed) },
      });
    }
  });
  return { data, layout };
}

const shown = document.querySelector("#details .details");
const slot = (name) => shown.querySelector(`[data-slot=${name}]`);

function element(tag, text, className) {
  const made = document.createElement(tag);
  made.textContent = text;
  if (className) made.className = className;
  return made;
}

function tableRow(cells, className, cellClass = () => "") {
  const tr = element("tr", "", className);
  tr.append(...cells.map((cell, i) => element("td", cell, cellClass(i))));
  return tr;
}

function fill(row) {
  slot("label").textContent = row.label;
  slot("where").textContent = row.where;
  slot("seeds").textContent = row.seeds.join(", ");
  slot("records").textContent = row.records.join(", ");
  shown.querySelector(".deterministic").hidden = !row.deterministic;
  shown.querySelector("pre.command").textContent = row.command;
  const sheet = shown.querySelector("figure.map-sheet");
  sheet.hidden = !row.map_sheet;
  const image = sheet.querySelector("img");
  if (row.map_sheet) image.src = `data:image/png;base64,${row.map_sheet}`;
  else image.removeAttribute("src");
  const warnings = shown.querySelector("ul.warnings");
  warnings.replaceChildren(
    ...row.warnings.map((w) => element("li", `${details.warning_mark} ${w}`, "warning")));
  warnings.hidden = !row.warnings.length;
  const number = (i) => (details.per_seed_numbers[i] ? "number" : "");
  shown.querySelector("table.per-seed tbody").replaceChildren(
    ...row.per_seed.map((cells) => tableRow(cells, "", number)));
  shown.querySelector("table.settings").replaceChildren(
    ...row.settings.map(([name, value, changed]) => tableRow(
      [name, value, changed ? "changed from the profile" : ""], changed ? "changed" : "")));
}

function draw(key) {
  const row = details.rows[Number(key)];
  opened = key;
  document.getElementById("details-hint").hidden = true;
  fill(row);
  shown.hidden = false;
  const figures = { roc: rocFigure(row), scores: scoreFigure(row), curves: curveFigure(row) };
  shown.querySelectorAll(".figure").forEach((div) => plot(div, figures[div.dataset.figure]));
  document.querySelectorAll("#board tbody tr").forEach((tr) => {
    tr.classList.toggle("shown", board.row(tr).data()?.[0] === key);
  });
  shown.scrollIntoView({ behavior: "instant", block: "start" });
}

document.querySelector("#board tbody").addEventListener("click", (event) => {
  const tr = event.target.closest("tr");
  const data = tr && board.row(tr).data();
  if (data) draw(data[0]);
});

// The cost view, a figure per set of test images, each drawn when it first nears the screen: a
// board of many rows draws hundreds of markers and legend entries there.
const costFigures = new Map();
const drawWhenNear = new IntersectionObserver((entries) => {
  for (const entry of entries.filter((e) => e.isIntersecting)) {
    drawWhenNear.unobserve(entry.target);
    plot(entry.target, costFigures.get(entry.target));
  }
}, { rootMargin: "200px" });
for (const [name, figure] of Object.entries(details.cost)) {
  const div = document.createElement("div");
  div.className = "figure wide";
  div.style.minHeight = figure.layout.height + "px";
  document.getElementById("cost-figures").appendChild(div);
  const title = { text: `${name}: ${figure.layout.title.text}` };
  costFigures.set(div, { ...figure, layout: { ...figure.layout, title } });
  drawWhenNear.observe(div);
}
if (!costFigures.size) document.getElementById("cost").hidden = true;

window.uadbenchBoard = { table: board, draw, ready: true };
