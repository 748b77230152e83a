//! The console's words in Chinese (default) and English (`?lang=en`): one table, each
//! message once with both languages, so a message cannot exist in one language only and
//! a template naming a message that does not exist does not compile.

macro_rules! messages {
    ($($key:ident: $zh:literal, $en:literal;)*) => {
        /// Every message of the console in one language.
        pub struct Texts {
            $(pub $key: &'static str,)*
        }
        pub const ZH: Texts = Texts { $($key: $zh,)* };
        pub const EN: Texts = Texts { $($key: $en,)* };
    };
}

messages! {
    console: "leadgate 营销后台", "leadgate console";
    overview: "总览", "Overview";
    campaigns: "活动", "Campaigns";
    leads: "线索", "Leads";
    campaign: "活动", "Campaign";
    other_language: "English", "中文";
    from: "开始日期", "From";
    to: "结束日期", "To";
    model: "归因模型", "Attribution model";
    group_by: "分组", "Group by";
    apply: "应用", "Apply";
    download_csv: "下载 CSV", "Download CSV";
    download_xlsx: "下载 Excel", "Download Excel";
    model_last_touch: "末次触点", "Last touch";
    model_first_touch: "首次触点", "First touch";
    model_linear: "线性", "Linear";
    model_time_decay: "时间衰减", "Time decay";
    model_position_based: "位置加权", "Position based";
    by_campaign: "按活动", "By campaign";
    by_channel: "按渠道", "By channel";
    by_kind: "按类型", "By kind";
    chart_cost_revenue: "成本与成交金额（按成交金额前 10）", "Cost and revenue (top 10 by revenue)";
    chart_leads_by_kind: "各类型线索数", "Leads by kind";
    chart_funnel: "转化漏斗", "Funnel";
    cost: "成本", "Cost";
    revenue: "成交金额", "Revenue";
    scans: "扫码", "Scans";
    form_views: "表单浏览", "Form views";
    mqls: "MQL", "MQLs";
    deals: "商机", "Deals";
    orders: "订单", "Orders";
    no_data: "所选时间段内没有数据。", "No data in this date range.";
    warnings: "提示", "Notes";
    new_campaign: "新建活动", "New campaign";
    edit: "编辑", "Edit";
    save: "保存", "Save";
    create: "创建", "Create";
    saved: "已保存。", "Saved.";
    fix_errors: "请修改标出的字段后重新提交。", "Please correct the marked field and submit again.";
    slug: "编号（链接中使用，创建后不可改）", "Slug (used in links; cannot change later)";
    name: "名称", "Name";
    kind: "类型", "Kind";
    channel: "渠道", "Channel";
    status: "状态", "Status";
    owner: "负责人", "Owner";
    starts_on: "开始日期", "Starts on";
    ends_on: "结束日期", "Ends on";
    currency: "币种", "Currency";
    budget: "预算", "Budget";
    target_leads: "目标线索数", "Target leads";
    target_revenue: "目标成交金额", "Target revenue";
    form: "表单", "Form";
    tracking_numbers: "追踪电话（每行一个）", "Tracking numbers (one per line)";
    utm_campaigns: "其他 utm_campaign 值（每行一个）", "Other utm_campaign values (one per line)";
    qr_variants: "二维码投放位置（每行一个，如 booth-a）", "QR placements (one per line, e.g. booth-a)";
    rate_limit: "每地址提交上限（如 600/10m，off 关闭；留空用默认）", "Per-address limit (e.g. 600/10m, off; empty = server default)";
    costs: "成本记录", "Cost entries";
    amount: "金额", "Amount";
    incurred_on: "发生日期", "Incurred on";
    note: "备注", "Note";
    add_cost: "添加成本", "Add cost";
    remove: "删除", "Remove";
    total: "合计", "Total";
    no_costs: "还没有成本记录。", "No cost entries yet.";
    links: "链接与二维码", "Links and QR codes";
    landing_url: "落地页", "Landing page";
    qr_sheet: "打印二维码", "Print QR codes";
    utm_builder: "UTM 链接生成", "UTM link builder";
    utm_source: "来源 utm_source", "Source (utm_source)";
    utm_medium: "媒介 utm_medium", "Medium (utm_medium)";
    utm_content: "内容 utm_content", "Content (utm_content)";
    build_link: "生成链接", "Build link";
    copy_hint: "复制下面的链接投放，或扫描右侧二维码测试。", "Copy this link into the ad, or scan the code to test it.";
    since: "起始日期", "Since";
    until: "截止日期", "Until";
    all: "全部", "All";
    filter: "筛选", "Filter";
    received_at: "提交时间", "Received";
    contact: "联系方式", "Contact";
    source: "来源", "Source";
    change: "修改", "Change";
    next_page: "下一页", "Next page";
    first_page: "第一页", "First page";
    export_csv: "导出 CSV", "Export CSV";
    no_leads: "没有符合条件的线索。", "No leads match.";
    upload: "上传", "Upload";
    upload_leads: "导入线索（CSV，如纸质签到表）", "Import leads (CSV, e.g. paper sign-up sheets)";
    upload_conversions: "导入成交（CRM 导出的 CSV）", "Import conversions (CSV from the CRM)";
    import_report: "导入结果", "Import report";
    imported: "已导入", "Imported";
    skipped: "已存在（跳过）", "Already there (skipped)";
    updated: "已更新", "Updated";
    unchanged: "未变化", "Unchanged";
    line: "行号", "Line";
    field: "字段", "Field";
    message: "问题", "Problem";
    ignored_columns: "未识别的列（已忽略）", "Unrecognised columns (ignored)";
    back_to_leads: "返回线索列表", "Back to leads";
    actions: "操作", "Actions";
    status_new: "新线索", "New";
    status_mql: "MQL", "MQL";
    status_sql: "SQL", "SQL";
    status_disqualified: "无效", "Disqualified";
    campaign_status_planned: "计划中", "Planned";
    campaign_status_running: "进行中", "Running";
    campaign_status_ended: "已结束", "Ended";
    campaign_status_reviewing: "复盘中", "Reviewing";
    all_columns: "显示全部列", "All columns";
    key_columns: "只看关键列", "Key columns only";
    error_login: "请登录", "Please log in";
    error_forbidden: "请求被拒绝：请从管理后台自己的页面提交（刷新页面后重试）", "Refused: changes must be sent from the console's own pages (reload the page and try again)";
    error_not_found: "找不到该内容", "Not found";
    error_invalid: "输入有误", "Invalid input";
    error_unavailable: "服务暂时繁忙，请稍后重试", "Busy: please try again shortly";
    error_internal: "出错了，请稍后重试", "Something went wrong: please try again";
    go_back: "返回总览", "Back to the overview";
    this_month: "本月", "This month";
    last_month: "上月", "Last month";
    this_year: "今年", "This year";
    all_time: "全部时间", "All time";
}

/// The console's language, from `lang=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// Anything but `en` is Chinese: a mistyped `lang` should not break a page.
    pub fn from_query(query: Option<&str>) -> Lang {
        match crate::http::query_value(query, "lang").as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// `lang=en` for links that must keep the language, empty for the default.
    pub fn param(self) -> &'static str {
        match self {
            Lang::Zh => "",
            Lang::En => "lang=en",
        }
    }

    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The download and column titles in this language.
    pub fn report(self) -> crate::report::Lang {
        match self {
            Lang::Zh => crate::report::Lang::Zh,
            Lang::En => crate::report::Lang::En,
        }
    }

    /// The label of a stored enum value (model, status, …) in this language.
    pub fn label(self, value: &str) -> &'static str {
        let t = self.texts();
        match value {
            "last_touch" => t.model_last_touch,
            "first_touch" => t.model_first_touch,
            "linear" => t.model_linear,
            "time_decay" => t.model_time_decay,
            "position_based" => t.model_position_based,
            "campaign" => t.by_campaign,
            "channel" => t.by_channel,
            "kind" => t.by_kind,
            "new" => t.status_new,
            "mql" => t.status_mql,
            "sql" => t.status_sql,
            "disqualified" => t.status_disqualified,
            "planned" => t.campaign_status_planned,
            "running" => t.campaign_status_running,
            "ended" => t.campaign_status_ended,
            "reviewing" => t.campaign_status_reviewing,
            other => kind_label(self, other),
        }
    }
}

/// Campaign kinds: the words marketers use for them.
fn kind_label(lang: Lang, kind: &str) -> &'static str {
    let (zh, en) = match kind {
        "trade_show" => ("展会", "Trade show"),
        "online_ad" => ("线上广告", "Online ads"),
        "livestream" => ("直播", "Livestream"),
        "content" => ("内容", "Content"),
        "offline_event" => ("线下活动", "Offline event"),
        "email" => ("邮件", "E-mail"),
        "social" => ("社交媒体", "Social"),
        "referral" => ("转介绍", "Referral"),
        _ => ("其他", "Other"),
    };
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_label_every_stored_value() {
        let kinds = crate::domain::CampaignKind::ALL.iter().map(|k| k.as_str());
        for value in kinds.filter(|k| *k != "other") {
            assert_ne!(Lang::En.label(value), "Other", "{value}");
        }
        assert_eq!(Lang::Zh.label("time_decay"), "时间衰减");
        assert_eq!(Lang::En.label("disqualified"), "Disqualified");
    }
}
