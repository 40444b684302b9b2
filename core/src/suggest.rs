//! "Did you mean" suggestions.

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_norm = input.replace('-', "_").to_ascii_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(&input_norm, candidate);
        let better = match best {
            None => true,
            Some((s, c)) => score > s || (score == s && candidate < c),
        };
        if better {
            best = Some((score, candidate));
        }
    }
    best.filter(|(score, _)| *score >= 0.8).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_names_only() {
        let names = ["cargo", "npm", "ros_jazzy", "pixi"];
        assert_eq!(closest("ros-jazy", names), Some("ros_jazzy"));
        assert_eq!(closest("carg", names), Some("cargo"));
        assert_eq!(closest("kubernetes", names), None);
    }
}
