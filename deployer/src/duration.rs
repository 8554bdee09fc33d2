//! Durations as people write them on the command line: `90s`, `10m`, `2h`, `1d`, or `0`
//! (`--lock-timeout`, and `logs --since`).

use std::time::Duration;

/// `90s`, `10m`, `2h`, `1d`, or `0`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text.len().saturating_sub(1);
    let (digits, unit) = (
        text.get(..split).unwrap_or(""),
        text.get(split..).unwrap_or(""),
    );
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if seconds > 0 => Ok(Duration::from_secs(n.saturating_mul(seconds))),
        _ => Err(format!(
            "{text:?} is not a duration: use a number and a unit, such as 90s, 10m, 2h or 1d"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_zero_and_refuse_the_rest() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "m", "-1m", "1.5m", "10 m", "5w"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
