//! Kubernetes resource quantities (`250m`, `1.5`, `512Mi`, `2G`, `1e3`)
//! read into plain numbers. An unreadable quantity counts as 0: it only
//! feeds the requested-vs-allocatable columns.

/// CPU in millicores: `250m` → 250, `2` → 2000, `0.5` → 500.
pub fn cpu_millis(text: &str) -> u64 {
    scaled(text, 1000.0)
}

/// Memory in bytes: `512Mi` → 536870912, `2G` → 2000000000, `1024` → 1024.
pub fn bytes(text: &str) -> u64 {
    scaled(text, 1.0)
}

fn scaled(text: &str, unit: f64) -> u64 {
    let text = text.trim();
    const SUFFIXES: [(&str, f64); 14] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| Some((text.strip_suffix(suffix)?, *factor)))
        .unwrap_or((text, 1.0));
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => (value * factor * unit).round() as u64,
        _ => 0,
    }
}

/// Bytes for people: `512Mi`, `7.6Gi`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["", "Ki", "Mi", "Gi", "Ti"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 || value.fract() < 0.05 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// Millicores for people: `250m`, `2`, `3.5`.
pub fn format_cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        format!("{}", millis / 1000)
    } else if millis < 1000 {
        format!("{millis}m")
    } else {
        format!("{:.1}", millis as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        assert_eq!(cpu_millis("250m"), 250);
        assert_eq!(cpu_millis("2"), 2000);
        assert_eq!(cpu_millis("0.5"), 500);
        assert_eq!(cpu_millis("bogus"), 0);
        assert_eq!(bytes("512Mi"), 512 * 1024 * 1024);
        assert_eq!(bytes("2G"), 2_000_000_000);
        assert_eq!(bytes("1e3"), 1000);
        assert_eq!(bytes("16318712Ki"), 16_318_712 * 1024);
    }

    #[test]
    fn quantities_print_short() {
        assert_eq!(format_bytes(512 * 1024 * 1024), "512Mi");
        assert_eq!(format_bytes(16_318_712 * 1024), "15.6Gi");
        assert_eq!(format_cpu(250), "250m");
        assert_eq!(format_cpu(4000), "4");
        assert_eq!(format_cpu(3500), "3.5");
    }
}
