// Draws the analysis page's charts from the JSON the server embedded in the page.
(function () {
  var data = JSON.parse(document.getElementById('analysis-data').textContent);
  if (!data) return;
  var L = data.labels;
  var PEAK = '#c2410c', END = '#1d4ed8', BAR = '#94a3b8', SAT = '#0b6e4f';
  var names = data.moments.map(function (m) { return m.name; });
  var round = function (x) { return x == null ? null : Math.round(x * 100) / 100; };

  // 95 % intervals drawn as line segments (the vendored ECharts build has no custom
  // series): a series with no points of its own whose mark lines are the segments.
  function intervals(name, segments, axes, color) {
    return Object.assign({
      type: 'scatter', name: name, data: [], silent: true, tooltip: { show: false },
      markLine: { silent: true, symbol: ['none', 'none'], animation: false, label: { show: false },
                  lineStyle: { color: color || '#1f2933', type: 'solid', width: 1.2 },
                  data: segments.map(function (s) { return [{ coord: s[0] }, { coord: s[1] }]; }) }
    }, axes || {});
  }

  // The study's chart, honestly scaled: importance and satisfaction each on its own
  // zero-based 0–10 axis with its title, satisfaction with its 95 % intervals; the
  // mean importance and peak threshold marked; peaks and the end in their colours.
  var curve = echarts.init(document.getElementById('journey-curve'));
  var marks = [];
  if (data.mean_importance != null) marks.push({ yAxis: round(data.mean_importance), name: L.mean, lineStyle: { color: '#61707e' }, label: { formatter: L.mean + ' {c}', position: 'insideStartBottom' } });
  if (data.peak_threshold != null) marks.push({ yAxis: round(data.peak_threshold), name: L.threshold, lineStyle: { color: PEAK, type: 'dashed' }, label: { formatter: L.threshold + ' {c}', position: 'insideStartTop' } });
  var colorOf = function (m) { return m.peak ? PEAK : (m.end ? END : BAR); };
  curve.setOption({
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: { data: [L.importance, L.satisfaction], top: 0 },
    grid: [{ left: 56, right: 24, top: 56, height: 160 }, { left: 56, right: 24, top: 272, bottom: 110 }],
    xAxis: [
      { type: 'category', gridIndex: 0, data: names, axisLabel: { show: false } },
      { type: 'category', gridIndex: 1, data: names, axisLabel: { rotate: 40, interval: 0, fontSize: 11 } }
    ],
    yAxis: [
      { type: 'value', gridIndex: 0, min: 0, max: 10, interval: 2, name: L.importance_axis, nameTextStyle: { align: 'left' } },
      { type: 'value', gridIndex: 1, min: 0, max: 10, interval: 2, name: L.satisfaction_axis, nameTextStyle: { align: 'left' } }
    ],
    series: [
      {
        name: L.importance, type: 'bar', id: 'importance', xAxisIndex: 0, yAxisIndex: 0,
        data: data.moments.map(function (m) {
          return { value: round(m.importance), itemStyle: { color: colorOf(m) }, peak: m.peak, end: m.end, key: m.key,
                   label: { show: m.peak || m.end, position: 'top', formatter: m.peak ? L.peak : L.end } };
        }),
        markLine: { symbol: 'none', data: marks }
      },
      {
        name: L.satisfaction, type: 'bar', id: 'satisfaction', xAxisIndex: 1, yAxisIndex: 1,
        data: data.moments.map(function (m) { return { value: round(m.satisfaction), itemStyle: { color: SAT } }; })
      },
      intervals(L.ci, data.moments.filter(function (m) { return m.satisfaction_ci; }).map(function (m) {
        var i = data.moments.indexOf(m);
        return [[i, round(m.satisfaction_ci[0])], [i, round(m.satisfaction_ci[1])]];
      }), { xAxisIndex: 1, yAxisIndex: 1, id: 'satisfaction-ci' })
    ]
  });

  // Importance against satisfaction, split at the means, each moment with its 95 %
  // intervals both ways; labels that would overlap are hidden (the table has them all).
  var pts = data.moments.filter(function (m) { return m.importance != null && m.satisfaction != null; });
  // The axes span the intervals too, so no whisker runs off the plot.
  var extent = function (get) {
    var lo = Infinity, hi = -Infinity;
    pts.forEach(function (m) { get(m).forEach(function (v) { if (v != null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    var pad = Math.max(0.02, (hi - lo) * 0.06);
    return { min: Math.floor((lo - pad) * 20) / 20, max: Math.ceil((hi + pad) * 20) / 20 };
  };
  var xr = extent(function (m) { return [m.importance].concat(m.importance_ci || []); });
  var yr = extent(function (m) { return [m.satisfaction].concat(m.satisfaction_ci || []); });
  var quad = echarts.init(document.getElementById('quadrant'));
  quad.setOption({
    tooltip: { formatter: function (p) { return p.data.value[2] + '<br>' + L.importance + ' ' + p.data.value[0] + ' · ' + L.satisfaction + ' ' + p.data.value[1]; } },
    grid: { left: 64, right: 40, top: 40, bottom: 56 },
    xAxis: { type: 'value', name: L.importance_axis, min: xr.min, max: xr.max, nameLocation: 'middle', nameGap: 30, axisLabel: { showMinLabel: false, showMaxLabel: false } },
    yAxis: { type: 'value', name: L.satisfaction_axis, min: yr.min, max: yr.max, nameLocation: 'middle', nameGap: 42, axisLabel: { showMinLabel: false, showMaxLabel: false } },
    series: [{
      type: 'scatter', id: 'moments', symbolSize: 11,
      data: pts.map(function (m) { return { value: [round(m.importance), round(m.satisfaction), m.name], itemStyle: { color: m.peak ? PEAK : (m.end ? END : SAT) } }; }),
      label: { show: true, position: 'right', formatter: function (p) { return p.data.value[2]; }, fontSize: 10 },
      labelLayout: { hideOverlap: true },
      markLine: { symbol: 'none', lineStyle: { color: '#61707e', type: 'dashed' }, data: [
        { xAxis: round(data.mean_importance), label: { formatter: L.mean + ' {c}', position: 'end', fontSize: 10 } },
        { yAxis: round(data.mean_satisfaction), label: { formatter: L.mean_satisfaction + ' {c}', position: 'insideEndTop', fontSize: 10 } }] }
    }, intervals(L.ci, pts.filter(function (m) { return m.satisfaction_ci; }).map(function (m) {
      return [[round(m.importance), round(m.satisfaction_ci[0])], [round(m.importance), round(m.satisfaction_ci[1])]];
    }).concat(pts.filter(function (m) { return m.importance_ci; }).map(function (m) {
      return [[round(m.importance_ci[0]), round(m.satisfaction)], [round(m.importance_ci[1]), round(m.satisfaction)]];
    })), { id: 'intervals' }, '#94a3b8')
    ],
    graphic: [
      { type: 'text', right: 44, top: 8, style: { text: L.quadrant[0], fill: '#0b6e4f', fontSize: 11 } },
      { type: 'text', right: 44, bottom: 62, style: { text: L.quadrant[1], fill: PEAK, fontSize: 11 } },
      { type: 'text', left: 70, bottom: 62, style: { text: L.quadrant[2], fill: '#61707e', fontSize: 11 } },
      { type: 'text', left: 70, top: 8, style: { text: L.quadrant[3], fill: '#61707e', fontSize: 11 } }
    ]
  });

  // Key drivers: each moment's share of the explained variance of overall satisfaction.
  var drivers = data.moments.filter(function (m) { return m.driver_share != null; })
    .sort(function (a, b) { return a.driver_share - b.driver_share; });
  echarts.init(document.getElementById('drivers')).setOption({
    tooltip: {}, grid: { left: 120, right: 40, bottom: 48 },
    xAxis: { type: 'value', min: 0, name: L.driver_axis, nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'category', data: drivers.map(function (m) { return m.name; }), axisLabel: { interval: 0, fontSize: 11 } },
    // Relative weights come as percentages of the explained variance already.
    series: [{ name: L.driver, type: 'bar', data: drivers.map(function (m) {
      return { value: Math.round(m.driver_share * 10) / 10, itemStyle: { color: m.peak ? PEAK : (m.end ? END : SAT) } }; }) }]
  });

  echarts.init(document.getElementById('memory')).setOption({
    tooltip: {}, grid: { left: 50, right: 30 },
    xAxis: { type: 'category', data: [L.peak_end, L.average] },
    yAxis: { type: 'value', name: L.memory, min: 0, max: 1, nameTextStyle: { align: 'left' } },
    series: [{ type: 'bar', data: [
      { value: round(data.memory.peak_end), itemStyle: { color: PEAK } },
      { value: round(data.memory.average), itemStyle: { color: BAR } }] }]
  });

  // The dimensions on two radars (the six experience ones, the five SERVQUAL ones),
  // each axis on the 1–10 satisfaction scale from 0.
  var dims = data.dimensions || [];
  var radar = function (family) { return dims.filter(function (d) { return d.family === family; }); };
  var exp = radar('experience'), sq = radar('servqual');
  var radars = [], series = [];
  [[exp, L.experience, '27%'], [sq, L.servqual, '73%']].forEach(function (r, i) {
    if (r[0].length < 3) return;
    radars.push({ center: [r[2], '55%'], radius: '58%', indicator: r[0].map(function (d) { return { name: d.name, min: 0, max: 10 }; }), axisName: { fontSize: 11 } });
    series.push({ type: 'radar', radarIndex: radars.length - 1, name: r[1], data: [{ name: r[1], value: r[0].map(function (d) { return round(d.score); }), areaStyle: { opacity: 0.15 } }] });
  });
  if (radars.length) {
    echarts.init(document.getElementById('dimensions')).setOption({ tooltip: {}, legend: { data: series.map(function (s) { return s.name; }), top: 0 }, radar: radars, series: series });
  }

  window.addEventListener('resize', function () {
    ['journey-curve', 'quadrant', 'drivers', 'memory', 'dimensions'].forEach(function (id) {
      var c = echarts.getInstanceByDom(document.getElementById(id)); if (c) c.resize();
    });
  });
  document.body.dataset.chartsReady = 'true';
})();
