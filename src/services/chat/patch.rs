//! A fix the model proposes: the unified diff in its answer (a ```diff block, or bare `---`/`@@`
//! lines), made well-formed, and applied to the run's Python code by `diffy`. Models miscount
//! the lines of their hunks and misplace them, so each hunk header's counts are recomputed from
//! its lines, and `diffy` finds the hunk by its context wherever it is in the file.

/// The first unified diff in `answer`, with its hunk headers recounted; `None` when the answer
/// has no hunk.
pub fn extract(answer: &str) -> Option<String> {
    let candidates = fenced_blocks(answer)
        .into_iter()
        .chain(std::iter::once(answer.to_string()));
    for text in candidates {
        if let Some(d) = normalize(&text) {
            return Some(d);
        }
    }
    None
}

/// The bodies of the answer's fenced code blocks, in order.
fn fenced_blocks(answer: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in answer.lines() {
        let fence = line.trim_start().starts_with("```");
        match (&mut current, fence) {
            (None, true) => current = Some(Vec::new()),
            (Some(body), true) => {
                out.push(body.join("\n") + "\n");
                current = None;
            }
            (Some(body), false) => body.push(line),
            (None, false) => {}
        }
    }
    out
}

/// `text` from its first `---`/`@@` line, as a diff whose hunk headers count their lines.
fn normalize(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("--- ") || l.starts_with("@@"))?;
    let mut out = String::new();
    let mut i = start;
    let mut hunks = 0;
    // the file headers, if any
    while i < lines.len() && (lines[i].starts_with("--- ") || lines[i].starts_with("+++ ")) {
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    while i < lines.len() && lines[i].starts_with("@@") {
        let (old_start, new_start) = starts(lines[i]);
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("@@") {
            let l = lines[i];
            if l.starts_with(' ') || l.starts_with('-') || l.starts_with('+') || l.is_empty() {
                body.push(if l.is_empty() { " " } else { l });
                i += 1;
            } else if l.starts_with('\\') {
                i += 1;
            } else {
                break;
            }
        }
        // a blank line that ends the block is not a context line
        while body.last() == Some(&" ") {
            body.pop();
        }
        let old = body.iter().filter(|l| !l.starts_with('+')).count();
        let new = body.iter().filter(|l| !l.starts_with('-')).count();
        if body.iter().all(|l| l.starts_with(' ')) {
            break;
        }
        out.push_str(&format!("@@ -{old_start},{old} +{new_start},{new} @@\n"));
        for l in body {
            out.push_str(l);
            out.push('\n');
        }
        hunks += 1;
        if i < lines.len() && !lines[i].starts_with("@@") {
            break;
        }
    }
    (hunks > 0).then_some(out)
}

/// The old and new start lines of a hunk header (`@@ -12,4 +12,5 @@`); 1 when it has none.
fn starts(header: &str) -> (usize, usize) {
    let num = |sign: char| {
        header
            .split_whitespace()
            .find_map(|w| w.strip_prefix(sign))
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse::<usize>().ok())
            .map(|n| n.max(1))
            .unwrap_or(1)
    };
    (num('-'), num('+'))
}

/// `diff` applied to `code`: the patched code, or why it does not apply.
pub fn apply(code: &str, diff: &str) -> Result<String, String> {
    let patch = diffy::Patch::from_str(diff).map_err(|e| format!("the diff is malformed: {e}"))?;
    if patch.hunks().is_empty() {
        return Err("the diff has no hunk".into());
    }
    // diffy matches whole lines: the code's last line needs its newline
    let mut base = code.to_string();
    if !base.ends_with('\n') {
        base.push('\n');
    }
    diffy::apply(&base, &patch).map_err(|e| {
        format!("{e}: its context and removed lines are not in the Python code as they stand")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "import pandas as pd\n\ndef run_strategy(df):\n    df['ema_fast'] = df['close'].ewm(span=21, adjust=False).mean()\n    return df\n";

    #[test]
    fn a_fenced_diff_with_miscounted_misplaced_hunks_applies() {
        let answer = "The seed differs.\n\n```diff\n--- a/strategy.py\n+++ b/strategy.py\n@@ -40,9 +40,9 @@\n def run_strategy(df):\n-    df['ema_fast'] = df['close'].ewm(span=21, adjust=False).mean()\n+    df['ema_fast'] = df['close'].ewm(span=21, adjust=False, min_periods=21).mean()\n     return df\n```\nTry it.";
        let d = extract(answer).expect("a diff");
        assert!(d.contains("@@ -40,3 +40,3 @@"), "{d}");
        let patched = apply(CODE, &d).unwrap();
        assert!(patched.contains("min_periods=21"), "{patched}");
        assert!(!patched.contains("adjust=False).mean()"), "{patched}");
    }

    #[test]
    fn an_answer_without_a_hunk_or_with_foreign_context_gives_no_patch() {
        assert_eq!(
            extract("No change is needed.\n```python\nprint(1)\n```"),
            None
        );
        let d = extract("@@\n-    return frame\n+    return frame.copy()\n").unwrap();
        let e = apply(CODE, &d).unwrap_err();
        assert!(e.contains("not in the Python code"), "{e}");
    }
}
