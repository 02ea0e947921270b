//! The tenant page's chart of recordings stored per day, drawn as SVG on the server: no script,
//! no chart library, nothing loaded from elsewhere.

use chrono::NaiveDate;
use maud::{html, Markup};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
/// Room below the bars for the day labels, and above for the counts.
const AXIS: f64 = 22.0;
const TOP: f64 = 16.0;

/// One bar per day, each with its count above it and a tooltip; every 5th day labelled.
pub fn stored_per_day(days: &[(NaiveDate, i64)]) -> Markup {
    let most = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let slot = WIDTH / days.len().max(1) as f64;
    let plot = HEIGHT - AXIS - TOP;
    let total: i64 = days.iter().map(|(_, n)| n).sum();
    html! {
        svg class="chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-label=(format!("Recordings stored per call day over {} days: {total} in all", days.len())) {
            line class="axis" x1="0" y1=(HEIGHT - AXIS) x2=(WIDTH) y2=(HEIGHT - AXIS) {}
            @for (i, (day, count)) in days.iter().enumerate() {
                @let height = plot * (*count as f64) / most;
                @let x = i as f64 * slot;
                @let top = HEIGHT - AXIS - height;
                g {
                    title { (day.format("%Y-%m-%d")) ": " (count) " stored" }
                    rect class="bar" x=(fmt(x + 2.0)) y=(fmt(top)) width=(fmt(slot - 4.0)) height=(fmt(height)) {}
                    @if *count > 0 {
                        text class="count" x=(fmt(x + slot / 2.0)) y=(fmt(top - 3.0)) text-anchor="middle" { (count) }
                    }
                    @if i % 5 == 0 || i + 1 == days.len() {
                        text class="day" x=(fmt(x + slot / 2.0)) y=(fmt(HEIGHT - 6.0)) text-anchor="middle" { (day.format("%m-%d")) }
                    }
                }
            }
        }
    }
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let svg = stored_per_day(&[(day(1), 0), (day(2), 4), (day(3), 2)]).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("2026-12-02: 4 stored"), "{svg}");
        // The busiest day fills the plot (180 - 22 - 16 = 142), the half-as-busy one half of it.
        assert!(svg.contains("height=\"142.0\""), "{svg}");
        assert!(svg.contains("height=\"71.0\""), "{svg}");
        assert!(svg.contains("6 in all"), "{svg}");
    }
}
