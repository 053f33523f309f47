// The run page: draws the charts, follows the run's Server-Sent Events and re-renders the
// live parts (fetched as HTML from the server) after each event, without a reload.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("run-data").textContent);
  const runId = data.id;
  const live = document.getElementById("run-live");
  const message = document.getElementById("run-message");
  const ENDED = ["finished", "failed", "cancelled"];
  const plotConfig = { responsive: true, displaylogo: false };

  function show(text, isError) {
    message.textContent = text;
    message.className = "message" + (isError ? " error" : "");
    message.hidden = !text;
  }

  function accuracyFigure(chart) {
    const traces = [
      { name: "proposals", type: "scatter", mode: "markers", x: chart.proposals.x, y: chart.proposals.y,
        text: chart.proposals.text, hovertemplate: "%{text}<br>cost %{x}<br>accuracy %{y:.2%}<extra></extra>",
        marker: { color: "rgba(70, 110, 180, 0.3)", size: 7 } },
      { name: "kept path", type: "scatter", mode: "lines+markers", x: chart.path.x, y: chart.path.y,
        text: chart.path.text, hovertemplate: "%{text}<br>cost %{x}<br>accuracy %{y:.2%}<extra></extra>",
        line: { color: "#d9480f", width: 2 }, marker: { size: 9 } },
    ];
    const shapes = [];
    if (chart.baseline.x !== null && chart.baseline.y !== null) {
      traces.push({ name: "baseline", type: "scatter", mode: "markers", x: [chart.baseline.x], y: [chart.baseline.y],
        hovertemplate: "baseline<br>cost %{x}<br>accuracy %{y:.2%}<extra></extra>",
        marker: { color: "#2b8a3e", size: 12, symbol: "diamond" } });
    }
    if (chart.budget !== null) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: chart.budget, x1: chart.budget, y0: 0, y1: 1,
        line: { color: "#c92a2a", dash: "dash", width: 1.5 } });
    }
    const layout = {
      margin: { l: 60, r: 20, t: 10, b: 50 }, height: 340, legend: { orientation: "h", y: -0.2 },
      xaxis: { title: { text: chart.metric + " (budget dashed)" } }, yaxis: { title: { text: "holdout accuracy" }, tickformat: ".1%" },
      shapes: shapes,
    };
    return { traces: traces, layout: layout };
  }

  function channelFigure(channels) {
    return {
      traces: [
        { name: "original", type: "bar", x: channels.groups, y: channels.original, marker: { color: "#adb5bd" } },
        { name: "now", type: "bar", x: channels.groups, y: channels.now, marker: { color: "#1971c2" } },
      ],
      layout: { barmode: "group", height: 340, margin: { l: 50, r: 20, t: 20, b: 60 }, legend: { orientation: "h", y: -0.2 },
        yaxis: { title: { text: "channels" } } },
    };
  }

  function draw(state) {
    const acc = accuracyFigure(state.chart);
    Plotly.react("chart-accuracy", acc.traces, acc.layout, plotConfig);
    const ch = channelFigure(state.channels);
    Plotly.react("chart-channels", ch.traces, ch.layout, plotConfig);
  }

  let refreshing = null;
  let again = false;
  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async function () {
      try {
        const response = await fetch("/dashboard/api/runs/" + encodeURIComponent(runId) + "/view", { headers: { Accept: "application/json" } });
        const body = await response.json();
        if (!response.ok) { show(body.detail || ("could not refresh: HTTP " + response.status), true); return; }
        const open = Array.from(live.querySelectorAll("details[open]")).map(function (d) { return d.dataset.key; });
        live.innerHTML = body.html;
        open.forEach(function (key) {
          const d = live.querySelector('details[data-key="' + key + '"]');
          if (d) d.open = true;
        });
        draw(body);
        document.body.dataset.lastSeq = String(body.last_seq);
      } catch (err) {
        show("could not refresh the page: " + err, true);
      } finally {
        refreshing = null;
      }
    })();
    await refreshing;
    if (again) { again = false; await refresh(); }
  }

  let timer = null;
  function scheduleRefresh() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 250);
  }

  function follow() {
    if (ENDED.indexOf(data.status) !== -1) return null;
    const es = new EventSource("/dashboard/api/runs/" + encodeURIComponent(runId) + "/events/stream?after=" + data.last_seq);
    const onEvent = function () { scheduleRefresh(); };
    ["created", "status", "baseline_measured", "waiting_for_measurements", "iteration_started", "proposals_prescreened", "proposal_finished",
     "step_halved", "iteration_finished", "finalizing", "finished", "message"].forEach(function (type) {
      es.addEventListener(type, onEvent);
    });
    es.addEventListener("status", function (event) {
      const status = JSON.parse(event.data).data.status;
      if (ENDED.indexOf(status) !== -1) {
        es.close();
        if (source === es) source = null;
        document.body.dataset.following = "ended";
      }
    });
    es.onerror = function () {
      // The server ends the stream after a run's last event; EventSource would reconnect.
      if (ENDED.indexOf(data.status) !== -1 || es.readyState === EventSource.CLOSED) {
        es.close();
        if (source === es) source = null;
      }
    };
    document.body.dataset.following = "live";
    return es;
  }

  let source = null;
  live.addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    button.disabled = true;
    try {
      const response = await fetch("/dashboard/api/runs/" + encodeURIComponent(runId) + "/" + action, {
        method: "POST", headers: { "X-Dashboard": "1", Accept: "application/json" },
      });
      const body = await response.json();
      if (!response.ok) {
        show(body.detail || ("could not " + action + ": HTTP " + response.status), true);
      } else {
        show(action === "cancel" ? "Cancel requested: the run is " + body.status + "." : "Resumed: the run is " + body.status + ".", false);
        data.status = body.status;
        if (action === "resume" && !source) source = follow();
      }
    } catch (err) {
      show("could not " + action + ": " + err, true);
    }
    await refresh();
  });

  draw(data);
  source = follow();
})();
