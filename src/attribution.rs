//! Multi-touch attribution: which of a contact's leads (touches) get credit for a conversion,
//! and how much of it.
//!
//! Pure functions over plain numbers so the ROI roll-up can stay a fold: the caller maps its
//! leads to [`Touch`]es, calls [`attribute`] once per conversion and sums the [`Credit`]s.
//! Credit is kept in integers — [`CREDIT_UNITS`] per whole deal/order and minor units of money —
//! so the parts of one conversion always add back to exactly one conversion and its amount,
//! whatever the model and however the floating-point weights came out.

use crate::error::{Error, Result};

pub const DAY_MS: i64 = 86_400_000;
pub const DEFAULT_LOOKBACK_DAYS: u32 = 90;
pub const DEFAULT_HALF_LIFE_DAYS: f64 = 7.0;
/// Credit units per whole deal/order: fractional orders are kept as exact integers.
pub const CREDIT_UNITS: i64 = 1_000_000;

/// The accepted range of `half_life_days`: short enough to mean "the last touch, mostly",
/// long enough (ten years) to mean "linear, practically", and never zero or negative.
const HALF_LIFE_RANGE: std::ops::RangeInclusive<f64> = 0.01..=3650.0;

/// How a conversion's credit is shared among the touches that count for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    LastTouch,
    FirstTouch,
    Linear,
    TimeDecay {
        half_life_days: f64,
    },
    PositionBased,
    /// Data-driven: each distinct campaign of the journey in proportion to its removal
    /// effect in the report's Markov chain (`crate::markov`). The effects come from all the
    /// report's journeys, so [`attribute_markov`] takes them; on its own (in [`weights`])
    /// the model knows no effects and splits like the contract's all-zero case, equally
    /// over the distinct campaigns.
    Markov,
}

impl Model {
    /// Reads the `model` query parameter: "last_touch" | "first_touch" | "linear" |
    /// "time_decay" | "position_based" | "markov". `time_decay` gets `half_life_days` (callers pass
    /// [`DEFAULT_HALF_LIFE_DAYS`] when the query has none).
    ///
    /// `half_life_days` is checked whatever the model, so a bad `half_life_days=` in a query
    /// is reported even when it would go unused, instead of being silently ignored.
    pub fn parse(name: &str, half_life_days: f64) -> Result<Model> {
        let model = match name {
            "last_touch" => Model::LastTouch,
            "first_touch" => Model::FirstTouch,
            "linear" => Model::Linear,
            "time_decay" => Model::TimeDecay { half_life_days },
            "position_based" => Model::PositionBased,
            "markov" => Model::Markov,
            _ => {
                return Err(Error::invalid(
                    "model",
                    "invalid_model",
                    "model must be one of: last_touch, first_touch, linear, time_decay, \
                     position_based, markov",
                ));
            }
        };
        check_half_life(half_life_days)?;
        Ok(model)
    }

    /// The snake_case name [`Model::parse`] accepts, as echoed in the ROI response.
    pub fn name(self) -> &'static str {
        match self {
            Model::LastTouch => "last_touch",
            Model::FirstTouch => "first_touch",
            Model::Linear => "linear",
            Model::TimeDecay { .. } => "time_decay",
            Model::PositionBased => "position_based",
            Model::Markov => "markov",
        }
    }
}

/// A half-life of 0 or less would divide by zero, NaN would poison every weight, and a huge
/// one is indistinguishable from linear; so only a finite, sensible range is accepted.
fn check_half_life(half_life_days: f64) -> Result<()> {
    if half_life_days.is_finite() && HALF_LIFE_RANGE.contains(&half_life_days) {
        Ok(())
    } else {
        Err(Error::invalid(
            "half_life_days",
            "invalid_half_life_days",
            "half_life_days must be a number from 0.01 to 3650",
        ))
    }
}

/// One lead of a contact: when it was received, its lead id (ULID as u128, breaks ties), and the
/// campaign it belongs to as an index into the caller's campaign list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    pub at_ms: i64,
    pub lead: u128,
    pub campaign: usize,
}

/// The touches that count for a conversion whose moment is `moment_ms`: received at or before the
/// moment and no more than `lookback_days` before it (a touch exactly lookback_days*DAY_MS back
/// counts), sorted by (at_ms, lead).
///
/// The lead id breaks ties so that "first" and "last" touch are the same on every run, whatever
/// order the store handed the leads over in.
pub fn eligible(touches: &[Touch], moment_ms: i64, lookback_days: u32) -> Vec<Touch> {
    // u32::MAX days is ~3.7e17 ms, well inside i64; saturate only against a moment near i64::MIN.
    let earliest = moment_ms.saturating_sub(i64::from(lookback_days) * DAY_MS);
    let mut counted: Vec<Touch> = touches
        .iter()
        .copied()
        .filter(|touch| (earliest..=moment_ms).contains(&touch.at_ms))
        .collect();
    counted.sort_by_key(|touch| (touch.at_ms, touch.lead));
    counted
}

/// Credit weight of each touch (same order as `touches`, which is eligible and sorted), summing to 1.
/// last/first touch: 1 on the last/first; linear 1/n; time decay w = 2^(-age_days/half_life) with
/// age_days = (moment_ms - at_ms)/DAY_MS as a fraction, normalised; position based: 1 touch 100%,
/// 2 touches 50/50, n >= 3: 40% first, 40% last, 20% shared equally by the n-2 middle touches.
/// Empty input → empty output.
pub fn weights(model: Model, touches: &[Touch], moment_ms: i64) -> Vec<f64> {
    let n = touches.len();
    if n == 0 {
        return Vec::new();
    }
    match model {
        Model::LastTouch => all_on(n, n - 1),
        Model::FirstTouch => all_on(n, 0),
        Model::Linear => vec![1.0 / n as f64; n],
        Model::TimeDecay { half_life_days } => time_decay(touches, moment_ms, half_life_days),
        Model::PositionBased => position_based(n),
        Model::Markov => markov_weights(touches, &[]),
    }
}

/// Markov: the removal effect of its campaign on the first touch of each campaign (then
/// normalised), 0 on the campaign's later touches (the credit is per distinct campaign; the first touch carries
/// it so the sales cycle is measured from there). `effects` is indexed by campaign; if no
/// campaign of the journey has a positive effect (or `effects` is empty), each distinct
/// campaign weighs 1 — the contract's linear fallback.
pub fn markov_weights(touches: &[Touch], effects: &[f64]) -> Vec<f64> {
    let mut seen: Vec<usize> = Vec::with_capacity(touches.len());
    let firsts: Vec<bool> = touches
        .iter()
        .map(|touch| {
            let first = !seen.contains(&touch.campaign);
            if first {
                seen.push(touch.campaign);
            }
            first
        })
        .collect();
    let effect = |campaign: usize| {
        effects
            .get(campaign)
            .copied()
            .filter(|e| e.is_finite() && *e > 0.0)
    };
    let any_effect = seen.iter().any(|&c| effect(c).is_some());
    let raw: Vec<f64> = touches
        .iter()
        .zip(firsts)
        .map(|(touch, first)| match (first, any_effect) {
            (false, _) => 0.0,
            (true, true) => effect(touch.campaign).unwrap_or(0.0),
            (true, false) => 1.0,
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|w| w / sum).collect()
}

/// Weight 1 on touch `index`, 0 on the others.
fn all_on(n: usize, index: usize) -> Vec<f64> {
    let mut weights = vec![0.0; n];
    weights[index] = 1.0;
    weights
}

/// 2^(-age/half_life), normalised.
///
/// Ages are measured from the youngest touch rather than from the moment: after normalising the
/// result is the same, but the youngest touch then weighs exactly 1, so a long lookback with a
/// short half-life cannot underflow every weight to 0 and leave nothing to normalise by.
fn time_decay(touches: &[Touch], moment_ms: i64, half_life_days: f64) -> Vec<f64> {
    // `Model::parse` rules these out; a hand-built model degrades to the limit of a tiny
    // half-life (everything to the youngest touch) instead of producing NaN.
    let half_life = if half_life_days > 0.0 {
        half_life_days
    } else {
        f64::MIN_POSITIVE
    };
    let ages: Vec<f64> = touches
        .iter()
        .map(|touch| age_days(moment_ms, touch.at_ms))
        .collect();
    let youngest = ages.iter().copied().fold(f64::INFINITY, f64::min);
    let raw: Vec<f64> = ages
        .iter()
        .map(|age| (-(age - youngest) / half_life).exp2())
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|w| w / sum).collect()
}

/// Days (with fraction) from `at_ms` back from `moment_ms`; i128 so no pair of i64 overflows.
fn age_days(moment_ms: i64, at_ms: i64) -> f64 {
    (i128::from(moment_ms) - i128::from(at_ms)) as f64 / DAY_MS as f64
}

/// 40/20/40, with the 20% shared by the middle touches; 100% for one touch, 50/50 for two.
fn position_based(n: usize) -> Vec<f64> {
    match n {
        1 => vec![1.0],
        2 => vec![0.5, 0.5],
        _ => {
            let mut weights = vec![0.2 / (n - 2) as f64; n];
            weights[0] = 0.4;
            weights[n - 1] = 0.4;
            weights
        }
    }
}

/// Splits a non-negative integer `total` by `weights` so that the parts are non-negative and sum to
/// `total` EXACTLY (largest-remainder method: floor each share, then hand the leftover units one by
/// one to the largest fractional parts, ties to the earlier index; must be robust to f64 error —
/// e.g. weights that sum to 0.9999999 or 1.0000001 — and to totals up to 10^14).
/// Empty weights → empty vec (the caller then credits nobody).
///
/// How it stays exact: the weights are normalised by their own sum (so it does not matter what
/// they add up to) and turned into integers — each weight relative to the largest, in units of
/// 2^-52, which is all the precision an f64 has — after which every share, floor and remainder
/// is computed in u128 integer arithmetic. Equal weights therefore get equal shares, and the
/// leftover is always less than the number of parts and only goes to parts with a remainder.
///
/// Negative, NaN and infinite weights count as 0; if no weight is positive the total is split
/// equally. A negative `total` (a refund, say) is split like its magnitude and negated.
pub fn split(total: i64, weights: &[f64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let magnitude = u128::from(total.unsigned_abs());
    let quanta = quantize(weights);
    let sum: u128 = quanta.iter().sum();
    // magnitude <= 2^63 and each quantum <= 2^52: the products fit u128 with room to spare.
    let mut parts: Vec<u128> = quanta.iter().map(|q| magnitude * q / sum).collect();
    let remainders: Vec<u128> = quanta.iter().map(|q| magnitude * q % sum).collect();
    let leftover = magnitude - parts.iter().sum::<u128>();
    let mut by_remainder: Vec<usize> = (0..parts.len()).collect();
    // Stable sort: equal remainders keep index order, so ties go to the earlier index.
    by_remainder.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]));
    for &index in by_remainder.iter().take(leftover as usize) {
        parts[index] += 1;
    }
    parts
        .into_iter()
        .map(|part| with_sign_of(total, part))
        .collect()
}

/// Each usable weight as an integer proportional to it, the largest being 2^52.
fn quantize(weights: &[f64]) -> Vec<u128> {
    const SCALE: f64 = (1_u64 << 52) as f64;
    let usable = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let largest = weights.iter().copied().map(usable).fold(0.0, f64::max);
    if largest == 0.0 {
        return vec![1; weights.len()];
    }
    weights
        .iter()
        .map(|&w| ((usable(w) / largest) * SCALE).round() as u128)
        .collect()
}

/// `part` (at most |total| <= 2^63) as an i64 with the sign of `total`.
fn with_sign_of(total: i64, part: u128) -> i64 {
    let part = part as i128;
    let signed = if total < 0 { -part } else { part };
    signed as i64
}

/// One conversion's credit per touch, ready for the ROI roll-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub campaign: usize,
    pub units: i64,
    pub amount: i64,
    pub touch_at_ms: i64,
}

/// eligible + weights + split in one call: `units` splits CREDIT_UNITS, `amount` splits `amount`.
/// Returns an empty vec when no touch counts. Credits for the same campaign are NOT merged (the
/// caller sums them).
///
/// One credit per touch, in touch order (oldest first), so the caller can also weight per-touch
/// facts such as the sales cycle measured from `touch_at_ms`.
pub fn attribute(
    model: Model,
    touches: &[Touch],
    moment_ms: i64,
    lookback_days: u32,
    amount: i64,
) -> Vec<Credit> {
    let counted = eligible(touches, moment_ms, lookback_days);
    let weights = weights(model, &counted, moment_ms);
    credits(&counted, &weights, amount)
}

/// [`attribute`] under the Markov model: `effects` are the removal effects by campaign
/// index (`markov::RemovalEffects::effects`).
pub fn attribute_markov(
    effects: &[f64],
    touches: &[Touch],
    moment_ms: i64,
    lookback_days: u32,
    amount: i64,
) -> Vec<Credit> {
    let counted = eligible(touches, moment_ms, lookback_days);
    let weights = markov_weights(&counted, effects);
    credits(&counted, &weights, amount)
}

/// One credit per counted touch: CREDIT_UNITS and `amount` split by `weights`.
fn credits(counted: &[Touch], weights: &[f64], amount: i64) -> Vec<Credit> {
    let units = split(CREDIT_UNITS, weights);
    let amounts = split(amount, weights);
    counted
        .iter()
        .zip(units.into_iter().zip(amounts))
        .map(|(touch, (units, amount))| Credit {
            campaign: touch.campaign,
            units,
            amount,
            touch_at_ms: touch.at_ms,
        })
        .collect()
}

/// For the last- and first-touch models, what [`attribute`] gives without its allocations
/// (the ROI summary runs this once per conversion): the time of the earliest touch that
/// counts, and the one touch with all the credit. [`attribute`]'s other credits are all
/// zero. `None` when no touch counts, or for the other models.
pub fn sole_credit(
    model: Model,
    touches: &[Touch],
    moment_ms: i64,
    lookback_days: u32,
    amount: i64,
) -> Option<(i64, Credit)> {
    let last = match model {
        Model::LastTouch => true,
        Model::FirstTouch => false,
        _ => return None,
    };
    let earliest = moment_ms.saturating_sub(i64::from(lookback_days) * DAY_MS);
    let mut counted = touches
        .iter()
        .filter(|touch| (earliest..=moment_ms).contains(&touch.at_ms));
    let first = counted.next()?;
    let (mut earliest_ms, mut chosen) = (first.at_ms, first);
    for touch in counted {
        earliest_ms = earliest_ms.min(touch.at_ms);
        let key = (touch.at_ms, touch.lead);
        let chosen_key = (chosen.at_ms, chosen.lead);
        // `eligible` sorts stably: among equal keys the last (first) one handed over is
        // the last (first) touch.
        if (last && key >= chosen_key) || (!last && key < chosen_key) {
            chosen = touch;
        }
    }
    Some((
        earliest_ms,
        Credit {
            campaign: chosen.campaign,
            units: CREDIT_UNITS,
            amount,
            touch_at_ms: chosen.at_ms,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use proptest::prelude::*;

    /// 2025-06-15T15:06:40Z; any moment works, a realistic one keeps the numbers honest.
    const MOMENT: i64 = 1_750_000_000_000;

    fn touch(days_before: i64, lead: u128, campaign: usize) -> Touch {
        Touch {
            at_ms: MOMENT - days_before * DAY_MS,
            lead,
            campaign,
        }
    }

    /// Campaign 0 at 20 days before the moment, campaign 1 at 10, campaign 2 at 3, campaign 0
    /// again at 1 day — handed over newest first, as a store scan by id descending might.
    fn journey() -> Vec<Touch> {
        vec![
            touch(1, 4, 0),
            touch(3, 3, 2),
            touch(10, 2, 1),
            touch(20, 1, 0),
        ]
    }

    fn journey_weights(model: Model) -> Vec<f64> {
        let touches = eligible(&journey(), MOMENT, DEFAULT_LOOKBACK_DAYS);
        weights(model, &touches, MOMENT)
    }

    fn assert_close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{actual:?} vs {expected:?}");
        }
    }

    fn time_decay(half_life_days: f64) -> Model {
        Model::TimeDecay { half_life_days }
    }

    const ALL_MODELS: [Model; 7] = [
        Model::LastTouch,
        Model::FirstTouch,
        Model::Linear,
        Model::TimeDecay {
            half_life_days: 7.0,
        },
        Model::TimeDecay {
            half_life_days: 0.5,
        },
        Model::PositionBased,
        Model::Markov,
    ];

    #[test]
    fn a_journey_is_sorted_oldest_first() {
        let touches = eligible(&journey(), MOMENT, DEFAULT_LOOKBACK_DAYS);
        let campaigns: Vec<usize> = touches.iter().map(|t| t.campaign).collect();
        assert_eq!(campaigns, [0, 1, 2, 0]);
    }

    #[test]
    fn single_touch_models_give_everything_to_one_end_of_the_journey() {
        assert_close(&journey_weights(Model::LastTouch), &[0.0, 0.0, 0.0, 1.0]);
        assert_close(&journey_weights(Model::FirstTouch), &[1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn linear_shares_equally() {
        assert_close(&journey_weights(Model::Linear), &[0.25, 0.25, 0.25, 0.25]);
    }

    #[test]
    fn time_decay_halves_the_weight_per_half_life_of_age() {
        // Ages 20, 10, 3, 1 days; 2^(-age/7) normalised (python3, 60-digit Decimal).
        let week = journey_weights(time_decay(7.0));
        assert_close(
            &week,
            &[
                0.063_946_452_759_396,
                0.172_131_086_174_055,
                0.344_262_172_348_109,
                0.419_660_288_718_440,
            ],
        );
        // The touches 10 and 3 days old are exactly one half-life apart.
        assert!((week[2] / week[1] - 2.0).abs() < 1e-12);
        // A longer half-life flattens the curve.
        assert_close(
            &journey_weights(time_decay(14.0)),
            &[
                0.132_930_944_913_905,
                0.218_095_908_040_760,
                0.308_434_191_049_318,
                0.340_538_955_996_017,
            ],
        );
    }

    #[test]
    fn position_based_gives_the_ends_forty_percent_each() {
        assert_close(
            &journey_weights(Model::PositionBased),
            &[0.4, 0.1, 0.1, 0.4],
        );
        let one = [touch(5, 1, 0)];
        assert_close(&weights(Model::PositionBased, &one, MOMENT), &[1.0]);
        let two = [touch(5, 1, 0), touch(2, 2, 1)];
        assert_close(&weights(Model::PositionBased, &two, MOMENT), &[0.5, 0.5]);
        let three = [touch(5, 1, 0), touch(4, 2, 1), touch(2, 3, 2)];
        assert_close(
            &weights(Model::PositionBased, &three, MOMENT),
            &[0.4, 0.2, 0.4],
        );
    }

    #[test]
    fn markov_splits_by_removal_effect_over_distinct_campaigns() {
        // Campaigns 0, 1, 2, 0 (oldest first); effects 2/3, 3/4 and 0 (campaign 2 never led
        // to a conversion). Campaign 0 gets 2/3 / (2/3 + 3/4) = 8/17 = 0.4705882…, campaign 1
        // 9/17 = 0.5294117…, on each campaign's first touch: 470588.2 and 529411.7 units,
        // the leftover unit to the larger remainder (0.7, campaign 1).
        let effects = [2.0 / 3.0, 0.75, 0.0];
        let credits = attribute_markov(&effects, &journey(), MOMENT, 90, 1_700);
        let got: Vec<(usize, i64, i64)> = credits
            .iter()
            .map(|c| (c.campaign, c.units, c.amount))
            .collect();
        assert_eq!(
            got,
            [(0, 470_588, 800), (1, 529_412, 900), (2, 0, 0), (0, 0, 0)]
        );
        // All effects 0 (or unknown): linear over the distinct campaigns, not the touches.
        for effects in [&[0.0, 0.0, 0.0][..], &[]] {
            let credits = attribute_markov(effects, &journey(), MOMENT, 90, 300);
            let units: Vec<i64> = credits.iter().map(|c| c.units).collect();
            assert_eq!(units, [333_334, 333_333, 333_333, 0]);
        }
        assert_close(
            &journey_weights(Model::Markov),
            &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0],
        );
    }

    #[test]
    fn no_touches_means_no_weights_and_no_credit() {
        for model in ALL_MODELS {
            assert!(weights(model, &[], MOMENT).is_empty());
            assert!(attribute(model, &[], MOMENT, 90, 100_000).is_empty());
        }
    }

    #[test]
    fn an_amount_that_does_not_divide_evenly_still_adds_back_exactly() {
        // Time decay, half-life 7: exact shares 6394.645…, 17213.108…, 34426.217…, 41966.028…;
        // the floors leave 1 unit, which goes to the largest remainder (0.645, the oldest).
        let parts = split(100_000, &journey_weights(time_decay(7.0)));
        assert_eq!(parts, [6_395, 17_213, 34_426, 41_966]);
        assert_eq!(parts.iter().sum::<i64>(), 100_000);

        let parts = split(100_000, &journey_weights(time_decay(14.0)));
        assert_eq!(parts, [13_293, 21_810, 30_843, 34_054]);
        assert_eq!(parts.iter().sum::<i64>(), 100_000);
    }

    #[test]
    fn attribute_credits_each_touch_its_campaign_units_and_amount() {
        let credits = |model| -> Vec<(usize, i64, i64)> {
            attribute(model, &journey(), MOMENT, DEFAULT_LOOKBACK_DAYS, 100_003)
                .iter()
                .map(|c| (c.campaign, c.units, c.amount))
                .collect()
        };
        assert_eq!(
            credits(Model::LastTouch),
            [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 1_000_000, 100_003)]
        );
        assert_eq!(
            credits(Model::FirstTouch),
            [(0, 1_000_000, 100_003), (1, 0, 0), (2, 0, 0), (0, 0, 0)]
        );
        // 25000.75 each: three leftover units go to the earliest of the tied remainders.
        assert_eq!(
            credits(Model::Linear),
            [
                (0, 250_000, 25_001),
                (1, 250_000, 25_001),
                (2, 250_000, 25_001),
                (0, 250_000, 25_000)
            ]
        );
        // 40001.2, 10000.3, 10000.3, 40001.2: one leftover unit, to the first 0.3.
        assert_eq!(
            credits(Model::PositionBased),
            [
                (0, 400_000, 40_001),
                (1, 100_000, 10_001),
                (2, 100_000, 10_000),
                (0, 400_000, 40_001)
            ]
        );
        assert_eq!(
            credits(time_decay(7.0)),
            [
                (0, 63_947, 6_395),
                (1, 172_131, 17_214),
                (2, 344_262, 34_427),
                (0, 419_660, 41_967)
            ]
        );
        assert_eq!(
            credits(time_decay(14.0)),
            [
                (0, 132_931, 13_294),
                (1, 218_096, 21_810),
                (2, 308_434, 30_844),
                (0, 340_539, 34_055)
            ]
        );
        let at: Vec<i64> = attribute(Model::Linear, &journey(), MOMENT, 90, 1)
            .iter()
            .map(|c| c.touch_at_ms)
            .collect();
        assert_eq!(
            at,
            [
                MOMENT - 20 * DAY_MS,
                MOMENT - 10 * DAY_MS,
                MOMENT - 3 * DAY_MS,
                MOMENT - DAY_MS
            ]
        );
    }

    #[test]
    fn the_lookback_is_inclusive_at_exactly_ninety_days() {
        let touches = [touch(91, 1, 0), touch(90, 2, 1), touch(30, 3, 2)];
        let counted = eligible(&touches, MOMENT, 90);
        assert_eq!(counted, [touch(90, 2, 1), touch(30, 3, 2)]);
        // One millisecond older than the lookback no longer counts.
        let just_outside = Touch {
            at_ms: MOMENT - 90 * DAY_MS - 1,
            lead: 9,
            campaign: 0,
        };
        assert!(eligible(&[just_outside], MOMENT, 90).is_empty());
        // First touch is the oldest that counts, not the oldest lead of the contact.
        let credits = attribute(Model::FirstTouch, &touches, MOMENT, 90, 500);
        assert_eq!(credits[0].campaign, 1);
        assert_eq!((credits[0].units, credits[0].amount), (CREDIT_UNITS, 500));
    }

    #[test]
    fn touches_after_the_moment_do_not_count_but_one_at_the_moment_does() {
        let after = Touch {
            at_ms: MOMENT + 1,
            lead: 5,
            campaign: 3,
        };
        let at_moment = Touch {
            at_ms: MOMENT,
            lead: 4,
            campaign: 2,
        };
        let before = touch(2, 1, 1);
        assert_eq!(
            eligible(&[after, at_moment, before], MOMENT, 90),
            [before, at_moment]
        );
        let credits = attribute(Model::LastTouch, &[after, before], MOMENT, 90, 700);
        assert_eq!(credits.len(), 1);
        assert_eq!((credits[0].campaign, credits[0].amount), (1, 700));
        assert!(attribute(Model::Linear, &[after], MOMENT, 90, 700).is_empty());
    }

    #[test]
    fn touches_at_the_same_instant_are_ordered_by_lead_id() {
        let at = MOMENT - 5 * DAY_MS;
        let later_id = Touch {
            at_ms: at,
            lead: 0x0197_0000_0000_0000_0000_0000_0000_0002,
            campaign: 7,
        };
        let earlier_id = Touch {
            at_ms: at,
            lead: 0x0197_0000_0000_0000_0000_0000_0000_0001,
            campaign: 8,
        };
        assert_eq!(
            eligible(&[later_id, earlier_id], MOMENT, 90),
            [earlier_id, later_id]
        );
        let last = attribute(Model::LastTouch, &[later_id, earlier_id], MOMENT, 90, 1);
        assert_eq!((last[1].campaign, last[1].units), (7, CREDIT_UNITS));
        let first = attribute(Model::FirstTouch, &[later_id, earlier_id], MOMENT, 90, 1);
        assert_eq!((first[0].campaign, first[0].units), (8, CREDIT_UNITS));
    }

    #[test]
    fn time_decay_does_not_underflow_over_a_long_lookback() {
        // 3000 days at a half-life of 0.01 is 2^-300000 — 0 in f64 — for both touches.
        let touches = [touch(3001, 1, 0), touch(3000, 2, 1)];
        let w = weights(time_decay(0.01), &touches, MOMENT);
        assert_close(&w, &[0.0, 1.0]);
        let credits = attribute(time_decay(0.01), &touches, MOMENT, 4000, 10);
        assert_eq!((credits[1].units, credits[1].amount), (CREDIT_UNITS, 10));
    }

    #[test]
    fn split_of_zero_is_all_zeros() {
        assert_eq!(split(0, &[0.2, 0.3, 0.5]), [0, 0, 0]);
    }

    #[test]
    fn split_with_one_weight_keeps_the_whole() {
        assert_eq!(split(12_345, &[1.0]), [12_345]);
        assert_eq!(split(12_345, &[0.9999999]), [12_345]);
        assert_eq!(split(100_000_000_000_000, &[1.0]), [100_000_000_000_000]);
    }

    #[test]
    fn split_in_thirds_gives_the_odd_unit_to_the_first() {
        assert_eq!(split(100, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]), [34, 33, 33]);
        assert_eq!(split(2, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]), [1, 1, 0]);
    }

    #[test]
    fn split_of_empty_weights_credits_nobody() {
        assert!(split(100, &[]).is_empty());
    }

    #[test]
    fn tiny_weights_get_nothing_and_never_go_negative() {
        assert_eq!(split(100, &[1e-12, 1.0 - 1e-12]), [0, 100]);
        assert_eq!(split(100, &[1e-300, 1.0, 1e-300]), [0, 100, 0]);
        // Only tiny weights: what matters is their proportion, not their size.
        assert_eq!(split(10, &[1e-300, 1e-300]), [5, 5]);
        assert_eq!(split(7, &[0.0, 0.0]), [4, 3]);
    }

    #[test]
    fn fp_noisy_weights_still_add_back_exactly() {
        // Sums to 0.9999999: shares 50.0000025 and 49.9999975, the leftover unit goes to 0.9999975.
        assert_eq!(split(100, &[0.5, 0.4999999]), [50, 50]);
        // Sums to 1.0000001: normalised shares 60.0000024 and 39.9999976, so no part overshoots.
        assert_eq!(split(100, &[0.6000001, 0.4]), [60, 40]);
        // 0.1 + 0.2 + 0.7 is 1.0000000000000002 in f64.
        assert_eq!(split(10, &[0.1, 0.2, 0.7]), [1, 2, 7]);
        // A large total: 10^14 / 3 = 33333333333333.33…
        let parts = split(100_000_000_000_000, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(
            parts,
            [33_333_333_333_334, 33_333_333_333_333, 33_333_333_333_333]
        );
        // 0.4 and 0.1 are not exact in binary, and 0.4 + 0.1 + 0.1 + 0.4 is not exactly 1.
        assert_eq!(
            split(100_000_000_000_000, &[0.4, 0.1, 0.1, 0.4]),
            [
                40_000_000_000_000,
                10_000_000_000_000,
                10_000_000_000_000,
                40_000_000_000_000
            ]
        );
    }

    #[test]
    fn unusable_weights_count_as_zero() {
        assert_eq!(
            split(9, &[f64::NAN, 1.0, -1.0, f64::INFINITY]),
            [0, 9, 0, 0]
        );
    }

    #[test]
    fn a_negative_total_splits_like_its_magnitude() {
        assert_eq!(
            split(-100, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]),
            [-34, -33, -33]
        );
        assert_eq!(split(i64::MIN, &[1.0]), [i64::MIN]);
    }

    #[test]
    fn every_model_name_parses_and_round_trips() {
        for (name, expected) in [
            ("last_touch", Model::LastTouch),
            ("first_touch", Model::FirstTouch),
            ("linear", Model::Linear),
            ("time_decay", time_decay(7.0)),
            ("position_based", Model::PositionBased),
            ("markov", Model::Markov),
        ] {
            let model = Model::parse(name, DEFAULT_HALF_LIFE_DAYS).unwrap();
            assert_eq!(model, expected, "{name}");
            assert_eq!(model.name(), name);
        }
        assert_eq!(Model::parse("time_decay", 14.0).unwrap(), time_decay(14.0));
        assert_eq!(Model::parse("time_decay", 0.01).unwrap(), time_decay(0.01));
        assert_eq!(
            Model::parse("time_decay", 3650.0).unwrap(),
            time_decay(3650.0)
        );
    }

    #[test]
    fn an_unknown_model_is_a_422_about_model() {
        for bad in ["", "Last_Touch", "last-touch", "u_shaped", " linear"] {
            let err = Model::parse(bad, DEFAULT_HALF_LIFE_DAYS).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid, "{bad:?}");
            assert_eq!(err.status(), 422);
            assert_eq!(err.code, "invalid_model");
            assert_eq!(err.field.as_deref(), Some("model"));
            assert!(err.message.contains("position_based"), "{}", err.message);
        }
    }

    #[test]
    fn a_bad_half_life_is_a_422_about_half_life_days() {
        for bad in [
            0.0,
            -7.0,
            0.009,
            3650.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            for name in ["time_decay", "linear"] {
                let err = Model::parse(name, bad).unwrap_err();
                assert_eq!(err.kind, ErrorKind::Invalid, "{name} {bad}");
                assert_eq!(err.code, "invalid_half_life_days");
                assert_eq!(err.field.as_deref(), Some("half_life_days"));
            }
        }
        // The model name is the first thing wrong with "bogus" and a bad half-life.
        let err = Model::parse("bogus", f64::NAN).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("model"));
    }

    fn any_model() -> impl Strategy<Value = Model> {
        prop_oneof![
            Just(Model::LastTouch),
            Just(Model::FirstTouch),
            Just(Model::Linear),
            (0.01_f64..=3650.0).prop_map(|half_life_days| Model::TimeDecay { half_life_days }),
            Just(Model::PositionBased),
            Just(Model::Markov),
        ]
    }

    /// 1 to 11 touches within ±200 days of the moment, campaigns 0..5; lead ids may collide.
    fn any_journey() -> impl Strategy<Value = Vec<Touch>> {
        proptest::collection::vec(
            (-200 * DAY_MS..=200 * DAY_MS, 0_u128..20, 0_usize..5).prop_map(
                |(offset, lead, campaign)| Touch {
                    at_ms: MOMENT + offset,
                    lead,
                    campaign,
                },
            ),
            1..12,
        )
    }

    proptest! {
        #[test]
        fn every_conversion_is_credited_exactly_once_and_its_amount_exactly(
            touches in any_journey(),
            amount in 0_i64..=1_000_000_000_000,
            lookback in prop_oneof![Just(DEFAULT_LOOKBACK_DAYS), 0_u32..400],
        ) {
            let counts = !eligible(&touches, MOMENT, lookback).is_empty();
            for model in ALL_MODELS {
                let credits = attribute(model, &touches, MOMENT, lookback, amount);
                prop_assert!(credits.iter().all(|c| c.units >= 0 && c.amount >= 0));
                prop_assert!(credits.iter().all(|c| c.campaign < 5));
                let units: i64 = credits.iter().map(|c| c.units).sum();
                let money: i64 = credits.iter().map(|c| c.amount).sum();
                if counts {
                    prop_assert_eq!(units, CREDIT_UNITS, "{:?}", model);
                    prop_assert_eq!(money, amount, "{:?}", model);
                } else {
                    prop_assert!(credits.is_empty());
                }
            }
        }

        #[test]
        fn sole_credit_is_what_attribute_gives_for_single_touch_models(
            touches in any_journey(),
            amount in -1_000_000_000_000_i64..=1_000_000_000_000,
            lookback in prop_oneof![Just(DEFAULT_LOOKBACK_DAYS), 0_u32..400],
            last in any::<bool>(),
        ) {
            let model = if last { Model::LastTouch } else { Model::FirstTouch };
            let full = attribute(model, &touches, MOMENT, lookback, amount);
            let expected = full.iter().map(|c| c.touch_at_ms).min().map(|earliest| {
                let winners: Vec<&Credit> = full.iter().filter(|c| c.units != 0).collect();
                assert_eq!(winners.len(), 1);
                assert!(full.iter().all(|c| c.units != 0 || c.amount == 0));
                (earliest, winners[0].clone())
            });
            prop_assert_eq!(sole_credit(model, &touches, MOMENT, lookback, amount), expected);
        }

        #[test]
        fn weights_of_any_journey_are_non_negative_and_sum_to_one(
            touches in any_journey(),
            model in any_model(),
        ) {
            let counted = eligible(&touches, MOMENT, DEFAULT_LOOKBACK_DAYS);
            let w = weights(model, &counted, MOMENT);
            prop_assert_eq!(w.len(), counted.len());
            prop_assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0));
            if !w.is_empty() {
                prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
        }

        #[test]
        fn credited_orders_add_up_to_the_conversions_that_have_a_touch(
            conversions in proptest::collection::vec(
                (any_journey(), 0_i64..=1_000_000_000_000),
                1..40,
            ),
            model in any_model(),
        ) {
            let mut credited_units = 0_i64;
            let mut credited_amount = 0_i64;
            let mut with_touch = 0_i64;
            let mut touched_amount = 0_i64;
            for (touches, amount) in &conversions {
                let credits = attribute(model, touches, MOMENT, DEFAULT_LOOKBACK_DAYS, *amount);
                if !credits.is_empty() {
                    with_touch += 1;
                    touched_amount += amount;
                }
                credited_units += credits.iter().map(|c| c.units).sum::<i64>();
                credited_amount += credits.iter().map(|c| c.amount).sum::<i64>();
            }
            prop_assert_eq!(credited_units, with_touch * CREDIT_UNITS);
            prop_assert_eq!(credited_amount, touched_amount);
        }

        #[test]
        fn split_is_exact_and_non_negative_for_any_weights(
            total in 0_i64..=100_000_000_000_000,
            weights in proptest::collection::vec(
                prop_oneof![Just(0.0), 0.0_f64..1.0, 1e-300_f64..1e-200, Just(1.0 / 3.0)],
                1..12,
            ),
        ) {
            let parts = split(total, &weights);
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert!(parts.iter().all(|p| *p >= 0));
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
        }

        #[test]
        fn split_parts_are_within_one_unit_of_the_exact_share(
            total in 0_i64..=1_000_000_000,
            weights in proptest::collection::vec(0.001_f64..1.0, 1..12),
        ) {
            let sum: f64 = weights.iter().sum();
            for (part, w) in split(total, &weights).iter().zip(&weights) {
                let share = total as f64 * w / sum;
                prop_assert!((*part as f64 - share).abs() < 1.0 + 1e-6, "{} vs {}", part, share);
            }
        }
    }
}
