// Glue between the table (DataTables) and the details (Plotly): no logic of its own.
// `DataTable` is imported by the page before this runs.
const table = JSON.parse(document.getElementById("board-table").textContent);
const figures = JSON.parse(document.getElementById("board-figures").textContent);
const facets = table.facets;

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
  layout: { top1: facets.length ? "searchPanes" : null, topStart: "search", topEnd: null },
  searchPanes: {
    columns: facets, threshold: 1, cascadePanes: true, layout: "columns-" + facets.length,
    dtOpts: { scrollY: "7.5em", scrollCollapse: true },
  },
  paging: false,
  order: [],
});

function draw(key) {
  document.getElementById("details-hint").hidden = true;
  document.querySelectorAll(".details").forEach((d) => { d.hidden = d.dataset.key !== key; });
  const shown = document.getElementById("details-" + key);
  shown.querySelectorAll(".figure").forEach((div) => {
    const figure = figures.rows[key][div.dataset.figure];
    if (!figure) { div.hidden = true; return; }
    if (!div.dataset.drawn) {
      Plotly.newPlot(div, figure.data, figure.layout, { responsive: true, displaylogo: false });
      div.dataset.drawn = "1";
    }
  });
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

const cost = document.getElementById("cost-figures");
for (const [name, figure] of Object.entries(figures.cost)) {
  const div = document.createElement("div");
  div.className = "figure wide";
  cost.appendChild(div);
  Plotly.newPlot(div, figure.data, { ...figure.layout, title: { text: name + ": " + figure.layout.title.text } },
                 { responsive: true, displaylogo: false });
}
if (!Object.keys(figures.cost).length) document.getElementById("cost").hidden = true;

window.uadbenchBoard = { table: board, draw, ready: true };
