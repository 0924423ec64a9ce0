//! Expected failures, one line per case with its reason, as sqllogictest keeps expectations:
//! a run passes when exactly the listed cases fail.

use std::collections::BTreeMap;

/// Case key (everything before the last tab of a line) to the reason the case fails.
pub struct Baseline(BTreeMap<String, String>);

impl Baseline {
    pub fn parse(text: &str) -> Baseline {
        Baseline(
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.rsplit_once('\t'))
                .map(|(key, reason)| (key.trim().to_string(), reason.trim().to_string()))
                .collect(),
        )
    }

    pub fn reason(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Prints the cases that differ from the baseline; true when none does. `outcomes` maps each
    /// case run to its failure, or `None` when it passed.
    pub fn check(&self, what: &str, outcomes: &BTreeMap<String, Option<String>>) -> bool {
        let mut differences = 0;
        for (case, outcome) in outcomes {
            match (outcome, self.0.get(case)) {
                (Some(failure), None) => {
                    differences += 1;
                    println!("  NEW FAILURE {case}\t{}", first_line(failure));
                }
                (None, Some(_)) => {
                    differences += 1;
                    println!("  NOW PASSES (remove from the baseline) {case}");
                }
                _ => {}
            }
        }
        for case in self.0.keys().filter(|case| !outcomes.contains_key(*case)) {
            differences += 1;
            println!("  NOT IN THE CORPUS (remove from the baseline) {case}");
        }
        println!("{what}: {} expected failures in the baseline, {differences} differences from it", self.0.len());
        differences == 0
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().chars().take(200).collect()
}
