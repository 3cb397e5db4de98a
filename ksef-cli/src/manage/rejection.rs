//! How a rejected invoice is shown: KSeF's status code, its description, then each detail line
//! (KSeF names the element, line or field there, e.g. "Dokument nie jest poprawnym XML: ... 3:7"
//! or a missing `P_2`), so the user sees what to fix without `-v`.

/// The human text of a rejection: `rejected: CODE DESCRIPTION`, then one indented `- DETAIL`
/// line per detail KSeF gave. Empty details are skipped.
pub(crate) fn format_rejection<I, S>(code: i64, description: &str, details: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = format!("rejected: {code} {}", description.trim());
    for d in details {
        let d = d.as_ref().trim();
        if !d.is_empty() {
            out.push_str("\n    - ");
            out.push_str(d);
        }
    }
    out
}

/// The details of a journal row, stored joined by `"; "` (see `send.rs`), split back into lines.
pub(crate) fn journal_details(joined: Option<&str>) -> Vec<&str> {
    joined.map(|s| s.split("; ").filter(|l| !l.trim().is_empty()).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_description_and_one_line_per_detail() {
        let s = format_rejection(
            450,
            "Błąd weryfikacji semantyki dokumentu faktury",
            ["Element P_2: wartość pusta.", " ", "Wiersz 3: brak P_7"],
        );
        assert_eq!(
            s,
            "rejected: 450 Błąd weryfikacji semantyki dokumentu faktury\n    - Element P_2: wartość pusta.\n    - Wiersz 3: brak P_7"
        );
    }

    #[test]
    fn journal_details_round_trip() {
        assert_eq!(journal_details(Some("a; b c")), vec!["a", "b c"]);
        assert!(journal_details(None).is_empty());
        assert!(journal_details(Some("")).is_empty());
    }
}
