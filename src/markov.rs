//! The data-driven attribution model (`model=markov`): a first-order Markov chain over the
//! campaigns of the report's journeys, and each campaign's removal effect, solved exactly.
//!
//! # The chain
//!
//! States are `start`, one per campaign that some journey touches, `conv` and `null`. A
//! journey c1 → … → ck (consecutive repeats of one campaign already one step) adds one
//! count to start → c1, to each ci → ci+1 and to ck → conv (it converted) or ck → null.
//! Transition probabilities are each state's counts over its outgoing total. Every campaign
//! state lies on an observed journey that ends in `conv` or `null`, so the chain is
//! absorbing: from every state absorption is certain, and `I − Q` (Q: the transitions among
//! campaign states) is a non-singular M-matrix.
//!
//! # Removal effects without one solve per campaign
//!
//! Let `h(s)` be the probability of reaching `conv` from state `s`, the solution of
//! `(I − Q) h = r` with `r(s) = P(s → conv)`; then `P = Σ_c π(c) h(c)` with `π(c) = P(start → c)`.
//! Removing `c` sends every transition into `c` to `null`. A path that never visits `c` is
//! unchanged; a path that does is cut at its first visit, and by the strong Markov property
//! what it would have done from there on converts with probability `h(c)`. So
//!
//! ```text
//! P₋c = P − f_c · h(c),     RE(c) = 1 − P₋c / P = f_c · h(c) / P
//! ```
//!
//! with `f_c` the probability of ever visiting `c` from `start`. With `N = (I − Q)⁻¹` the
//! fundamental matrix, the expected number of visits to `c` from `start` is
//! `v(c) = (πᵀ N)(c)` (one transposed solve), and every visit to `c` is followed by
//! `N[c][c]` visits on average (the first one included), so `v(c) = f_c · N[c][c]` and
//! `f_c = v(c) / N[c][c]`. What remains is the diagonal of `N`.
//!
//! A return to `c` never leaves the strongly connected component (SCC) of `c`, so
//! `N[c][c]` is the diagonal entry of `(I − Q_S)⁻¹` for `c`'s component `S` alone, and the
//! two solves for `h` and `v` go component by component in topological order (downstream
//! first for `h`, upstream first for `v`), each a dense solve with the component's LU
//! factors. A component of one campaign (no self-loops: repeats are collapsed) needs no
//! algebra at all: `N[c][c] = 1`. For a larger one, `I − Q_S = L U` and
//! `N_S = U⁻¹ L⁻¹`, so `N[c][c] = Σ_{m ≥ c} (U⁻¹)[c][m] (L⁻¹)[m][c]`.
//!
//! The factorisation is the Grassmann–Taksar–Heyman variant of Gaussian elimination: each
//! pivot is the sum of the probabilities of leaving the state (to an absorbing state, another
//! component, or a not yet eliminated state of its own) rather than `1 − p(s, s)`, which
//! makes every step a sum of non-negative terms — L and U have non-positive off-diagonals,
//! their inverses are non-negative, and nothing cancels, so nearly closed loops (returns
//! with probability near 1) keep full relative precision.
//!
//! Cost: counting the transitions is linear in the journeys' steps, the components
//! (Tarjan) are linear in the distinct transitions, and the algebra is O(Σ |S|³) over the
//! components — at most (campaigns)³ / 1.5 multiply-adds when every campaign is in one loop,
//! against (campaigns)⁴ for one solve per campaign.
//!
//! # Determinism
//!
//! States are numbered by their first appearance in the journeys (which the store hands
//! over in a fixed order), transitions are sorted, and every sum runs in that order: the
//! same data gives the same bits on every run, and renaming campaigns — which reorders the
//! report's campaign list but not the journeys — changes no arithmetic at all, so the
//! credit moves with the names exactly.

/// Absent: a campaign that no journey touches has no state.
const NONE: u32 = u32::MAX;

/// The journeys' campaign sequences in one flat buffer (four bytes a step), as the store
/// reads the non-converting contacts' touches: consecutive repeats collapsed, empty journeys
/// left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    steps: Vec<u32>,
    /// End of each journey in `steps`, and whether it converted.
    ends: Vec<(u32, bool)>,
}

impl Paths {
    /// Adds one journey: the campaigns of its touches, oldest first.
    pub fn push(&mut self, campaigns: impl IntoIterator<Item = usize>, converted: bool) {
        let begin = self.steps.len();
        for campaign in campaigns {
            // Campaign indexes are positions in the store's campaign list; one past u32
            // (impossible in practice) becomes an index no chain knows, so it is skipped.
            let campaign = u32::try_from(campaign).unwrap_or(NONE - 1);
            if self.steps.len() == begin || self.steps.last() != Some(&campaign) {
                self.steps.push(campaign);
            }
        }
        if self.steps.len() > begin {
            self.ends.push((self.steps.len() as u32, converted));
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each journey's campaigns and whether it converted, in the order they were pushed.
    pub fn iter(&self) -> impl Iterator<Item = (&[u32], bool)> + '_ {
        let mut begin = 0;
        self.ends.iter().map(move |&(end, converted)| {
            let steps = &self.steps[begin..end as usize];
            begin = end as usize;
            (steps, converted)
        })
    }
}

/// The chain's counts, added to journey by journey, then solved once.
#[derive(Debug, Clone)]
pub struct Chain {
    /// campaign index -> state, `NONE` if no journey touched it yet.
    state_of: Vec<u32>,
    /// state -> campaign index.
    campaign_of: Vec<u32>,
    /// Per state: journeys that started there, ended there converted, ended there not.
    starts: Vec<u64>,
    convs: Vec<u64>,
    nulls: Vec<u64>,
    /// One entry per campaign → campaign step: `from << 32 | to`.
    steps: Vec<u64>,
    journeys: u64,
}

/// What the chain says about each campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovalEffects {
    /// P: the probability of reaching `conv` from `start`.
    pub conversion_probability: f64,
    /// RE(c) by campaign index (0 for a campaign no journey touches), each in [0, 1].
    pub effects: Vec<f64>,
    /// Journeys the chain was built from.
    pub journeys: u64,
}

impl Chain {
    /// A chain over campaigns `0..campaigns`.
    pub fn new(campaigns: usize) -> Chain {
        Chain {
            state_of: vec![NONE; campaigns],
            campaign_of: Vec::new(),
            starts: Vec::new(),
            convs: Vec::new(),
            nulls: Vec::new(),
            steps: Vec::new(),
            journeys: 0,
        }
    }

    /// Adds one journey: the campaigns of its touches, oldest first (consecutive repeats
    /// count as one step; an index outside the chain's campaigns is skipped). A journey
    /// without a campaign adds nothing: it would go start → conv/null directly, which
    /// scales every removal effect alike and changes no credit.
    pub fn add(&mut self, campaigns: impl IntoIterator<Item = usize>, converted: bool) {
        let mut previous = NONE;
        for campaign in campaigns {
            let Some(&known) = self.state_of.get(campaign) else {
                continue;
            };
            let state = if known == NONE {
                let state = self.campaign_of.len() as u32;
                self.state_of[campaign] = state;
                self.campaign_of.push(campaign as u32);
                self.starts.push(0);
                self.convs.push(0);
                self.nulls.push(0);
                state
            } else {
                known
            };
            if previous == NONE {
                self.starts[state as usize] += 1;
            } else if previous != state {
                self.steps
                    .push(u64::from(previous) << 32 | u64::from(state));
            }
            previous = state;
        }
        if previous != NONE {
            self.journeys += 1;
            let ends = if converted {
                &mut self.convs
            } else {
                &mut self.nulls
            };
            ends[previous as usize] += 1;
        }
    }

    /// Adds every journey of `paths`.
    pub fn add_paths(&mut self, paths: &Paths) {
        for (steps, converted) in paths.iter() {
            self.add(steps.iter().map(|&c| c as usize), converted);
        }
    }

    /// P and every campaign's removal effect (see the module's documentation).
    pub fn solve(mut self) -> RemovalEffects {
        let campaigns = self.state_of.len();
        let states = self.campaign_of.len();
        let total_conv: u64 = self.convs.iter().sum();
        if states == 0 || total_conv == 0 {
            return RemovalEffects {
                conversion_probability: 0.0,
                effects: vec![0.0; campaigns],
                journeys: self.journeys,
            };
        }
        let graph = Graph::new(&mut self.steps, states);
        let out: Vec<u64> = (0..states)
            .map(|s| self.convs[s] + self.nulls[s] + graph.out_count(s))
            .collect();
        let probability = |s: usize, count: u64| count as f64 / out[s] as f64;
        let components = graph.components();
        let mut component_of = vec![0_u32; states];
        let mut local = vec![0_u32; states];
        for (id, members) in components.iter().enumerate() {
            for (i, &s) in members.iter().enumerate() {
                component_of[s as usize] = id as u32;
                local[s as usize] = i as u32;
            }
        }
        let mut factors: Vec<Option<Factors>> = components
            .iter()
            .enumerate()
            .map(|(id, members)| {
                (members.len() > 1).then(|| {
                    Factors::new(members, |s, within| {
                        let mut exit = out[s];
                        for (t, count) in graph.edges(s) {
                            if component_of[t] == id as u32 {
                                within(local[t] as usize, probability(s, count));
                                exit -= count;
                            }
                        }
                        probability(s, exit)
                    })
                })
            })
            .collect();

        // h: downstream components first (Tarjan's order).
        let mut h = vec![0.0_f64; states];
        for (id, members) in components.iter().enumerate() {
            let mut b: Vec<f64> = members
                .iter()
                .map(|&s| {
                    let s = s as usize;
                    let mut sum = probability(s, self.convs[s]);
                    for (t, count) in graph.edges(s) {
                        if component_of[t] != id as u32 {
                            sum += probability(s, count) * h[t];
                        }
                    }
                    sum
                })
                .collect();
            if let Some(f) = &factors[id] {
                f.solve(&mut b);
            }
            for (&s, value) in members.iter().zip(b) {
                h[s as usize] = value;
            }
        }

        // v: expected visits from start, upstream components first.
        let journeys = self.journeys as f64;
        let mut v: Vec<f64> = self.starts.iter().map(|&n| n as f64 / journeys).collect();
        let mut visits_per_visit = vec![1.0_f64; states];
        for (id, members) in components.iter().enumerate().rev() {
            let mut c: Vec<f64> = members.iter().map(|&s| v[s as usize]).collect();
            // The last use of the component's factors: the diagonal overwrites them.
            if let Some(f) = factors[id].take() {
                f.solve_transposed(&mut c);
                for (&s, n) in members.iter().zip(f.into_inverse_diagonal()) {
                    visits_per_visit[s as usize] = n;
                }
            }
            for (&s, value) in members.iter().zip(c) {
                let s = s as usize;
                v[s] = value;
                for (t, count) in graph.edges(s) {
                    if component_of[t] != id as u32 {
                        v[t] += value * probability(s, count);
                    }
                }
            }
        }

        let p: f64 = (0..states)
            .map(|s| self.starts[s] as f64 / journeys * h[s])
            .sum();
        let mut effects = vec![0.0; campaigns];
        if p > 0.0 {
            for s in 0..states {
                let reach = v[s] / visits_per_visit[s];
                let effect = (reach * h[s] / p).clamp(0.0, 1.0);
                effects[self.campaign_of[s] as usize] = effect;
            }
        }
        RemovalEffects {
            conversion_probability: p,
            effects,
            journeys: self.journeys,
        }
    }
}

/// The campaign → campaign transitions, counted and in compressed rows.
struct Graph {
    offsets: Vec<usize>,
    targets: Vec<u32>,
    counts: Vec<u64>,
}

impl Graph {
    fn new(steps: &mut [u64], states: usize) -> Graph {
        steps.sort_unstable();
        let mut offsets = vec![0_usize; states + 1];
        let mut targets = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        let mut last = None;
        for &step in steps.iter() {
            if last == Some(step) {
                *counts.last_mut().expect("a counted step") += 1;
                continue;
            }
            last = Some(step);
            offsets[(step >> 32) as usize + 1] += 1;
            targets.push(step as u32);
            counts.push(1);
        }
        for s in 0..states {
            offsets[s + 1] += offsets[s];
        }
        Graph {
            offsets,
            targets,
            counts,
        }
    }

    /// State `s`'s transitions to other campaigns, by target state.
    fn edges(&self, s: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        let range = self.offsets[s]..self.offsets[s + 1];
        self.targets[range.clone()]
            .iter()
            .zip(&self.counts[range])
            .map(|(&t, &n)| (t as usize, n))
    }

    fn out_count(&self, s: usize) -> u64 {
        self.counts[self.offsets[s]..self.offsets[s + 1]]
            .iter()
            .sum()
    }

    /// Strongly connected components (Tarjan, without recursion), downstream ones first;
    /// members of each in ascending state order.
    fn components(&self) -> Vec<Vec<u32>> {
        let n = self.offsets.len() - 1;
        let mut index = vec![NONE; n];
        let mut low = vec![0_u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        let mut calls: Vec<(u32, usize)> = Vec::new();
        let mut next = 0_u32;
        let mut components = Vec::new();
        for root in 0..n {
            if index[root] != NONE {
                continue;
            }
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root as u32);
            on_stack[root] = true;
            calls.push((root as u32, self.offsets[root]));
            while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
                let v = v as usize;
                if *pos < self.offsets[v + 1] {
                    let w = self.targets[*pos] as usize;
                    *pos += 1;
                    if index[w] == NONE {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w as u32);
                        on_stack[w] = true;
                        calls.push((w as u32, self.offsets[w]));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    let parent = parent as usize;
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut members = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w as usize] = false;
                        members.push(w);
                        if w as usize == v {
                            break;
                        }
                    }
                    members.sort_unstable();
                    components.push(members);
                }
            }
        }
        components
    }
}

/// `I − Q_S = L U` for one component, by GTH elimination in member order.
///
/// `a` is m×m row-major: below the diagonal the multipliers `f[i][j]` (L = I − f), above it
/// the eliminated transition probabilities `p[i][j]` (U = diag(d) − p); the diagonal is not
/// used (a pivot is recomputed from what leaves the state, never from `1 − p(s, s)`).
struct Factors {
    m: usize,
    a: Vec<f64>,
    pivots: Vec<f64>,
}

impl Factors {
    /// `row(s, within)` calls `within(local target, probability)` for each transition of
    /// state `s` inside the component and returns the probability of leaving it.
    fn new(members: &[u32], mut row: impl FnMut(usize, &mut dyn FnMut(usize, f64)) -> f64) -> Self {
        let m = members.len();
        let mut a = vec![0.0_f64; m * m];
        let mut exit = vec![0.0_f64; m];
        for (i, &s) in members.iter().enumerate() {
            let cells = &mut a[i * m..(i + 1) * m];
            exit[i] = row(s as usize, &mut |t, p| cells[t] += p);
        }
        let mut pivots = vec![0.0_f64; m];
        for j in 0..m {
            let (upper, lower) = a.split_at_mut((j + 1) * m);
            let pivot_row = &upper[j * m..];
            // Leaving j: out of the component (exit), or to a state not yet eliminated.
            let d = exit[j] + pivot_row[j + 1..].iter().sum::<f64>();
            let d = d.max(f64::MIN_POSITIVE);
            pivots[j] = d;
            for (i, row) in lower.chunks_exact_mut(m).enumerate() {
                let i = j + 1 + i;
                let into_j = row[j];
                if into_j == 0.0 {
                    continue;
                }
                let f = into_j / d;
                row[j] = f;
                for (x, &y) in row[j + 1..].iter_mut().zip(&pivot_row[j + 1..]) {
                    *x += f * y;
                }
                exit[i] += f * exit[j];
            }
        }
        Factors { m, a, pivots }
    }

    /// Solves `(I − Q_S) x = b` in place: `L y = b` forwards, `U x = y` backwards.
    fn solve(&self, b: &mut [f64]) {
        let m = self.m;
        for i in 0..m {
            let row = &self.a[i * m..i * m + i];
            let sum: f64 = row.iter().zip(&b[..i]).map(|(f, y)| f * y).sum();
            b[i] += sum;
        }
        for i in (0..m).rev() {
            let row = &self.a[i * m + i + 1..(i + 1) * m];
            let sum: f64 = row.iter().zip(&b[i + 1..]).map(|(p, x)| p * x).sum();
            b[i] = (b[i] + sum) / self.pivots[i];
        }
    }

    /// Solves `(I − Q_S)ᵀ x = c` in place: `Uᵀ w = c` forwards, `Lᵀ x = w` backwards, each
    /// value pushed along its factor's row once known (rows are contiguous).
    fn solve_transposed(&self, c: &mut [f64]) {
        let m = self.m;
        for j in 0..m {
            let w = c[j] / self.pivots[j];
            c[j] = w;
            for (target, &p) in c[j + 1..]
                .iter_mut()
                .zip(&self.a[j * m + j + 1..(j + 1) * m])
            {
                *target += p * w;
            }
        }
        for i in (0..m).rev() {
            let x = c[i];
            for (target, &f) in c[..i].iter_mut().zip(&self.a[i * m..i * m + i]) {
                *target += f * x;
            }
        }
    }

    /// The diagonal of `(I − Q_S)⁻¹ = U⁻¹ L⁻¹`: each state's expected visits per visit.
    ///
    /// `X = L⁻¹` row by row (`X_i = e_i + Σ_{j<i} f[i][j] X_j`) and `Y = U⁻¹` row by row
    /// from the bottom (`Y_r = (e_r + Σ_{l>r} p[r][l] Y_l) / d_r`): both are sums of
    /// non-negative rows, contiguous in memory. Then `N[c][c] = Σ_{k≥c} Y[c][k] X[k][c]`.
    ///
    /// Both are built over the factors they replace — X (unit diagonal, not stored) in the
    /// strict lower triangle, Y in the upper one with the unused diagonal — so a component of
    /// 1,000 campaigns needs one 8 MB matrix, not three. Row i of X reads `f[i][j]` for
    /// increasing j, and the update for j only touches columns below j, already read; row r
    /// of Y reads `p[r][l]` for decreasing l, and the update for l only touches columns from
    /// l on, already read (the entry at l itself is cleared first: it is a coefficient, not
    /// part of the sum).
    fn into_inverse_diagonal(mut self) -> Vec<f64> {
        let m = self.m;
        let a = &mut self.a;
        for i in 1..m {
            let (done, rest) = a.split_at_mut(i * m);
            let row = &mut rest[..i];
            for j in 1..i {
                let f = row[j];
                if f == 0.0 {
                    continue;
                }
                for (out, &v) in row[..j].iter_mut().zip(&done[j * m..j * m + j]) {
                    *out += f * v;
                }
            }
        }
        for r in (0..m).rev() {
            let (head, done) = a.split_at_mut((r + 1) * m);
            let row = &mut head[r * m..];
            for l in (r + 1..m).rev() {
                let p = std::mem::take(&mut row[l]);
                if p == 0.0 {
                    continue;
                }
                let from = &done[(l - r - 1) * m..(l - r) * m];
                for (out, &v) in row[l..].iter_mut().zip(&from[l..]) {
                    *out += p * v;
                }
            }
            row[r] = 1.0;
            let d = self.pivots[r];
            for value in &mut row[r..] {
                *value /= d;
            }
        }
        (0..m)
            .map(|c| {
                let below: f64 = (c + 1..m).map(|k| a[c * m + k] * a[k * m + c]).sum();
                a[c * m + c] + below
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn effects(journeys: &[(&[usize], bool)], campaigns: usize) -> RemovalEffects {
        let mut chain = Chain::new(campaigns);
        for (steps, converted) in journeys {
            chain.add(steps.iter().copied(), *converted);
        }
        chain.solve()
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-12, "{actual} vs {expected}");
    }

    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;

    #[test]
    fn a_chain_without_loops_solved_by_hand() {
        // Journeys: A B → conv, A → null, B → conv, C → null.
        // start: A 2/4, B 1/4, C 1/4. A: → B 1/2, → null 1/2. B: → conv 1. C: → null 1.
        // h(B) = 1, h(A) = 1/2 · h(B) = 1/2, h(C) = 0.
        // P = 2/4 · 1/2 + 1/4 · 1 + 1/4 · 0 = 1/2.
        // Without A: start → A goes to null: P₋A = 1/4 · 1 = 1/4, RE(A) = 1 − (1/4)/(1/2) = 1/2.
        // Without B: nothing reaches conv: P₋B = 0, RE(B) = 1.
        // Without C: P₋C = 1/2, RE(C) = 0.
        let re = effects(
            &[(&[A, B], true), (&[A], false), (&[B], true), (&[C], false)],
            4,
        );
        assert_close(re.conversion_probability, 0.5);
        assert_close(re.effects[A], 0.5);
        assert_close(re.effects[B], 1.0);
        assert_close(re.effects[C], 0.0);
        assert_eq!(re.effects[3], 0.0, "a campaign no journey touches");
        assert_eq!(re.journeys, 4);
    }

    #[test]
    fn a_chain_with_a_loop_solved_by_hand() {
        // Journeys: A B A → conv, B A → null, A → null, B → conv.
        // start: A 1/2, B 1/2. A: → B 1/4, → conv 1/4, → null 2/4. B: → A 2/3, → conv 1/3.
        // h(A) = 1/4 h(B) + 1/4 and h(B) = 2/3 h(A) + 1/3: h(A) = 2/5, h(B) = 3/5.
        // P = 1/2 · 2/5 + 1/2 · 3/5 = 1/2.
        // Without A (B → A and start → A go to null): P₋A = 1/2 · 1/3 = 1/6,
        //   RE(A) = 1 − (1/6)/(1/2) = 2/3.
        // Without B (A → B and start → B go to null): P₋B = 1/2 · 1/4 = 1/8,
        //   RE(B) = 1 − (1/8)/(1/2) = 3/4.
        let re = effects(
            &[
                (&[A, B, A], true),
                (&[B, A], false),
                (&[A], false),
                (&[B], true),
            ],
            2,
        );
        assert_close(re.conversion_probability, 0.5);
        assert_close(re.effects[A], 2.0 / 3.0);
        assert_close(re.effects[B], 0.75);
    }

    #[test]
    fn consecutive_repeats_are_one_step() {
        let once = effects(&[(&[A, B], true), (&[A], false)], 2);
        let repeated = effects(&[(&[A, A, B, B, B], true), (&[A, A], false)], 2);
        assert_eq!(once, repeated);
        let mut paths = Paths::default();
        paths.push([A, A, B, A], true);
        paths.push([], false);
        paths.push([C], false);
        let collected: Vec<(Vec<u32>, bool)> = paths.iter().map(|(s, c)| (s.to_vec(), c)).collect();
        assert_eq!(collected, [(vec![0, 1, 0], true), (vec![2], false)]);
        assert_eq!(paths.len(), 2);
    }

    #[test]
    fn no_conversion_means_no_effect() {
        let re = effects(&[(&[A, B], false), (&[B], false)], 2);
        assert_eq!(re.conversion_probability, 0.0);
        assert_eq!(re.effects, [0.0, 0.0]);
        let empty = Chain::new(3).solve();
        assert_eq!(empty.effects, [0.0; 3]);
    }

    #[test]
    fn a_loop_that_almost_never_ends_keeps_its_precision() {
        // A ⇄ B 10^6 times before one conversion: the return probability is within 10^-6
        // of 1, where 1 − p(return) would cancel most of the digits.
        let mut long = vec![A];
        for _ in 0..500_000 {
            long.extend([B, A]);
        }
        let re = effects(&[(&long, true), (&[C], false)], 3);
        // A: → B 500000/500001, → conv 1/500001; B: → A 1. h(A) = h(B) = 1, P = 1/2 (half
        // the journeys start in the loop, which always converts). Without A nothing
        // converts: RE(A) = 1. Without B, A converts only directly:
        // P₋B = 1/2 · 1/500001, RE(B) = 1 − 1/500001.
        assert!((re.conversion_probability - 0.5).abs() < 1e-12);
        assert!((re.effects[A] - 1.0).abs() < 1e-12, "{:?}", re.effects);
        let expected = 500_000.0 / 500_001.0;
        assert!((re.effects[B] - expected).abs() < 1e-12, "{:?}", re.effects);
        assert_eq!(re.effects[C], 0.0);
    }

    /// P₋c the slow way: the chain with transitions into c sent to null, solved by dense
    /// Gaussian elimination with partial pivoting over every campaign state.
    fn removal_effects_by_brute_force(
        journeys: &[(Vec<usize>, bool)],
        campaigns: usize,
    ) -> Vec<f64> {
        let n = campaigns;
        let mut counts = vec![vec![0.0_f64; n + 2]; n + 1]; // rows: start + campaigns; cols: campaigns + conv + null
        for (steps, converted) in journeys {
            let mut steps = steps.clone();
            steps.dedup();
            if steps.is_empty() {
                continue;
            }
            counts[0][steps[0]] += 1.0;
            for w in steps.windows(2) {
                counts[w[0] + 1][w[1]] += 1.0;
            }
            let end = if *converted { n } else { n + 1 };
            counts[steps[steps.len() - 1] + 1][end] += 1.0;
        }
        let probability = |removed: Option<usize>| -> f64 {
            // x(s) = reach conv from campaign s; x = Qx + r.
            let mut m = vec![vec![0.0_f64; n + 1]; n];
            for s in 0..n {
                let total: f64 = counts[s + 1].iter().sum();
                m[s][s] = 1.0;
                if total == 0.0 {
                    continue;
                }
                for t in 0..n {
                    if Some(t) != removed {
                        m[s][t] -= counts[s + 1][t] / total;
                    }
                }
                m[s][n] = counts[s + 1][n] / total;
            }
            for col in 0..n {
                let pivot = (col..n)
                    .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
                    .unwrap();
                m.swap(col, pivot);
                let pivot_row = m[col].clone();
                for (r, row) in m.iter_mut().enumerate() {
                    if r != col {
                        let factor = row[col] / pivot_row[col];
                        for (x, y) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                            *x -= factor * y;
                        }
                    }
                }
            }
            let total: f64 = counts[0].iter().sum();
            (0..n)
                .filter(|&t| Some(t) != removed)
                .map(|t| counts[0][t] / total * m[t][n] / m[t][t])
                .sum()
        };
        let p = probability(None);
        (0..n)
            .map(|c| {
                if p > 0.0 {
                    1.0 - probability(Some(c)) / p
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn any_journeys(campaigns: usize) -> impl Strategy<Value = Vec<(Vec<usize>, bool)>> {
        proptest::collection::vec(
            (proptest::collection::vec(0..campaigns, 1..7), any::<bool>()),
            1..40,
        )
    }

    proptest! {
        #[test]
        fn removal_effects_match_one_solve_per_campaign(journeys in any_journeys(6)) {
            let mut chain = Chain::new(6);
            for (steps, converted) in &journeys {
                chain.add(steps.iter().copied(), *converted);
            }
            let fast = chain.solve();
            let slow = removal_effects_by_brute_force(&journeys, 6);
            for (f, s) in fast.effects.iter().zip(&slow) {
                prop_assert!((f - s).abs() < 1e-9, "{:?} vs {:?}", fast.effects, slow);
            }
        }

        #[test]
        fn removal_effects_match_on_bigger_loops(
            journeys in proptest::collection::vec(
                (proptest::collection::vec(0..12_usize, 1..12), any::<bool>()),
                1..80,
            ),
        ) {
            let mut chain = Chain::new(12);
            for (steps, converted) in &journeys {
                chain.add(steps.iter().copied(), *converted);
            }
            let fast = chain.solve();
            let slow = removal_effects_by_brute_force(&journeys, 12);
            for (f, s) in fast.effects.iter().zip(&slow) {
                prop_assert!((f - s).abs() < 1e-9, "{:?} vs {:?}", fast.effects, slow);
            }
        }

        #[test]
        fn the_same_journeys_give_the_same_bits(journeys in any_journeys(8)) {
            let solve = || {
                let mut chain = Chain::new(8);
                for (steps, converted) in &journeys {
                    chain.add(steps.iter().copied(), *converted);
                }
                chain.solve()
            };
            let (first, second) = (solve(), solve());
            prop_assert_eq!(
                first.effects.iter().map(|e| e.to_bits()).collect::<Vec<_>>(),
                second.effects.iter().map(|e| e.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
