//! Micro-benchmarks of the pure hot paths: what one submission costs to parse and
//! validate, phone normalisation, each attribution model over 100k conversions, the ROI
//! roll-up (and under `model=markov` over 100k journeys), and QR rendering. Run:
//! `cargo bench --bench micro` (`-- markov` for the Markov model alone).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use leadgate::attribution::{self, DAY_MS, Model, Touch};
use leadgate::campaign::Campaign;
use leadgate::conversion::{Conversion, Stage};
use leadgate::domain::{Currency, Phone};
use leadgate::forms::FormSet;
use leadgate::markov::{Chain, Paths};
use leadgate::qr::{self, Style};
use leadgate::roi::{self, Counters, GroupBy, Journey, RoiInput, RoiQuery, Window};
use leadgate::submission::{RawSubmission, validate};

/// A realistic ~400-byte landing-page post with UTM parameters and a click id.
const FORM_BODY: &str = "name=%E5%BC%A0%E4%B8%89&phone=138+0013+8000&email=zhang.san%40example.com&company=%E4%B8%8A%E6%B5%B7%E6%9F%90%E6%9F%90%E8%87%AA%E5%8A%A8%E5%8C%96&title=%E9%87%87%E8%B4%AD%E7%BB%8F%E7%90%86&message=%E8%AF%B7%E5%8F%91%E9%80%81%E4%BA%A7%E5%93%81%E8%B5%84%E6%96%99&consent=on&utm_source=baidu&utm_medium=cpc&utm_campaign=expo-2025&utm_term=plc&bd_vid=1234567890abcdef&_token=01JNQX4V5Z8M7H2K3P4R5S6T7U&_hp=";

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// 100k conversions of contacts with 1 to 10 touches over 1,000 campaigns.
fn journeys(count: usize) -> Vec<Journey> {
    let mut random = Lcg(42);
    let moment_ms = 1_740_000_000_000_i64;
    (0..count)
        .map(|i| {
            let touches = (0..1 + random.next() % 10)
                .map(|t| Touch {
                    at_ms: moment_ms - (random.next() % 80) as i64 * DAY_MS - t as i64,
                    lead: t.into(),
                    campaign: (random.next() % 1000) as usize,
                })
                .collect();
            Journey {
                conversion: Conversion {
                    id: format!("o{i}"),
                    contact: format!("+86130{i:08}"),
                    lead_id: None,
                    stage: Stage::Won,
                    amount: 1_000_000 + (random.next() % 100_000) as i64,
                    currency: Currency::CNY,
                    moment: jiff::Timestamp::from_millisecond(moment_ms).unwrap(),
                    won_at: Some(
                        jiff::Timestamp::from_millisecond(moment_ms + 7 * DAY_MS).unwrap(),
                    ),
                    lost_at: None,
                    updated_at: jiff::Timestamp::UNIX_EPOCH,
                },
                touches,
            }
        })
        .collect()
}

fn roi_input(journeys: Vec<Journey>) -> RoiInput {
    roi_input_over(1000, journeys)
}

fn roi_input_over(campaigns: usize, journeys: Vec<Journey>) -> RoiInput {
    let forms = FormSet::builtin();
    let campaigns: Vec<Campaign> = (0..campaigns)
        .map(|i| {
            let body = serde_json::json!({"slug": format!("c{i:04}"), "name": format!("活动 {i}"), "channel": format!("ch{}", i % 8)});
            Campaign::create(body.as_object().unwrap(), &forms, jiff::Timestamp::UNIX_EPOCH).unwrap()
        })
        .collect();
    RoiInput {
        counters: vec![
            Counters {
                leads: 1000,
                form_views: 3000,
                new_contacts: 800,
                mqls: 200,
                ..Counters::default()
            };
            campaigns.len()
        ],
        costs: vec![5_000_000; campaigns.len()],
        campaigns,
        journeys: std::sync::Arc::new(journeys),
        ..RoiInput::default()
    }
}

fn submissions(c: &mut Criterion) {
    let form = FormSet::builtin().get("default").unwrap();
    c.bench_function("submission/parse+validate 400B form", |b| {
        b.iter(|| {
            let raw = RawSubmission::from_urlencoded(black_box(FORM_BODY.as_bytes())).unwrap();
            validate(&form, &raw, Some("utm_source=baidu&gclid=x")).unwrap()
        })
    });
    c.bench_function("phone/normalise mainland mobile", |b| {
        b.iter(|| Phone::parse(black_box("+86 138-0013-8000")).unwrap())
    });
}

fn attribution_models(c: &mut Criterion) {
    let journeys = journeys(100_000);
    let mut group = c.benchmark_group("attribution/100k conversions, 1-10 touches");
    group.sample_size(10);
    for model in [
        Model::LastTouch,
        Model::FirstTouch,
        Model::Linear,
        Model::TimeDecay {
            half_life_days: 7.0,
        },
        Model::PositionBased,
    ] {
        group.bench_function(model.name(), |b| {
            b.iter(|| {
                let mut credited = 0_i64;
                for journey in &journeys {
                    let moment = journey.conversion.moment.as_millisecond();
                    for credit in attribution::attribute(
                        model,
                        &journey.touches,
                        moment,
                        90,
                        journey.conversion.amount,
                    ) {
                        credited += credit.units;
                    }
                }
                black_box(credited)
            })
        });
    }
    group.finish();
}

fn roll_up(c: &mut Criterion) {
    let input = roi_input(journeys(100_000));
    let mut group = c.benchmark_group("roi/roll-up 1k campaigns, 100k conversions");
    group.sample_size(10);
    for model in [
        Model::LastTouch,
        Model::Linear,
        Model::TimeDecay {
            half_life_days: 7.0,
        },
    ] {
        let query = RoiQuery {
            model,
            lookback_days: 90,
            group_by: GroupBy::Campaign,
            window: Window::ALL,
        };
        group.bench_function(model.name(), |b| {
            b.iter(|| black_box(roi::summarise(&input, &query).rows.len()))
        });
    }
    group.finish();
}

/// How the Markov benchmark's journeys pick their campaigns.
#[derive(Clone, Copy)]
enum Mix {
    /// A few campaigns get most touches (a squared uniform draw: the top tenth of the
    /// campaigns gets about a third of the touches), 1 to 6 touches a journey.
    Skewed,
    /// Every campaign alike, 1 to 10 touches: every campaign follows every other, so the
    /// chain is one dense loop over all campaigns — the solver's worst case.
    Uniform,
}

/// `count` journeys over `campaigns` campaigns for `model=markov`: every fifth converts (a
/// won conversion with its touches), the others are contacts without a conversion.
fn markov_input(campaigns: usize, count: usize, mix: Mix) -> RoiInput {
    let mut random = Lcg(7);
    let moment_ms = 1_740_000_000_000_i64;
    let mut converting = Vec::new();
    let mut non_converting = Paths::default();
    for i in 0..count {
        let (touches, pick): (u64, &dyn Fn(u64) -> usize) = match mix {
            Mix::Skewed => (1 + random.next() % 6, &|r| {
                let u = (r % 1_000_000) as f64 / 1e6;
                (u * u * campaigns as f64) as usize
            }),
            Mix::Uniform => (1 + random.next() % 10, &|r| (r % campaigns as u64) as usize),
        };
        let steps: Vec<usize> = (0..touches).map(|_| pick(random.next())).collect();
        if i % 5 != 0 {
            non_converting.push(steps, false);
            continue;
        }
        converting.push(Journey {
            conversion: Conversion {
                id: format!("o{i}"),
                contact: format!("+86130{i:08}"),
                lead_id: None,
                stage: Stage::Won,
                amount: 1_000_000 + (random.next() % 100_000) as i64,
                currency: Currency::CNY,
                moment: jiff::Timestamp::from_millisecond(moment_ms).unwrap(),
                won_at: Some(jiff::Timestamp::from_millisecond(moment_ms).unwrap()),
                lost_at: None,
                updated_at: jiff::Timestamp::UNIX_EPOCH,
            },
            touches: steps
                .iter()
                .enumerate()
                .map(|(t, &campaign)| Touch {
                    at_ms: moment_ms - (steps.len() - t) as i64 * DAY_MS,
                    lead: t as u128,
                    campaign,
                })
                .collect(),
        });
    }
    let mut input = roi_input_over(campaigns, converting);
    input.non_converting = non_converting;
    input
}

/// The ROI summary under `model=markov` (chain, solve, credit) over 100k journeys.
fn markov(c: &mut Criterion) {
    let mut group = c.benchmark_group("markov/roll-up 100k journeys");
    group.sample_size(10);
    let query = RoiQuery {
        model: Model::Markov,
        lookback_days: 90,
        group_by: GroupBy::Campaign,
        window: Window::ALL,
    };
    for (name, campaigns, mix) in [
        ("50 campaigns", 50, Mix::Skewed),
        ("1k campaigns", 1000, Mix::Skewed),
        ("50 campaigns, uniform", 50, Mix::Uniform),
        ("1k campaigns, uniform (one dense loop)", 1000, Mix::Uniform),
    ] {
        let input = markov_input(campaigns, 100_000, mix);
        group.bench_function(name, |b| {
            b.iter(|| black_box(roi::summarise(&input, &query).rows.len()))
        });
        // The chain alone: counting the transitions and solving it.
        group.bench_function(format!("{name}: chain and solve only"), |b| {
            b.iter(|| {
                let mut chain = Chain::new(campaigns);
                for journey in input.journeys.iter() {
                    chain.add(journey.touches.iter().map(|t| t.campaign), true);
                }
                chain.add_paths(&input.non_converting);
                black_box(chain.solve().conversion_probability)
            })
        });
    }
    group.finish();
}

fn qr_codes(c: &mut Criterion) {
    let url = "https://leads.example.com/q/expo-2025-shanghai?v=booth-a";
    c.bench_function("qr/png 512px", |b| {
        b.iter(|| qr::png(black_box(url), &Style::default()).unwrap())
    });
    c.bench_function("qr/svg", |b| {
        b.iter(|| qr::svg(black_box(url), &Style::default()).unwrap())
    });
}

criterion_group!(
    benches,
    submissions,
    attribution_models,
    roll_up,
    markov,
    qr_codes
);
criterion_main!(benches);
