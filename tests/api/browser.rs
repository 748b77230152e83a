//! Real-browser tests: headless Chromium driven over WebDriver (chromedriver + fantoccini)
//! against the server on port 0. A visitor fills the landing form on a phone-sized screen;
//! a marketer creates a campaign and a cost in the console and downloads the summary.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without
//! chromedriver the tests say SKIPPED, unless `LEADGATE_REQUIRE_BROWSER=1` (set by CI),
//! which makes a missing browser a failure. `LEADGATE_SCREENSHOT_DIR=docs/screenshots`
//! saves the README's screenshots.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{
    Seed, TOKEN, TestApp, assert_csv_matches_json, excel_csv, json_body, spawn_app, spawn_app_with,
};

/// A chromedriver child on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    /// Kills chromedriver and the browsers it started: they share its process group, and a
    /// test that fails before closing its session would otherwise leave Chromium running.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver_path() -> Option<String> {
    std::env::var("CHROMEDRIVER_PATH")
        .ok()
        .or_else(|| Some("/usr/bin/chromedriver".to_owned()))
        .filter(|p| std::path::Path::new(p).exists())
}

/// Starts chromedriver, or returns `None` (after saying so) where it is not installed.
async fn driver(test: &str) -> Option<Driver> {
    let Some(path) = chromedriver_path() else {
        assert!(
            std::env::var("LEADGATE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "{test}: chromedriver is not installed but LEADGATE_REQUIRE_BROWSER=1"
        );
        eprintln!("SKIPPED {test}: no chromedriver (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(path)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = crate::helpers::client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(resp) = http.get(format!("{}/status", driver.url)).send().await
            && let Ok(status) = resp.json::<Value>().await
            && status["value"]["ready"] == true
        {
            return Some(driver);
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A headless Chromium session; `phone` emulates a 390×844 phone screen.
///
/// The browser's language is fixed to en-US: otherwise Chromium takes it from the host's
/// locale (`LANG`, `LC_ALL`), and a date input then expects its digits in that locale's
/// order, so the same keystrokes would give another date, or none, on another machine.
async fn browser(driver: &Driver, phone: bool) -> Client {
    let mut options = json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=1280,1000", "--lang=en-US"
        ],
        "prefs": {"intl.accept_languages": "en-US"}
    });
    if phone {
        options["mobileEmulation"] = json!({
            "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0, "mobile": true, "touch": true}
        });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Saves a screenshot for the README when asked to.
async fn screenshot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("LEADGATE_SCREENSHOT_DIR") {
        let png = client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(format!("{dir}/{name}.png"), png).expect("write screenshot");
    }
}

/// Clicks a submit button and waits until the browser has left the page it was on: the
/// old document's root goes stale once the answer to the post has replaced it. Waiting
/// for an address instead would return at once when the answer comes back to the same
/// address (a redirect to the page the form was on).
async fn submit(client: &Client, button: &str) {
    let old = client
        .find(Locator::Css("html"))
        .await
        .expect("the page before the submit");
    click(client, button).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match old.tag_name().await {
            Err(e) if e.is_stale_element_reference() => break,
            Err(e) => panic!("waiting for the page after {button}: {e}"),
            Ok(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "{button}: still on the page it was clicked on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The new document may still be loading; its elements are wanted next.
    let deadline = Instant::now() + Duration::from_secs(15);
    while client
        .execute("return document.readyState", vec![])
        .await
        .expect("readyState")
        != json!("complete")
    {
        assert!(
            Instant::now() < deadline,
            "the page after {button} never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The browser's current path, which must be `path` (after `submit` has waited for the
/// new page).
async fn assert_path(client: &Client, path: &str) {
    let url = client.current_url().await.expect("current url");
    let alert = match client.find(Locator::Css("[role=alert]")).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    assert_eq!(url.path(), path, "at {url}; the page says: {alert}");
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.ok();
    field.send_keys(text).await.expect("type");
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

#[tokio::test]
async fn a_visitor_fills_the_landing_form_on_a_phone() {
    let Some(driver) = driver("a_visitor_fills_the_landing_form_on_a_phone").await else {
        return;
    };
    let app = spawn_app().await;
    app.create_campaign(
        "spring-expo",
        json!({"name": "2026 春季工业展", "kind": "trade_show"}),
    )
    .await;
    let client = browser(&driver, true).await;
    client
        .goto(&app.url("/f/spring-expo?utm_source=douyin&utm_medium=live&utm_campaign=spring"))
        .await
        .unwrap();
    let width = client
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap();
    assert_eq!(width, json!(390), "a phone-sized viewport");
    fill(&client, "#name", "张三").await;
    fill(&client, "#phone", "138 0013 8000").await;
    fill(&client, "#company", "上海某某机械有限公司").await;
    click(&client, "#consent").await;
    screenshot(&client, "landing-form").await;
    submit(&client, "button[type=submit]").await;
    assert_path(&client, "/f/spring-expo/thanks").await;
    let text = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("2026 春季工业展"), "thanks page: {text}");

    let leads = app.all_leads("spring-expo").await;
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(leads[0]["phone"], "+8613800138000");
    assert_eq!(leads[0]["name"], "张三");
    assert_eq!(leads[0]["utm"]["utm_source"], "douyin");
    assert_eq!(leads[0]["source"], "form");
    client.close().await.ok();
}

/// Figures for the overview: a few campaigns with costs, leads and orders this month.
async fn load_month(app: &TestApp) {
    let today = jiff::Timestamp::now()
        .in_tz("Asia/Shanghai")
        .unwrap()
        .date();
    let campaigns = [
        (
            "douyin-live",
            "抖音直播 · 新品发布",
            "livestream",
            "douyin_live",
            "30000",
            6,
            2,
        ),
        (
            "baidu-sem",
            "百度 SEM 品牌词",
            "online_ad",
            "baidu_sem",
            "45000",
            9,
            1,
        ),
        (
            "wechat-articles",
            "公众号案例文章",
            "content",
            "wechat_mp",
            "5000",
            4,
            0,
        ),
    ];
    let mut phone = 13_800_138_100u64;
    for (slug, name, kind, channel, cost, leads, orders) in campaigns {
        let seed = Seed {
            slug,
            campaign: json!({"name": name, "kind": kind, "channel": channel, "target_leads": 10}),
            cost,
            incurred_on: today.to_string(),
            leads,
            orders,
            amount: "38000",
            visitor: "访客",
        };
        app.seed(seed, &mut phone).await;
    }
}

#[tokio::test]
async fn a_marketer_creates_a_campaign_and_a_cost_and_downloads_the_summary() {
    let Some(driver) =
        driver("a_marketer_creates_a_campaign_and_a_cost_and_downloads_the_summary").await
    else {
        return;
    };
    let app = spawn_app().await;
    load_month(&app).await;
    let client = browser(&driver, false).await;
    // Basic credentials in the URL, as a password manager would fill the login prompt.
    let authority = app.base.trim_start_matches("http://");
    client
        .goto(&format!(
            "http://marketing:{TOKEN}@{authority}/admin/campaigns/new"
        ))
        .await
        .unwrap();
    fill(&client, "#f-slug", "autumn-expo").await;
    fill(&client, "#f-name", "2026 秋季展会").await;
    client
        .find(Locator::Css("#f-kind option[value=trade_show]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&client, "#f-channel", "expo").await;
    fill(&client, "#f-budget", "80000").await;
    submit(&client, "#campaign-form button[type=submit]").await;
    assert_path(&client, "/admin/campaigns/autumn-expo").await;

    let today = jiff::Timestamp::now()
        .in_tz("Asia/Shanghai")
        .unwrap()
        .date();
    fill(&client, "#cost-amount", "25000.50").await;
    // A date input takes the typed digits in the browser's language's order: en-US, set
    // in `browser`. Its value is ISO whatever the language, so a wrong order shows here
    // rather than as a cost that was never stored.
    fill(&client, "#cost-date", &today.strftime("%m%d%Y").to_string()).await;
    let typed = client
        .find(Locator::Css("#cost-date"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        typed.as_deref(),
        Some(today.to_string().as_str()),
        "the date field's value"
    );
    fill(&client, "#cost-note", "展位费").await;
    submit(&client, "#cost-form button[type=submit]").await;
    // Stored, the cost comes back as a row of the campaign's cost table.
    assert_path(&client, "/admin/campaigns/autumn-expo").await;
    let cost_rows = client
        .find(Locator::Css("#costs + .panel table"))
        .await
        .expect("the cost table")
        .text()
        .await
        .unwrap();
    assert!(
        cost_rows.contains("25000.50") && cost_rows.contains(&today.to_string()),
        "{cost_rows}"
    );
    let (_, costs) = json_body(app.admin_get("/api/campaigns/autumn-expo/costs").await).await;
    assert_eq!(costs["total"], "25000.50", "{costs}");
    assert_eq!(costs["costs"][0]["incurred_on"], today.to_string());

    client.goto(&app.url("/admin")).await.unwrap();
    let table = client
        .find(Locator::Id("roi"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = table
        .lines()
        .find(|l| l.contains("2026 秋季展会"))
        .unwrap_or_else(|| panic!("no ROI row for the new campaign: {table}"));
    assert!(row.contains("25000.50"), "the row shows the cost: {row}");

    // The download button's file has the figures of /api/roi.
    let href = client
        .find(Locator::Id("download-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("download link");
    let query = href
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    let csv = app
        .client
        .get(app.url(&format!("/admin/roi.csv?{query}")))
        .basic_auth("marketing", Some(TOKEN))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let report = app.roi(&query).await;
    let records = excel_csv(&csv);
    assert_eq!(
        records[0][0], "编号",
        "Chinese titles in the console's download"
    );
    assert_csv_matches_json(&records, &report, "合计");
    client.close().await.ok();
}

/// Where each header cell of the overview's ROI table lies: (title, left, right) in CSS
/// pixels of the viewport.
async fn header_boxes(client: &Client) -> Vec<(String, f64, f64)> {
    let boxes = client
        .execute(
            "return Array.from(document.querySelectorAll('#roi thead th')).map(th => {\
               const r = th.getBoundingClientRect(); return [th.textContent, r.left, r.right]; })",
            vec![],
        )
        .await
        .expect("header boxes");
    serde_json::from_value(boxes).expect("[title, left, right] triples")
}

async fn viewport_width(client: &Client) -> f64 {
    client
        .execute("return document.documentElement.clientWidth", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

#[tokio::test]
async fn the_demo_overview_shows_the_decision_columns_first_on_a_laptop_and_a_phone() {
    let Some(driver) =
        driver("the_demo_overview_shows_the_decision_columns_first_on_a_laptop_and_a_phone").await
    else {
        return;
    };
    // The demo as `serve --demo` loads it: dated from today, so the default period (this
    // month) has rows.
    let app = spawn_app_with(|c| c.demo = true).await;
    let authority = app.base.trim_start_matches("http://");
    let admin = format!("http://marketing:{TOKEN}@{authority}/admin?lang=en");

    let laptop = browser(&driver, false).await;
    laptop.goto(&admin).await.unwrap();
    let width = viewport_width(&laptop).await;
    let boxes = header_boxes(&laptop).await;
    let titles: Vec<&str> = boxes.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(
        titles[..7],
        [
            "Campaign",
            "Revenue",
            "ROI %",
            "ROAS",
            "Cost",
            "Cost per lead",
            "Cost per order"
        ]
    );
    for (title, _, right) in &boxes {
        assert!(
            *right <= width,
            "{title} ends at {right} px, off a {width} px wide screen"
        );
    }
    // The README's picture: the page as it opens (Chinese, no query), all of it, the
    // window as tall as the page.
    laptop
        .goto(&format!("http://marketing:{TOKEN}@{authority}/admin"))
        .await
        .unwrap();
    let sizes = laptop
        .execute(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]",
            vec![],
        )
        .await
        .unwrap();
    let (page, chrome): (u32, u32) = serde_json::from_value(sizes).unwrap();
    laptop.set_window_size(1280, page + chrome).await.unwrap();
    assert_eq!(
        viewport_width(&laptop).await,
        width,
        "still a laptop's width"
    );
    screenshot(&laptop, "overview-1280").await;
    laptop.close().await.ok();

    let phone = browser(&driver, true).await;
    phone.goto(&admin).await.unwrap();
    // On a phone the table scrolls sideways; the campaign's name stays where it was.
    let name_left = || async {
        phone
            .execute(
                "return document.querySelector('#roi tbody td').getBoundingClientRect().left",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap()
    };
    let before = name_left().await;
    let scrolled = phone
        .execute(
            "const s = document.querySelector('#roi').parentElement; s.scrollLeft = 300; \
             return s.scrollLeft",
            vec![],
        )
        .await
        .unwrap();
    assert!(scrolled.as_f64() > Some(0.0), "the table scrolls sideways");
    assert_eq!(name_left().await, before, "the name column stays on screen");
    phone
        .goto(&format!("http://marketing:{TOKEN}@{authority}/admin"))
        .await
        .unwrap();
    phone
        .execute("document.getElementById('roi').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&phone, "overview-390").await;
    phone.close().await.ok();
}
