//! A house of quality as one self-contained SVG: the roof of column correlations, the
//! rotated column labels, the rows with their weights, the relationship matrix, the
//! importance band at the foot and, when the rows carry it, the competitive assessment
//! on the right. Text is laid out by an estimate of its width (a CJK character about
//! 1 em, anything else about 0.6 em), so Chinese labels get the room they need.

use std::fmt::Write;

use peakend_core::qfd::{House, Improve, Strength, stage_titles};

/// Font size of every label, px.
const FONT: f64 = 12.0;
const PAD: f64 = 6.0;
const ROW_H: f64 = 24.0;
const MIN_COL_W: f64 = 28.0;
const MARGIN: f64 = 12.0;
const TITLE_H: f64 = 28.0;
/// Width of the competitive dot plot.
const PLOT_W: f64 = 110.0;

/// Whether a character is drawn about 1 em wide (CJK ideographs, kana, hangul, fullwidth
/// forms and CJK punctuation).
fn wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

/// Estimated width of `s` at [`FONT`], px.
pub fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if wide(c) { FONT } else { 0.6 * FONT })
        .sum()
}

/// `s` escaped for XML text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// A number as a reader wants it: whole numbers without decimals, others to 2 places
/// (or 1 from 100 on), trailing zeros dropped.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let places = if v.abs() >= 100.0 { 1 } else { 2 };
    let s = format!("{v:.places$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn pick<'a>(lang: &str, (zh, en): (&'a str, &'a str)) -> &'a str {
    if lang.starts_with("en") { en } else { zh }
}

fn target_text(c: &peakend_core::qfd::Column, en: bool) -> String {
    let arrow = match c.direction {
        Some(Improve::Up) => "↑ ",
        Some(Improve::Down) => "↓ ",
        Some(Improve::Target) => "◎ ",
        None => "",
    };
    match (c.target, &c.unit) {
        (Some(t), Some(u)) => {
            let u = peakend_core::handbook::unit_label(u, en);
            if u == "%" {
                format!("{arrow}{}%", number(t))
            } else {
                format!("{arrow}{} {u}", number(t))
            }
        }
        (Some(t), None) => format!("{arrow}{}", number(t)),
        (None, _) if !arrow.is_empty() => arrow.trim_end().to_string(),
        (None, _) => String::new(),
    }
}

/// The house drawn as an SVG document, labels in `lang` (`en…` for English, else
/// Chinese). Relationship symbols: ● 9, ○ 3, △ 1; roof marks ++ + − −−.
pub fn render(house: &House, lang: &str) -> String {
    let en = lang.starts_with("en");
    let t = |pair: (&'static str, &'static str)| pick(lang, pair);
    let titles = stage_titles(house.stage());
    let rows = house.rows();
    let cols = house.columns();
    let (n, m) = (rows.len(), cols.len());
    let imp = house.importance();

    let band_labels = [
        t(("技术重要度", "Importance")),
        t(("相对重要度", "Relative")),
        t(("排序", "Rank")),
        t(("目标值", "Target")),
        t(("技术难度", "Difficulty")),
    ];
    let abs_text: Vec<String> = imp.iter().map(|c| number(c.absolute)).collect();
    let rel_text: Vec<String> = imp
        .iter()
        .map(|c| format!("{:.1}%", c.relative * 100.0))
        .collect();
    let rank_text: Vec<String> = imp.iter().map(|c| c.rank.to_string()).collect();
    let targets: Vec<String> = cols.iter().map(|c| target_text(c, en)).collect();
    let diff_text: Vec<String> = cols
        .iter()
        .map(|c| c.difficulty.map(|d| d.to_string()).unwrap_or_default())
        .collect();

    // Column width: room for the widest figure of the bottom band.
    let col_w = abs_text
        .iter()
        .chain(&rel_text)
        .map(|s| text_width(s) + 2.0 * PAD)
        .fold(MIN_COL_W, f64::max);
    let weight_head = t(("权重", "Weight"));
    let weights: Vec<String> = rows.iter().map(|r| number(r.weight)).collect();
    let weight_w = weights
        .iter()
        .map(|s| text_width(s))
        .fold(text_width(weight_head), f64::max)
        + 2.0 * PAD;
    let row_label_w = rows
        .iter()
        .map(|r| text_width(r.label.get(lang)))
        .chain(band_labels.iter().map(|s| text_width(s)))
        .chain([text_width(t(titles.rows))])
        .fold(0.0, f64::max)
        + 2.0 * PAD;
    // The rows' title, the weights' and the columns' stand on three lines left of the
    // column labels, so that band is at least three lines high.
    let line = FONT + 4.0;
    let col_label_h = cols
        .iter()
        .map(|c| text_width(c.label.get(lang)))
        .fold(3.0 * line, f64::max)
        + 2.0 * PAD;
    let target_h = targets
        .iter()
        .map(|s| text_width(s) + 2.0 * PAD)
        .fold(ROW_H, f64::max);

    // The columns' title is right-aligned over the weights: widen the labels if needed.
    let row_label_w = row_label_w.max(text_width(t(titles.columns)) + 2.0 * PAD - weight_w);
    let x_label = MARGIN;
    let x_weight = x_label + row_label_w;
    let x0 = x_weight + weight_w;
    let matrix_w = m as f64 * col_w;
    let roof_h = m as f64 * col_w / 2.0;
    let y_roof_base = MARGIN + TITLE_H + roof_h;
    let y0 = y_roof_base + col_label_h;
    let y_band = y0 + n as f64 * ROW_H;
    let band_heights = [ROW_H, ROW_H, ROW_H, target_h, ROW_H];
    let y_legend = y_band + band_heights.iter().sum::<f64>() + PAD;

    let competitive = rows.iter().any(|r| r.competitive.is_some());
    let x_comp = x0 + matrix_w + 2.0 * PAD;
    let comp_heads = [t(("我方", "Ours")), t(("竞争对手", "Competitor"))];
    let comp_col_w = comp_heads
        .iter()
        .map(|s| text_width(s) + 2.0 * PAD)
        .fold(44.0, f64::max);
    let comp_w = if competitive {
        2.0 * comp_col_w + PLOT_W + 2.0 * PAD
    } else {
        0.0
    };
    let comp_scale = rows
        .iter()
        .filter_map(|r| r.competitive)
        .map(|c| c.ours.max(c.competitor))
        .fold(5.0, f64::max);

    let title = format!(
        "{} {} · {}",
        t(("质量屋 第", "House of quality, stage")),
        if en {
            house.stage().to_string()
        } else {
            format!("{}阶段", house.stage())
        },
        t(titles.name)
    );
    let legend = [
        t(("● 强 9", "● strong 9")),
        t(("○ 中 3", "○ medium 3")),
        t(("△ 弱 1", "△ weak 1")),
        t((
            "屋顶：++ 强正相关  + 正相关  − 负相关  −− 强负相关",
            "Roof: ++ strong positive  + positive  − negative  −− strong negative",
        )),
    ]
    .join("    ");
    let width = (x0 + matrix_w + comp_w + MARGIN)
        .max(MARGIN * 2.0 + text_width(&title))
        .max(MARGIN * 2.0 + text_width(&legend));
    let height = y_legend + ROW_H + MARGIN;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}" font-family="'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif" font-size="{FONT}">
<style>.grid{{fill:none;stroke:#888;stroke-width:0.6}}.roof{{fill:#fff;stroke:#888;stroke-width:0.6}}.head{{font-weight:bold}}.rel{{stroke:#1f3b73;stroke-width:1.4}}.plot-ours{{fill:#1f3b73}}.plot-them{{fill:none;stroke:#b03a2e;stroke-width:1.4}}</style>
<rect width="100%" height="100%" fill="#fff"/>
"##,
        w = width,
        h = height
    );
    let _ = writeln!(
        s,
        r#"<text class="head" x="{MARGIN}" y="{:.1}" font-size="{:.0}">{}</text>"#,
        MARGIN + 16.0,
        FONT + 2.0,
        esc(&title)
    );

    // The roof: one diamond per pair of columns, its mark inside.
    if m > 1 {
        let _ = writeln!(
            s,
            r#"<polygon class="roof" points="{x0:.1},{b:.1} {:.1},{:.1} {:.1},{b:.1}"/>"#,
            x0 + matrix_w / 2.0,
            y_roof_base - roof_h,
            x0 + matrix_w,
            b = y_roof_base
        );
    }
    let half = col_w / 2.0;
    let roof: std::collections::HashMap<(&str, &str), _> =
        house.roof_cells().map(|(a, b, c)| ((a, b), c)).collect();
    for a in 0..m {
        for b in a + 1..m {
            let cx = x0 + (a + b + 1) as f64 * half;
            let cy = y_roof_base - (b - a) as f64 * half;
            let _ = writeln!(
                s,
                r#"<polygon class="roof" points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}"/>"#,
                cx,
                cy - half,
                cx + half,
                cy,
                cx,
                cy + half,
                cx - half,
                cy
            );
            if let Some(c) = roof.get(&(cols[a].key.as_str(), cols[b].key.as_str())) {
                let _ = writeln!(
                    s,
                    r#"<text class="roof-mark" data-a="{}" data-b="{}" data-correlation="{}" x="{cx:.1}" y="{cy:.1}" text-anchor="middle" dominant-baseline="central">{}</text>"#,
                    esc(&cols[a].key),
                    esc(&cols[b].key),
                    c.name(),
                    c.symbol()
                );
            }
        }
    }

    // Column labels, rotated to read upwards from the matrix.
    let _ = writeln!(
        s,
        r#"<text class="head" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        x0 - PAD,
        y0 - PAD - 2.0 * line,
        esc(t(titles.columns))
    );
    for (j, c) in cols.iter().enumerate() {
        let cx = x0 + (j as f64 + 0.5) * col_w;
        let cy = y0 - PAD;
        let _ = writeln!(
            s,
            r#"<text class="col-label" data-key="{}" x="{cx:.1}" y="{cy:.1}" transform="rotate(-90 {cx:.1} {cy:.1})" dominant-baseline="central">{}</text>"#,
            esc(&c.key),
            esc(c.label.get(lang))
        );
    }

    // Rows: label, weight, cells.
    let _ = writeln!(
        s,
        r#"<text class="head" x="{:.1}" y="{:.1}">{}</text><text class="head" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        x_label + PAD,
        y0 - PAD,
        esc(t(titles.rows)),
        x0 - PAD,
        y0 - PAD - line,
        esc(weight_head)
    );
    for (i, r) in rows.iter().enumerate() {
        let cy = y0 + (i as f64 + 0.5) * ROW_H;
        let _ = writeln!(
            s,
            r#"<text class="row-label" data-key="{}" x="{:.1}" y="{cy:.1}" dominant-baseline="central">{}</text><text class="weight" x="{:.1}" y="{cy:.1}" text-anchor="end" dominant-baseline="central">{}</text>"#,
            esc(&r.key),
            x_label + PAD,
            esc(r.label.get(lang)),
            x0 - PAD,
            weights[i]
        );
    }
    for i in 0..=n {
        let y = y0 + i as f64 * ROW_H;
        let _ = writeln!(
            s,
            r#"<line class="grid" x1="{x_label:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
            x0 + matrix_w
        );
    }
    for j in 0..=m {
        let x = x0 + j as f64 * col_w;
        let _ = writeln!(
            s,
            r#"<line class="grid" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/>"#,
            y_roof_base,
            y_legend - PAD
        );
    }
    let row_index: std::collections::HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.as_str(), i))
        .collect();
    let col_index: std::collections::HashMap<&str, usize> = cols
        .iter()
        .enumerate()
        .map(|(j, c)| (c.key.as_str(), j))
        .collect();
    let r = 7.0;
    for (row, col, strength) in house.cells() {
        let cx = x0 + (col_index[col] as f64 + 0.5) * col_w;
        let cy = y0 + (row_index[row] as f64 + 0.5) * ROW_H;
        let attrs = format!(
            r#"class="rel" data-row="{}" data-column="{}" data-strength="{}""#,
            esc(row),
            esc(col),
            strength
        );
        let _ = match strength {
            Strength::Strong => writeln!(
                s,
                r##"<circle {attrs} cx="{cx:.1}" cy="{cy:.1}" r="{r}" fill="#1f3b73"/>"##
            ),
            Strength::Medium => writeln!(
                s,
                r#"<circle {attrs} cx="{cx:.1}" cy="{cy:.1}" r="{r}" fill="none"/>"#
            ),
            Strength::Weak => writeln!(
                s,
                r#"<polygon {attrs} points="{cx:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="none"/>"#,
                cy - r,
                cx + r,
                cy + r * 0.75,
                cx - r,
                cy + r * 0.75
            ),
        };
    }

    // The foot: importance, share, rank, target, difficulty.
    let band_values: [&[String]; 5] = [&abs_text, &rel_text, &rank_text, &targets, &diff_text];
    let mut y = y_band;
    for (k, (label, values)) in band_labels.iter().zip(band_values).enumerate() {
        let h = band_heights[k];
        let _ = writeln!(
            s,
            r#"<text class="band-label" x="{:.1}" y="{:.1}" dominant-baseline="central">{}</text>"#,
            x_label + PAD,
            y + h / 2.0,
            esc(label)
        );
        for (j, v) in values.iter().enumerate() {
            let cx = x0 + (j as f64 + 0.5) * col_w;
            if k == 3 {
                // Targets can be long ("2 working days"): rotated like the labels.
                let cy = y + PAD;
                let _ = writeln!(
                    s,
                    r#"<text class="band" x="{cx:.1}" y="{cy:.1}" transform="rotate(90 {cx:.1} {cy:.1})" dominant-baseline="central">{}</text>"#,
                    esc(v)
                );
            } else {
                let _ = writeln!(
                    s,
                    r#"<text class="band" x="{cx:.1}" y="{:.1}" text-anchor="middle" dominant-baseline="central">{}</text>"#,
                    y + h / 2.0,
                    esc(v)
                );
            }
        }
        y += h;
        let _ = writeln!(
            s,
            r#"<line class="grid" x1="{x_label:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
            x0 + matrix_w
        );
    }

    // The right wall: our and a competitor's satisfaction per row, figures and dots.
    if competitive {
        let _ = writeln!(
            s,
            r#"<text class="head" x="{:.1}" y="{:.1}">{}</text>"#,
            x_comp,
            y0 - PAD - line,
            esc(t(("竞争评估", "Competitive assessment")))
        );
        for (k, head) in comp_heads.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text class="head" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x_comp + (k as f64 + 0.5) * comp_col_w,
                y0 - PAD,
                esc(head)
            );
        }
        let px = x_comp + 2.0 * comp_col_w + PAD;
        for (i, row) in rows.iter().enumerate() {
            let Some(c) = row.competitive else { continue };
            let cy = y0 + (i as f64 + 0.5) * ROW_H;
            let _ = writeln!(
                s,
                r#"<g class="competitive" data-row="{}"><text x="{:.1}" y="{cy:.1}" text-anchor="middle" dominant-baseline="central">{}</text><text x="{:.1}" y="{cy:.1}" text-anchor="middle" dominant-baseline="central">{}</text><line class="grid" x1="{px:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}"/><circle class="plot-ours" cx="{:.1}" cy="{cy:.1}" r="4"/><rect class="plot-them" x="{:.1}" y="{:.1}" width="8" height="8"/></g>"#,
                esc(&row.key),
                x_comp + 0.5 * comp_col_w,
                number(c.ours),
                x_comp + 1.5 * comp_col_w,
                number(c.competitor),
                px + PLOT_W,
                px + PLOT_W * c.ours / comp_scale,
                px + PLOT_W * c.competitor / comp_scale - 4.0,
                cy - 4.0
            );
        }
    }

    let _ = writeln!(
        s,
        r#"<text class="legend" xml:space="preserve" x="{MARGIN}" y="{:.1}" dominant-baseline="central">{}</text>"#,
        y_legend + ROW_H / 2.0,
        esc(&legend)
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use peakend_core::qfd::{self, RawHouse};
    use quick_xml::Reader;
    use quick_xml::events::Event;
    use std::collections::HashMap;

    /// Every element as (name, attributes, text inside it).
    fn parse(svg: &str) -> Vec<(String, HashMap<String, String>, String)> {
        let mut reader = Reader::from_str(svg);
        let mut out: Vec<(String, HashMap<String, String>, String)> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            let event = reader.read_event().expect("well-formed XML");
            let (e, opens) = match &event {
                Event::Start(e) => (Some(e), true),
                Event::Empty(e) => (Some(e), false),
                _ => (None, false),
            };
            if let Some(e) = e {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.decode_and_unescape_value(reader.decoder())
                                .unwrap()
                                .into_owned(),
                        )
                    })
                    .collect();
                out.push((name, attrs, String::new()));
                if opens {
                    open.push(out.len() - 1);
                }
            }
            match event {
                Event::Text(t) => {
                    if let Some(&i) = open.last() {
                        out[i].2.push_str(&t.decode().unwrap());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(&i) = open.last() {
                        let name = String::from_utf8(r.to_vec()).unwrap();
                        let c = match name.as_str() {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            other => panic!("unknown entity {other}"),
                        };
                        out[i].2.push_str(c);
                    }
                }
                Event::End(_) => {
                    open.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(open.is_empty(), "unclosed elements");
        out
    }

    fn with_class<'a>(
        els: &'a [(String, HashMap<String, String>, String)],
        class: &str,
    ) -> Vec<&'a (String, HashMap<String, String>, String)> {
        els.iter()
            .filter(|(_, a, _)| a.get("class").map(String::as_str) == Some(class))
            .collect()
    }

    #[test]
    fn the_service_halls_houses_draw_every_row_column_and_cell() {
        let j = peakend_core::builtin::journeys().unwrap().remove(0);
        let all = qfd::deploy(&j, None).unwrap();
        for (house, lang) in [
            (&all.stage1, "zh"),
            (&all.stage2, "zh"),
            (&all.stage3, "en"),
        ] {
            let svg = render(house, lang);
            let els = parse(&svg);
            assert_eq!(els[0].0, "svg");
            let rows: Vec<&str> = with_class(&els, "row-label")
                .iter()
                .map(|(_, _, t)| t.as_str())
                .collect();
            let want: Vec<&str> = house.rows().iter().map(|r| r.label.get(lang)).collect();
            assert_eq!(rows, want);
            let cols: Vec<&str> = with_class(&els, "col-label")
                .iter()
                .map(|(_, _, t)| t.as_str())
                .collect();
            let want: Vec<&str> = house.columns().iter().map(|c| c.label.get(lang)).collect();
            assert_eq!(cols, want);
            // One symbol per relationship cell, of its strength.
            let symbols = with_class(&els, "rel");
            assert_eq!(symbols.len(), house.cells().count());
            for strength in ["9", "3", "1"] {
                let drawn = symbols
                    .iter()
                    .filter(|(_, a, _)| a["data-strength"] == strength)
                    .count();
                let held = house
                    .cells()
                    .filter(|(_, _, s)| s.to_string() == strength)
                    .count();
                assert_eq!(drawn, held, "strength {strength}");
            }
            let shapes: Vec<&str> = symbols.iter().map(|(n, _, _)| n.as_str()).collect();
            assert!(shapes.iter().all(|n| *n == "circle" || *n == "polygon"));
            let marks = with_class(&els, "roof-mark");
            assert_eq!(marks.len(), house.roof_cells().count());
            for (_, a, text) in marks {
                let c = house.correlation(&a["data-a"], &a["data-b"]).unwrap();
                assert_eq!(text, c.symbol());
            }
            // The foot carries each column's importance, share and rank.
            let band: Vec<&str> = with_class(&els, "band")
                .iter()
                .map(|(_, _, t)| t.as_str())
                .collect();
            let m = house.columns().len();
            assert_eq!(band.len(), 5 * m);
            for (j, c) in house.importance().iter().enumerate() {
                assert_eq!(band[j], number(c.absolute));
                assert_eq!(band[m + j], format!("{:.1}%", c.relative * 100.0));
                assert_eq!(band[2 * m + j], c.rank.to_string());
            }
        }
        // Stage 3's targets are the standards', their units in words, not keys.
        let svg = render(&all.stage3, "zh");
        assert!(svg.contains("↓ 15 分钟"), "care_after");
        assert!(svg.contains("↓ 2 个工作日"), "repair_within");
        assert!(!svg.contains("working_day"));
        let svg = render(&all.stage3, "en");
        assert!(svg.contains("↓ 15 min"), "care_after");
        assert!(svg.contains("↓ 2 working days"), "repair_within");
    }

    /// Row labels end before the weights, the weights before the matrix; column labels
    /// fit between the roof and the matrix. Checked on the estimate the layout uses.
    #[test]
    fn labels_do_not_overlap_the_matrix() {
        let j = peakend_core::builtin::journeys().unwrap().remove(0);
        let house = qfd::house(&j, 2, None).unwrap();
        let svg = render(&house, "zh");
        let els = parse(&svg);
        let x = |e: &(String, HashMap<String, String>, String)| e.1["x"].parse::<f64>().unwrap();
        let first_line = with_class(&els, "grid")
            .iter()
            .filter(|(n, a, _)| n == "line" && a["x1"] == a["x2"])
            .map(|(_, a, _)| a["x1"].parse::<f64>().unwrap())
            .fold(f64::INFINITY, f64::min);
        let weights = with_class(&els, "weight");
        let weight_right = x(weights[0]);
        assert!(weights.iter().all(|w| x(w) == weight_right));
        for e in with_class(&els, "row-label") {
            let right = x(e) + text_width(&e.2);
            let widest_weight = weights.iter().map(|w| text_width(&w.2)).fold(0.0, f64::max);
            assert!(
                right <= weight_right - widest_weight,
                "{} overlaps its weight",
                e.2
            );
        }
        assert!(weight_right <= first_line, "weights run into the matrix");
        // Rotated column labels: their length fits above the matrix and below the roof.
        let top_of_matrix = with_class(&els, "grid")
            .iter()
            .filter(|(n, a, _)| n == "line" && a["y1"] == a["y2"])
            .map(|(_, a, _)| a["y1"].parse::<f64>().unwrap())
            .fold(f64::INFINITY, f64::min);
        let roof_base = with_class(&els, "grid")
            .iter()
            .filter(|(n, a, _)| n == "line" && a["x1"] == a["x2"])
            .map(|(_, a, _)| a["y1"].parse::<f64>().unwrap())
            .fold(f64::INFINITY, f64::min);
        for e in with_class(&els, "col-label") {
            let bottom = e.1["y"].parse::<f64>().unwrap();
            assert!(bottom <= top_of_matrix);
            assert!(
                bottom - text_width(&e.2) >= roof_base,
                "{} reaches into the roof",
                e.2
            );
        }
        assert_eq!(text_width("等候"), 24.0);
        assert!((text_width("ab") - 14.4).abs() < 1e-9);
    }

    #[test]
    fn labels_are_escaped_and_competition_is_drawn() {
        let raw: RawHouse = yaml_serde_free(
            r#"{"stage":1,"rows":[{"key":"a","label":{"zh":"<快> & \"好\"","en":"Fast & <good>"},"weight":5,"competitive":{"ours":3.5,"competitor":4}},{"key":"b","label":"B'","weight":2}],
               "columns":[{"key":"x","label":"X&Y","target":15,"unit":"min","direction":"down","difficulty":3},{"key":"y","label":"Y"}],
               "relationships":[{"row":"a","column":"x","strength":9},{"row":"b","column":"y","strength":1}],
               "roof":[{"a":"x","b":"y","correlation":"--"}]}"#,
        );
        let house = peakend_core::qfd::House::try_from(raw).unwrap();
        for lang in ["zh", "en"] {
            let svg = render(&house, lang);
            let els = parse(&svg);
            let rows: Vec<&str> = with_class(&els, "row-label")
                .iter()
                .map(|(_, _, t)| t.as_str())
                .collect();
            let want = if lang == "en" {
                "Fast & <good>"
            } else {
                "<快> & \"好\""
            };
            assert_eq!(rows, vec![want, "B'"]);
            assert_eq!(with_class(&els, "competitive").len(), 1);
            assert_eq!(with_class(&els, "roof-mark")[0].2, "−−");
            assert!(with_class(&els, "col-label")[0].2 == "X&Y");
        }
        let zh = render(&house, "zh");
        assert!(zh.contains("竞争评估") && zh.contains(">3.5<") && zh.contains(">4<"));
        assert!(!render(&house, "en").contains("竞争评估"));
    }

    fn yaml_serde_free(json: &str) -> RawHouse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(number(45.0), "45");
        assert_eq!(number(8.27), "8.27");
        assert_eq!(number(8.5), "8.5");
        assert_eq!(number(1409.26), "1409.3");
        assert_eq!(number(0.126), "0.13");
    }
}
