//! A line diff for `rotgen build --check`: Myers' O(ND) algorithm in linear space (the
//! middle-snake bisection), printed as a unified diff with three lines of context.
//!
//! Committed templates are usually one edit away from what the spec generates, so D is
//! small and the diff is close to linear. A range whose edit distance passes
//! [`MAX_COST`] is reported as replaced whole rather than searched further, which keeps
//! the worst case (two unrelated files) bounded.

use std::collections::HashMap;
use std::fmt::Write;

/// Lines of unchanged context around each change.
const CONTEXT: usize = 3;

/// The edit distance past which a range is reported as replaced whole.
const MAX_COST: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// A unified diff from `old` to `new`, or `None` when they are equal.
pub fn unified<'a>(old: &'a str, new: &'a str, old_name: &str, new_name: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    // Lines as numbers: comparisons in the search are then integer compares.
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut numbered = |lines: &Vec<&'a str>| -> Vec<u32> {
        let mut out = Vec::with_capacity(lines.len());
        for &line in lines {
            let next = ids.len() as u32;
            out.push(*ids.entry(line).or_insert(next));
        }
        out
    };
    let ai = numbered(&a);
    let bi = numbered(&b);
    let mut ops = Vec::with_capacity(a.len().max(b.len()));
    diff(&ai, &bi, &mut ops);

    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    for hunk in hunks(&ops) {
        write_hunk(
            &mut out,
            &ops[hunk.clone()],
            position(&ops, hunk.start),
            &a,
            &b,
        );
    }
    Some(out)
}

/// The old and new line indexes at which `ops[index]` starts.
fn position(ops: &[Op], index: usize) -> (usize, usize) {
    ops[..index].iter().fold((0, 0), |(x, y), op| match op {
        Op::Equal => (x + 1, y + 1),
        Op::Delete => (x + 1, y),
        Op::Insert => (x, y + 1),
    })
}

/// The ranges of `ops` printed as hunks: each change with its context, changes closer
/// than twice the context merged.
fn hunks(ops: &[Op]) -> Vec<std::ops::Range<usize>> {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        if ops[i] == Op::Equal {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < ops.len() && ops[end] != Op::Equal {
            end += 1;
        }
        let start = i.saturating_sub(CONTEXT);
        let stop = (end + CONTEXT).min(ops.len());
        match ranges.last_mut() {
            Some(last) if start <= last.end => last.end = stop,
            _ => ranges.push(start..stop),
        }
        i = end;
    }
    ranges
}

fn write_hunk(out: &mut String, ops: &[Op], (x0, y0): (usize, usize), a: &[&str], b: &[&str]) {
    let old_len = ops.iter().filter(|o| **o != Op::Insert).count();
    let new_len = ops.iter().filter(|o| **o != Op::Delete).count();
    // An empty side names the line before it, as diff(1) does.
    let start = |pos: usize, len: usize| if len == 0 { pos } else { pos + 1 };
    let _ = writeln!(
        out,
        "@@ -{},{old_len} +{},{new_len} @@",
        start(x0, old_len),
        start(y0, new_len)
    );
    let (mut x, mut y) = (x0, y0);
    for op in ops {
        let (mark, line) = match op {
            Op::Equal => {
                x += 1;
                y += 1;
                (' ', a[x - 1])
            }
            Op::Delete => {
                x += 1;
                ('-', a[x - 1])
            }
            Op::Insert => {
                y += 1;
                ('+', b[y - 1])
            }
        };
        out.push(mark);
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

/// Appends the edit script from `a` to `b` to `ops`.
fn diff(a: &[u32], b: &[u32], ops: &mut Vec<Op>) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a_rest, b_rest) = (&a[prefix..], &b[prefix..]);
    let suffix = a_rest
        .iter()
        .rev()
        .zip(b_rest.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let a_mid = &a_rest[..a_rest.len() - suffix];
    let b_mid = &b_rest[..b_rest.len() - suffix];
    ops.extend(std::iter::repeat_n(Op::Equal, prefix));
    if a_mid.is_empty() || b_mid.is_empty() {
        ops.extend(std::iter::repeat_n(Op::Delete, a_mid.len()));
        ops.extend(std::iter::repeat_n(Op::Insert, b_mid.len()));
    } else if let Some((x, y)) = middle_snake(a_mid, b_mid) {
        diff(&a_mid[..x], &b_mid[..y], ops);
        diff(&a_mid[x..], &b_mid[y..], ops);
    } else {
        ops.extend(std::iter::repeat_n(Op::Delete, a_mid.len()));
        ops.extend(std::iter::repeat_n(Op::Insert, b_mid.len()));
    }
    ops.extend(std::iter::repeat_n(Op::Equal, suffix));
}

/// Where an optimal path from (0, 0) to (n, m) crosses the middle of its cost: a point
/// that splits the problem in two. Both ends differ (the caller trimmed them). `None`
/// when the cost passes [`MAX_COST`].
fn middle_snake(a: &[u32], b: &[u32]) -> Option<(usize, usize)> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max_d = ((n + m + 1) / 2).min(MAX_COST as isize);
    let offset = max_d + 1;
    let width = (2 * max_d + 3) as usize;
    // Furthest x reached on each diagonal k = x - y, forward from the start and (in
    // reversed coordinates) backward from the end; -1 where not reached yet.
    let mut forward = vec![-1isize; width];
    let mut backward = vec![-1isize; width];
    forward[(offset + 1) as usize] = 0;
    backward[(offset + 1) as usize] = 0;
    let delta = n - m;
    let odd = delta % 2 != 0;
    // Diagonals that ran off the grid are not explored again.
    let (mut f_lo, mut f_hi, mut b_lo, mut b_hi) = (0, 0, 0, 0);
    let at = |k: isize| (offset + k) as usize;
    for d in 0..max_d {
        let mut k = -d + f_lo;
        while k <= d - f_hi {
            let mut x = if k == -d || (k != d && forward[at(k - 1)] < forward[at(k + 1)]) {
                forward[at(k + 1)]
            } else {
                forward[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            forward[at(k)] = x;
            if x > n {
                f_hi += 2;
            } else if y > m {
                f_lo += 2;
            } else if odd {
                let kb = delta - k;
                if (-max_d - 1..=max_d + 1).contains(&kb)
                    && backward[at(kb)] != -1
                    && x >= n - backward[at(kb)]
                {
                    return Some((x as usize, y as usize));
                }
            }
            k += 2;
        }
        let mut k = -d + b_lo;
        while k <= d - b_hi {
            let mut x = if k == -d || (k != d && backward[at(k - 1)] < backward[at(k + 1)]) {
                backward[at(k + 1)]
            } else {
                backward[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[(n - x - 1) as usize] == b[(m - y - 1) as usize] {
                x += 1;
                y += 1;
            }
            backward[at(k)] = x;
            if x > n {
                b_hi += 2;
            } else if y > m {
                b_lo += 2;
            } else if !odd {
                let kf = delta - k;
                if (-max_d - 1..=max_d + 1).contains(&kf) && forward[at(kf)] != -1 {
                    let fx = forward[at(kf)];
                    let fy = fx - kf;
                    if fx >= n - x {
                        return Some((fx as usize, fy as usize));
                    }
                }
            }
            k += 2;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies the script to `a` and checks it yields `b`; the number of changed lines.
    fn check(a: &[u32], b: &[u32]) -> usize {
        let mut ops = Vec::new();
        diff(a, b, &mut ops);
        let (mut x, mut y, mut out) = (0, 0, Vec::new());
        for op in &ops {
            match op {
                Op::Equal => {
                    assert_eq!(a[x], b[y]);
                    out.push(a[x]);
                    x += 1;
                    y += 1;
                }
                Op::Delete => x += 1,
                Op::Insert => {
                    out.push(b[y]);
                    y += 1;
                }
            }
        }
        assert_eq!((x, y), (a.len(), b.len()));
        assert_eq!(out, b);
        ops.iter().filter(|o| **o != Op::Equal).count()
    }

    /// The shortest edit script's length, by dynamic programming (for small inputs).
    fn shortest(a: &[u32], b: &[u32]) -> usize {
        let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        a.len() + b.len() - 2 * lcs[0][0]
    }

    #[test]
    fn scripts_are_correct_and_shortest() {
        // A small deterministic generator: many sequences over a 3-letter alphabet.
        let mut seed = 0x2545_f491_u64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for _ in 0..2000 {
            let a: Vec<u32> = (0..next(12)).map(|_| next(3) as u32).collect();
            let b: Vec<u32> = (0..next(12)).map(|_| next(3) as u32).collect();
            assert_eq!(check(&a, &b), shortest(&a, &b), "{a:?} → {b:?}");
        }
    }

    #[test]
    fn prints_a_unified_diff() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\n";
        let diff = unified(old, new, "x (on disk)", "x (from the spec)").unwrap();
        assert_eq!(
            diff,
            "--- x (on disk)\n+++ x (from the spec)\n\
             @@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n\
             @@ -9,3 +9,4 @@\n i\n j\n k\n+l\n"
        );
        assert_eq!(unified(old, old, "x", "y"), None);
        // A missing last newline, and an empty side.
        assert_eq!(
            unified("a", "", "x", "y").unwrap(),
            "--- x\n+++ y\n@@ -1,1 +0,0 @@\n-a\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn unrelated_files_stay_bounded() {
        let a: Vec<u32> = (0..20_000).collect();
        let b: Vec<u32> = (20_000..40_000).collect();
        assert_eq!(check(&a, &b), 40_000);
    }
}
