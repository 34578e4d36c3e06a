// Draws the analysis page's charts from the JSON the server embedded in the page.
(function () {
  var data = JSON.parse(document.getElementById('analysis-data').textContent);
  if (!data) return;
  var L = data.labels;
  var PEAK = '#c2410c', END = '#1d4ed8', BAR = '#94a3b8', SAT = '#0b6e4f';
  var names = data.moments.map(function (m) { return m.name; });
  var round = function (x) { return x == null ? null : Math.round(x * 100) / 100; };

  // The study's chart: importance per moment in journey order, mean line and peak
  // threshold, satisfaction beside it; peaks and the end in their own colours.
  var curve = echarts.init(document.getElementById('journey-curve'));
  var marks = [];
  if (data.mean_importance != null) marks.push({ yAxis: round(data.mean_importance), name: L.mean, lineStyle: { color: '#61707e' }, label: { formatter: L.mean + ' {c}' } });
  if (data.peak_threshold != null) marks.push({ yAxis: round(data.peak_threshold), name: L.threshold, lineStyle: { color: PEAK, type: 'dashed' }, label: { formatter: L.threshold + ' {c}' } });
  curve.setOption({
    tooltip: { trigger: 'axis' },
    legend: { data: [L.importance, L.satisfaction] },
    grid: { left: 40, right: 90, bottom: 90 },
    xAxis: { type: 'category', data: names, axisLabel: { rotate: 40, interval: 0 } },
    yAxis: { type: 'value', scale: true },
    series: [
      {
        name: L.importance, type: 'bar', id: 'importance',
        data: data.moments.map(function (m) {
          var color = m.peak ? PEAK : (m.end ? END : BAR);
          return { value: round(m.importance), itemStyle: { color: color }, peak: m.peak, end: m.end, key: m.key,
                   label: { show: m.peak || m.end, position: 'top', formatter: m.peak ? L.peak : L.end } };
        }),
        markLine: { symbol: 'none', data: marks }
      },
      { name: L.satisfaction, type: 'line', id: 'satisfaction', data: data.moments.map(function (m) { return round(m.satisfaction); }), itemStyle: { color: SAT } }
    ]
  });

  // Importance against satisfaction, split at the means.
  var pts = data.moments.filter(function (m) { return m.importance != null && m.satisfaction != null; });
  var quad = echarts.init(document.getElementById('quadrant'));
  quad.setOption({
    tooltip: { formatter: function (p) { return p.data[2] + '<br>' + L.importance + ' ' + p.data[0] + ' · ' + L.satisfaction + ' ' + p.data[1]; } },
    grid: { left: 50, right: 30, bottom: 50 },
    xAxis: { type: 'value', name: L.importance, scale: true, nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', name: L.satisfaction, scale: true },
    series: [{
      type: 'scatter', symbolSize: 12,
      data: pts.map(function (m) { return { value: [round(m.importance), round(m.satisfaction), m.name], itemStyle: { color: m.peak ? PEAK : (m.end ? END : SAT) } }; }),
      label: { show: true, position: 'right', formatter: function (p) { return p.data.value[2]; }, fontSize: 10 },
      markLine: { symbol: 'none', lineStyle: { color: '#61707e', type: 'dashed' }, label: { show: false }, data: [
        { xAxis: round(data.mean_importance) }, { yAxis: round(data.mean_satisfaction) }] }
    }],
    graphic: [
      { type: 'text', right: 40, top: 10, style: { text: L.quadrant[0], fill: '#0b6e4f' } },
      { type: 'text', right: 40, bottom: 60, style: { text: L.quadrant[1], fill: PEAK } },
      { type: 'text', left: 60, bottom: 60, style: { text: L.quadrant[2], fill: '#61707e' } },
      { type: 'text', left: 60, top: 10, style: { text: L.quadrant[3], fill: '#61707e' } }
    ]
  });

  // Key drivers: each moment's share of the explained variance of overall satisfaction.
  var drivers = data.moments.filter(function (m) { return m.driver_share != null; })
    .sort(function (a, b) { return a.driver_share - b.driver_share; });
  echarts.init(document.getElementById('drivers')).setOption({
    tooltip: {}, grid: { left: 110, right: 30 },
    xAxis: { type: 'value', name: '%' },
    yAxis: { type: 'category', data: drivers.map(function (m) { return m.name; }), axisLabel: { interval: 0, fontSize: 11 } },
    // Relative weights come as percentages of the explained variance already.
    series: [{ name: L.driver, type: 'bar', data: drivers.map(function (m) {
      return { value: Math.round(m.driver_share * 10) / 10, itemStyle: { color: m.peak ? PEAK : (m.end ? END : SAT) } }; }) }]
  });

  echarts.init(document.getElementById('memory')).setOption({
    tooltip: {}, grid: { left: 50, right: 30 },
    xAxis: { type: 'category', data: [L.peak_end, L.average] },
    yAxis: { type: 'value', name: L.memory, max: 1 },
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
