//! Who scanned a QR code: the app that opened the link and the phone's OS, read from the
//! User-Agent in the order API.md gives ("Scans and dynamic QR codes"), and whether the
//! request came from a crawler (redirected, not counted).
//!
//! Order matters: 企业微信 also says `MicroMessenger/`, HarmonyOS phones also say `Android`,
//! and an iPhone says `like Mac OS X`.

/// What a counted scan records of who scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanner {
    pub app: &'static str,
    pub os: &'static str,
}

impl Scanner {
    pub fn of(user_agent: Option<&str>) -> Scanner {
        Scanner {
            app: app_of(user_agent),
            os: os_of(user_agent),
        }
    }
}

/// The app a scan was opened in.
pub const APPS: [&str; 11] = [
    "wecom", "wechat", "dingtalk", "feishu", "alipay", "douyin", "qq", "weibo", "baidu", "browser",
    "other",
];

/// The OS a scan came from.
pub const OSES: [&str; 7] = [
    "ios",
    "android",
    "harmonyos",
    "windows",
    "macos",
    "linux",
    "other",
];

/// App tokens, checked in this order; the first that occurs names the app.
const APP_TOKENS: [(&str, &[&str]); 9] = [
    ("wecom", &["wxwork/"]),
    ("wechat", &["MicroMessenger/"]),
    ("dingtalk", &["DingTalk/"]),
    ("feishu", &["Lark/", "Feishu/"]),
    ("alipay", &["AlipayClient", "AliApp(AP"]),
    ("douyin", &["aweme", "BytedanceWebview"]),
    ("qq", &[" QQ/"]),
    ("weibo", &["__weibo__", "Weibo"]),
    ("baidu", &["baiduboxapp"]),
];

/// OS tokens, checked in this order.
const OS_TOKENS: [(&str, &[&str]); 6] = [
    ("harmonyos", &["HarmonyOS", "OpenHarmony"]),
    ("ios", &["iPhone", "iPad", "iPod"]),
    ("android", &["Android"]),
    ("windows", &["Windows"]),
    ("macos", &["Mac OS X", "Macintosh"]),
    ("linux", &["Linux"]),
];

/// Crawler marks, matched without regard to case (`Googlebot`, `AhrefsBot`, `Baiduspider`).
const CRAWLER_MARKS: [&str; 5] = ["bot", "spider", "crawler", "curl/", "python-requests"];

/// The app of a User-Agent: an app's token, else `browser` for a web browser (every
/// browser's User-Agent starts `Mozilla/` or `Opera/`), else `other` (none, or a tool).
pub fn app_of(user_agent: Option<&str>) -> &'static str {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "other";
    };
    let found = APP_TOKENS
        .iter()
        .find(|(_, tokens)| tokens.iter().any(|token| ua.contains(token)));
    match found {
        Some((app, _)) => app,
        None if ua.starts_with("Mozilla/") || ua.starts_with("Opera/") => "browser",
        None => "other",
    }
}

/// The OS of a User-Agent.
pub fn os_of(user_agent: Option<&str>) -> &'static str {
    let ua = user_agent.unwrap_or_default();
    OS_TOKENS
        .iter()
        .find(|(_, tokens)| tokens.iter().any(|token| ua.contains(token)))
        .map_or("other", |(os, _)| os)
}

/// Whether a User-Agent is a crawler's or a script's: such requests are redirected but
/// not counted as scans.
pub fn is_crawler(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent else {
        return false;
    };
    let ua = ua.to_ascii_lowercase();
    CRAWLER_MARKS.iter().any(|mark| ua.contains(mark))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Real User-Agent strings as the apps send them, with the app and OS they name.
    const SEEN: &[(&str, &str, &str)] = &[
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh ColorScheme/Light",
            "wecom",
            "ios",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN",
            "wechat",
            "ios",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/111.0.5563.116 Mobile Safari/537.36 XWEB/1110017 MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin NetType/5G Language/zh_CN ABI/arm64",
            "wechat",
            "android",
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 12; zh-CN; PGBM10 Build/SP1A.210812.016) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.2.59 Mobile Safari/537.36 AliApp(DingTalk/7.5.15) com.alibaba.android.rimet/36016040 Channel/700159 language/zh-CN abi/64 UT4Aplus/0.2.25 colorScheme/light",
            "dingtalk",
            "android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Lark/7.10.6 LarkLocale/zh_CN ChannelName/Feishu TTWebView/1161410095215",
            "feishu",
            "ios",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; M2012K11AC Build/TKQ1.220829.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/98.0.4758.101 Mobile Safari/537.36 Feishu/7.9.7 LarkLocale/zh_CN",
            "feishu",
            "android",
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 13; zh-CN; 22081212C Build/TKQ1.220829.002) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.2.65 Mobile Safari/537.36 UCBS/3.22.2.65_230817191013 ChannelId(11) NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:5G,ws:393|0|2.75) AliApp(AP/10.5.36.8100) AlipayClient/10.5.36.8100 Language/zh-Hans useStatusBar/true isConcaveScreen/true",
            "alipay",
            "android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 aweme_29.1.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/zh Region/CN AppTheme/light BytedanceWebview/d8a21c6",
            "douyin",
            "ios",
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; ANA-AN00 Build/HUAWEIANA-AN00; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/99.0.4844.88 Mobile Safari/537.36 V1_AND_SQ_8.9.78_4548_YYB_D A_8097800 QQ/8.9.78.12275 NetType/4G WebP/0.3.0 AppId/537168314 Pixel/1080 StatusBarHeight/120 SimpleUISwitch/0 QQTheme/1000 StudyMode/0 CurrentMode/0 CurrentFontScale/1.0 GlobalDensityScale/0.9 AllowLandscape/false InMagicWin/0",
            "qq",
            "android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Weibo (iPhone14,2__weibo__13.8.1__iphone__os16.3)",
            "weibo",
            "ios",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; HMA-AL00 Build/HUAWEIHMA-AL00; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/76.0.3809.89 Mobile Safari/537.36 T7/13.22 SP-engine/2.60.0 baiduboxapp/13.22.0.10 (Baidu; P1 10) NABar/1.0",
            "baidu",
            "android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "browser",
            "ios",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.113 Mobile Safari/537.36",
            "browser",
            "android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
            "browser",
            "windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "browser",
            "macos",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
            "browser",
            "linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.13.0.302) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.5.302 Mobile Safari/537.36",
            "browser",
            "harmonyos",
        ),
        (
            "Mozilla/5.0 (Phone; OpenHarmony 4.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile",
            "browser",
            "harmonyos",
        ),
        ("", "other", "other"),
        ("okhttp/4.12.0", "other", "other"),
    ];

    #[test]
    fn real_user_agents_name_their_app_and_os() {
        for (ua, app, os) in SEEN {
            assert_eq!(app_of(Some(ua)), *app, "app of {ua}");
            assert_eq!(os_of(Some(ua)), *os, "os of {ua}");
            assert!(!is_crawler(Some(ua)), "{ua}");
        }
        assert_eq!((app_of(None), os_of(None)), ("other", "other"));
    }

    #[test]
    fn crawlers_and_scripts_are_recognised() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
            "curl/8.5.0",
            "python-requests/2.31.0",
            "SomeCrawler/1.0",
        ] {
            assert!(is_crawler(Some(ua)), "{ua}");
        }
        assert!(!is_crawler(None));
    }

    proptest! {
        #[test]
        fn every_user_agent_gets_a_listed_app_and_os(ua in ".{0,200}") {
            prop_assert!(APPS.contains(&app_of(Some(&ua))));
            prop_assert!(OSES.contains(&os_of(Some(&ua))));
        }
    }
}
