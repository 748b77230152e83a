//! Charts for the overview as plain geometry: the template draws them as inline SVG, so
//! they need no JavaScript, and askama escapes every label (campaign names are user text).

const WIDTH: u32 = 440;
const LABEL_WIDTH: u32 = 112;
const VALUE_WIDTH: u32 = 96;
const BAR_HEIGHT: u32 = 14;
const BAR_GAP: u32 = 2;
const ROW_GAP: u32 = 10;
const LEGEND_HEIGHT: u32 = 26;
/// Label width in half-width columns (a CJK character takes two).
const LABEL_COLUMNS: usize = 16;

/// One horizontal bar chart.
pub struct Chart {
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub legend: Vec<LegendItem>,
    pub rows: Vec<ChartRow>,
}

pub struct LegendItem {
    pub label: &'static str,
    pub class: &'static str,
    pub x: u32,
}

pub struct ChartRow {
    pub label: String,
    pub label_y: u32,
    pub bars: Vec<Bar>,
}

pub struct Bar {
    pub class: &'static str,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub value: String,
    pub value_x: u32,
    pub value_y: u32,
}

/// A series: its legend label and the CSS class its bars are drawn with.
pub type Series = (&'static str, &'static str);

/// Lays out `rows` (a label and one `(value, shown text)` per series) as horizontal bars,
/// all on one scale. Negative values draw as empty bars; their text still shows.
pub fn horizontal(
    title: String,
    series: &[Series],
    rows: Vec<(String, Vec<(f64, String)>)>,
) -> Chart {
    let max = rows
        .iter()
        .flat_map(|(_, values)| values.iter().map(|(v, _)| *v))
        .fold(0.0_f64, f64::max);
    let span = f64::from(WIDTH - LABEL_WIDTH - VALUE_WIDTH);
    let legend_height = if series.len() > 1 { LEGEND_HEIGHT } else { 0 };
    let row_height = series.len() as u32 * (BAR_HEIGHT + BAR_GAP) + ROW_GAP;
    let mut y = legend_height;
    let mut drawn = Vec::new();
    for (label, values) in rows {
        let top = y;
        let bars = values
            .into_iter()
            .zip(series)
            .enumerate()
            .map(|(i, ((value, text), (_, class)))| {
                let width = if max > 0.0 && value > 0.0 {
                    ((value / max) * span).round().max(1.0) as u32
                } else {
                    0
                };
                let bar_y = top + i as u32 * (BAR_HEIGHT + BAR_GAP);
                Bar {
                    class,
                    x: LABEL_WIDTH,
                    y: bar_y,
                    width,
                    height: BAR_HEIGHT,
                    value: text,
                    value_x: LABEL_WIDTH + width + 6,
                    value_y: bar_y + BAR_HEIGHT - 3,
                }
            })
            .collect();
        drawn.push(ChartRow {
            label: shorten(&label),
            label_y: top + (row_height - ROW_GAP) / 2 + 5,
            bars,
        });
        y += row_height;
    }
    let legend = series
        .iter()
        .enumerate()
        .map(|(i, (label, class))| LegendItem {
            label,
            class,
            x: LABEL_WIDTH + i as u32 * 100,
        })
        .collect();
    Chart {
        title,
        width: WIDTH,
        height: y.max(legend_height + ROW_GAP),
        legend,
        rows: drawn,
    }
}

/// A label cut to fit the label column, with an ellipsis when cut.
fn shorten(label: &str) -> String {
    let mut columns = 0;
    let mut out = String::new();
    for c in label.chars() {
        columns += if c.is_ascii() { 1 } else { 2 };
        if columns > LABEL_COLUMNS {
            out.push('…');
            return out;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_share_one_scale() {
        let chart = horizontal(
            "t".into(),
            &[("cost", "a"), ("revenue", "b")],
            vec![
                (
                    "展会".into(),
                    vec![(100.0, "100".into()), (400.0, "400".into())],
                ),
                (
                    "SEM".into(),
                    vec![(200.0, "200".into()), (-5.0, "-5".into())],
                ),
            ],
        );
        let widest = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
        assert_eq!(chart.rows[0].bars[1].width, widest);
        assert_eq!(chart.rows[0].bars[0].width, widest / 4);
        assert_eq!(chart.rows[1].bars[0].width, widest / 2);
        assert_eq!(chart.rows[1].bars[1].width, 0);
        assert!(chart.rows[1].bars[0].y > chart.rows[0].bars[1].y);
        assert!(chart.height >= chart.rows[1].bars[1].y + BAR_HEIGHT);
    }

    #[test]
    fn all_zero_draws_no_bars_and_long_labels_are_cut() {
        let chart = horizontal(
            "t".into(),
            &[("leads", "a")],
            vec![(
                "一个非常非常非常非常长的活动名称".into(),
                vec![(0.0, "0".into())],
            )],
        );
        assert_eq!(chart.rows[0].bars[0].width, 0);
        assert!(chart.rows[0].label.ends_with('…'));
        assert!(chart.rows[0].label.chars().count() <= LABEL_COLUMNS / 2 + 1);
    }
}
