// Lookup tables page: estimate-vs-measured scatter and error histogram per table.
(function () {
  "use strict";
  const node = document.getElementById("tables-charts");
  if (!node) return;
  const charts = JSON.parse(node.textContent);
  const config = { responsive: true, displaylogo: false };
  Object.keys(charts).forEach(function (id) {
    const section = document.getElementById(id);
    const chart = charts[id];
    if (!section || chart.scatter.x.length === 0) return;
    const all = chart.scatter.x.concat(chart.scatter.y);
    const low = Math.min.apply(null, all), high = Math.max.apply(null, all);
    Plotly.newPlot(section.querySelector('[data-chart="estimate"]'), [
      { name: "models", type: "scatter", mode: "markers", x: chart.scatter.x, y: chart.scatter.y, text: chart.scatter.text,
        hovertemplate: "%{text}<br>measured %{x}<br>estimated %{y}<extra></extra>", marker: { size: 9, color: "#1971c2" } },
      { name: "estimate = measured", type: "scatter", mode: "lines", x: [low, high], y: [low, high], hoverinfo: "skip",
        line: { color: "#868e96", dash: "dot" } },
    ], { height: 300, margin: { l: 60, r: 20, t: 10, b: 50 }, showlegend: false,
         xaxis: { title: { text: "measured " + chart.metric } }, yaxis: { title: { text: "estimated" } } }, config);
    Plotly.newPlot(section.querySelector('[data-chart="errors"]'), [
      { name: "models", type: "bar", x: chart.errors.x, y: chart.errors.y, marker: { color: "#f08c00" },
        hovertemplate: "error ≈ %{x:.1f}%<br>%{y} model(s)<extra></extra>" },
    ], { height: 300, margin: { l: 50, r: 20, t: 10, b: 50 }, showlegend: false,
         xaxis: { title: { text: "error (%)" } }, yaxis: { title: { text: "models" } } }, config);
  });
})();
