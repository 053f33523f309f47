// Lookup tables page: estimate-vs-measured scatter, error histogram and error per model family, per table.
(function () {
  "use strict";
  const node = document.getElementById("tables-charts");
  if (!node) return;
  const charts = JSON.parse(node.textContent);
  const config = { responsive: true, displaylogo: false };
  Object.keys(charts).forEach(function (id) {
    const section = document.getElementById(id);
    const chart = charts[id];
    if (!section) return;
    if (chart.families.length > 0) {
      const names = chart.families.map(function (f) { return f.label; });
      const bars = [["one scale (before)", "one_scale", "#adb5bd"], ["calibrated (after)", "calibrated", "#1971c2"],
                    ["family held out", "held_out", "#f08c00"]];
      Plotly.newPlot(section.querySelector('[data-chart="families"]'), bars.map(function (b) {
        return { name: b[0], type: "bar", x: names, y: chart.families.map(function (f) { return f[b[1]]; }),
                 hovertemplate: b[0] + ": %{y:.1f}%<extra></extra>", marker: { color: b[2] } };
      }), { height: 320, margin: { l: 60, r: 20, t: 10, b: 90 }, barmode: "group",
            xaxis: { automargin: true }, yaxis: { title: { text: "median |error| (%)" } } }, config);
    }
    if (chart.scatter.x.length === 0) return;
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
