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
    destinations: "推送", "Destinations";
    nav_salespeople: "销售", "Sales";
    campaign: "活动", "Campaign";
    other_language: "English", "中文";
    from: "开始日期", "From";
    to: "结束日期", "To";
    model: "归因模型", "Attribution model";
    group_by: "分组", "Group by";
    scope: "数据范围", "Data of";
    scope_node: "本节点", "This node";
    scope_all: "全部节点", "All nodes";
    apply: "应用", "Apply";
    download_csv: "下载 CSV", "Download CSV";
    download_xlsx: "下载 Excel", "Download Excel";
    model_last_touch: "末次触点", "Last touch";
    model_first_touch: "首次触点", "First touch";
    model_linear: "线性", "Linear";
    model_time_decay: "时间衰减", "Time decay";
    model_position_based: "位置加权", "Position based";
    model_markov: "数据驱动（马尔可夫）", "Data-driven (Markov)";
    by_campaign: "按活动", "By campaign";
    by_channel: "按渠道", "By channel";
    by_kind: "按类型", "By kind";
    chart_cost_revenue: "成本与成交金额（按成交金额前 10）", "Cost and revenue (top 10 by revenue)";
    chart_leads_by_kind: "各类型线索数", "Leads by kind";
    chart_scans_by_app: "扫码所用 App", "Scans by app";
    qr_targets: "二维码去向", "Where each code goes";
    qr_targets_help: "海报已印好也能改去向：填 form（本活动表单）、campaign:活动编号（另一活动的表单），或 https:// 开头的网址。扫码仍计入本活动和该投放位置。", "Change where a printed code goes: form (this campaign's form), campaign:<slug> (another campaign's form), or an https:// address. Scans still count for this campaign and placement.";
    qr_target_save: "保存去向", "Save";
    chart_scans_by_hour: "扫码时段（报表时区）", "Scans by hour (reporting time zone)";
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
    add_destination: "添加推送目标", "Add a destination";
    no_destinations: "还没有推送目标。可在下方添加 CRM 的 Webhook 或销售群的机器人。", "No destinations yet. Add your CRM's webhook or a sales group's robot below.";
    new_destination_hint: "新的推送目标只接收创建之后发生的事件。", "A new destination receives the events that happen after it is created.";
    url: "地址（URL）", "URL";
    secret: "密钥（可选）", "Secret (optional)";
    secret_is_set: "已设置密钥", "A secret is set";
    secret_not_set: "未设置密钥", "No secret set";
    secret_keep: "留空则不修改", "leave empty to keep";
    remove_secret: "删除密钥", "Remove secret";
    events: "推送的事件", "Events";
    event_lead_created: "新线索", "New lead";
    event_lead_updated: "线索状态变更", "Lead status changed";
    event_conversion_recorded: "成交记录", "Conversion recorded";
    event_contact_erased: "联系人数据删除", "Contact erased";
    event_lead_overdue: "线索超时未跟进", "Lead overdue";
    event_report_roi: "ROI 定时报表", "Scheduled ROI report";
    campaigns_filter: "只推送这些活动（都不选 = 全部活动，包括以后新建的）", "Only these campaigns (none ticked = all, including later ones)";
    no_campaigns_yet: "还没有活动：将推送所有活动的事件。", "No campaigns yet: every campaign's events are sent.";
    enabled: "启用", "Enabled";
    delivery: "送达情况", "Delivery";
    backlog: "积压", "Backlog";
    delivered: "已送达", "Delivered";
    failed: "失败次数", "Failed attempts";
    last_error: "最近错误", "Last error";
    last_delivered_at: "最近送达", "Last delivered";
    next_attempt_at: "下次尝试", "Next attempt";
    state_ok: "正常", "OK";
    state_retrying: "重试中", "Retrying";
    state_catching_up: "追赶中", "Catching up";
    state_offline: "离线", "Offline";
    replication_to: "复制到 PostgreSQL", "Replication to PostgreSQL";
    replication_node: "节点", "node";
    replication_waiting: "条事件待发送", "events waiting";
    replication_last: "最近发送", "last shipped";
    replication_error: "错误", "error";
    state_dead: "已停止", "Dead";
    state_disabled: "已停用", "Disabled";
    dest_kind_webhook: "Webhook", "Webhook";
    dest_kind_wecom: "企业微信", "WeCom";
    dest_kind_dingtalk: "钉钉", "DingTalk";
    dest_kind_feishu: "飞书", "Feishu";
    send_test: "发送测试", "Send test";
    retry_now: "立即重试", "Retry now";
    delete: "删除", "Delete";
    delete_hint: "删除后，尚未送达的积压事件也一并丢弃。", "Deleting also drops the events not yet delivered.";
    retried: "已开始重试。", "Retrying now.";
    deleted: "已删除。", "Deleted.";
    test_result: "测试结果", "Test result";
    test_answered: "接收方返回 HTTP", "The receiver answered HTTP";
    test_accepted: "已接受", "accepted";
    test_refused: "未接受", "not accepted";
    test_failed: "无法送达：", "Could not deliver: ";
    tick_an_event: "请至少勾选一种事件。", "Tick at least one event.";
    secret_or_remove: "请填写新密钥或勾选“删除密钥”，不要同时进行。", "Type a new secret or tick “Remove secret”, not both.";
    help_title: "如何获取地址和密钥", "Where to get the URL and secret";
    help_webhook: "Webhook：CRM 或自建系统接收事件的地址。密钥可选：whsec_ 开头的 Standard Webhooks 密钥，用于给每个请求签名，接收方据此校验。", "Webhook: the address where your CRM or own service receives events. The secret is optional: a Standard Webhooks key (whsec_…) that signs each request for the receiver to check.";
    help_wecom: "企业微信：在群聊中“添加群机器人”，复制它的 Webhook 地址（https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…）。不填密钥：地址里的 key 就是密钥，请勿外传。", "WeCom (企业微信): in the group, add a group robot (添加群机器人) and copy its webhook address (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…). No secret: the key in the address is the secret, so keep it private.";
    help_dingtalk: "钉钉：群设置 → 智能群助手 → 添加机器人 → 自定义；安全设置勾选“加签”，复制以 SEC 开头的密钥，再复制 Webhook 地址（https://oapi.dingtalk.com/robot/send?access_token=…）。", "DingTalk (钉钉): group settings → 智能群助手 → add a robot → custom. Under security tick 加签 (signing) and copy the secret that starts with SEC, then copy the webhook (https://oapi.dingtalk.com/robot/send?access_token=…).";
    help_feishu: "飞书：群设置 → 群机器人 → 添加机器人 → 自定义机器人，复制 webhook 地址（https://open.feishu.cn/open-apis/bot/v2/hook/…）；若在安全设置中勾选“签名校验”，把它的密钥填在这里。", "Feishu (飞书): group settings → 群机器人 → add a robot → custom robot, and copy the webhook address (https://open.feishu.cn/open-apis/bot/v2/hook/…). If you tick 签名校验 (signature check) under security, paste its secret here.";
    help_masking: "发往企业微信、钉钉、飞书群的消息中，手机号和邮箱会打码（如 138****8000、z***@example.com），完整信息只发给 Webhook。每个机器人每分钟最多 20 条，超出时等待的线索合并为一条汇总。", "Messages to WeCom, DingTalk and Feishu groups mask phone numbers and e-mail addresses (138****8000, z***@example.com); only webhooks get them in full. At most 20 messages a minute go to one robot; beyond that, waiting leads are folded into one digest.";
    salespeople: "销售人员", "Salespeople";
    add_salesperson: "添加销售", "Add a salesperson";
    no_salespeople: "还没有销售。在下方添加后，可在活动中设置把新线索自动分配给他们。", "No salespeople yet. Add them below, then let a campaign assign its new leads to them.";
    mobile: "手机号", "Mobile";
    wecom_userid: "企业微信 userid", "WeCom userid";
    dingtalk_userid: "钉钉 userid", "DingTalk userid";
    feishu_open_id: "飞书 open_id", "Feishu open_id";
    chat_ids: "群消息 @ 用的账号", "Chat ids (for mentions)";
    active: "在岗（接收新线索）", "Active (gets new leads)";
    state_active: "在岗", "Active";
    state_inactive: "已停用", "Inactive";
    assigned_leads: "名下线索", "Leads";
    view_leads: "查看线索", "View leads";
    added: "已添加。", "Added.";
    not_deleted: "未删除：", "Not deleted: ";
    mentions_help: "推送到销售群的线索消息（新线索、状态或负责人变更、超时提醒）会 @ 负责的销售：企业微信用成员的 userid（通讯录中的“账号”），钉钉用手机号，飞书用 open_id（ou_ 开头）。都可不填。", "Chat alerts about a lead (new, changed, overdue) mention its salesperson: WeCom by the member's userid (the 账号 in the contacts), DingTalk by mobile number, Feishu by open_id (ou_…). All optional.";
    delete_salesperson_hint: "没有线索的销售会被删除；名下有线索的只会停用：不再分配新线索，已有线索仍归其名下。", "Someone without leads is deleted; someone with leads is deactivated instead: no new leads, and their leads still name them.";
    assign: "线索分配", "Lead assignment";
    assign_mode: "新线索分配方式", "Assign new leads";
    assign_none: "不自动分配", "Not automatically";
    assign_owner: "分给负责人", "To the owner";
    assign_round_robin: "轮流分配", "Round robin";
    assign_people: "参与轮流分配的销售（按销售名单顺序轮流）", "Salespeople in the round robin (in the roster's order)";
    assign_help: "同一联系人 90 天内再次留资，仍分给上次的销售（只要该销售在岗），不占轮次。“分给负责人”需要把负责人选为一位销售。", "A contact who comes back within 90 days keeps their salesperson (while active) and takes no turn. “To the owner” needs a salesperson chosen as the owner.";
    no_salespeople_yet: "还没有销售：请先在“销售”页添加。", "No salespeople yet: add them on the Sales page first.";
    follow_up_hours: "跟进时限（小时；超时提醒，留空不提醒）", "Follow up within (hours; a reminder when missed, empty = none)";
    owner_other: "（不是销售：填写姓名）", "(not a salesperson: type a name)";
    person_name: "姓名", "Name";
    erase_person: "删除此人", "Erase this person";
    erase_confirm_title: "删除此人的全部个人数据？", "Erase everything about this person?";
    erase_confirm_hint: "此人（同一手机号或邮箱）的全部线索与跟进记录将被删除，成交记录保留金额与阶段但不再关联到此人；统计数字与 ROI 报表不变；一分钟内从磁盘上清除。此操作无法撤销。", "All leads and follow-ups of this person (the same phone or e-mail) are erased; their conversions keep amount and stage but no longer point at them; counts and the ROI report stay as they are; the data leaves the disk within a minute. This cannot be undone.";
    erase_button: "确认删除", "Erase";
    erasure_receipts: "删除回执", "Erasure receipts";
    erasure_receipts_hint: "回执只保存联系方式的 SHA-256 摘要，不含任何个人数据。", "Receipts keep only a SHA-256 digest of the contact, no personal data.";
    erased_notice: "已删除此人的数据。", "The person's data was erased.";
    download_backup: "下载备份", "Download a backup";
    backup_hint: "整个数据库的一致副本（含个人数据，请妥善保管）。用 leadgate restore --force 覆盖现有数据库时，备份之后删除的人会按回执再次删除。", "A consistent copy of the whole store (it holds personal data: keep it safe). leadgate restore --force over the current store erases again the people its receipts record as erased since.";
    receipt_id: "回执编号", "Receipt";
    contact_sha256: "联系方式 (SHA-256)", "Contact (SHA-256)";
    erased_leads: "删除的线索", "Leads erased";
    unlinked_conversions: "解除关联的成交", "Conversions unlinked";
    erased_at: "删除时间", "Erased at";
    erasure_reason: "原因", "Reason";
    erasure_requested: "本人要求", "Person's request";
    erasure_retention: "超过保存期限", "Retention period";
    erasure_replicated: "本人在另一节点要求", "Person's request on another node";
    owner_must_be_salesperson: "“分给负责人”需要把负责人选为一位销售。", "“To the owner” needs a salesperson chosen as the owner.";
    inactive_suffix: "（已停用）", " (inactive)";
    assigned_to: "负责销售", "Assigned to";
    unassigned: "未分配", "Unassigned";
    assign_button: "分配", "Assign";
    follow_up: "跟进", "Follow-up";
    record: "记录", "Record";
    recorded: "已记录跟进。", "Follow-up recorded.";
    first_follow_up: "首次跟进", "First follow-up";
    not_followed_up: "未跟进", "Not followed up";
    overdue: "已超时", "Overdue";
    due: "截止", "Due";
    follow_ups_recorded: "跟进记录", "Follow-ups";
    activity_call: "电话", "Call";
    activity_visit: "拜访", "Visit";
    activity_message: "消息", "Message";
    activity_note: "备注", "Note";
    chart_follow_up: "跟进：平均响应时间（小时）与跟进率", "Follow-up: average response time (hours) and share followed up";
    hours: "小时", "h";
    follow_up_columns: "只看跟进列", "Follow-up columns";
    schedules: "定时报表", "Scheduled reports";
    nav_schedules: "报表", "Reports";
    nav_audit: "审计", "Audit";
    audit_log: "审计日志", "Audit log";
    audit_help: "用管理员令牌（API 或本后台）所做的每项更改都记在这里，最新的在前；不含线索的个人信息。时间为报表时区：", "Every change made with the admin token (API or this console) is recorded here, newest first, without any lead's personal data. Times are in the reporting time zone: ";
    no_audit: "还没有任何更改记录。", "No changes recorded yet.";
    audit_more: "只显示最近 200 条；更早的记录请用 GET /api/audit?since=… 读取。", "Only the latest 200 are shown; read older ones with GET /api/audit?since=….";
    audit_time: "时间", "Time";
    audit_action: "操作", "Action";
    audit_target: "对象", "Target";
    audit_credential: "凭据", "Credential";
    audit_client: "来源地址", "Client address";
    add_schedule: "添加定时报表", "Add a scheduled report";
    no_schedules: "还没有定时报表。在下方添加后，ROI 报表会按时发到所选的推送目标（如销售群机器人）。", "No scheduled reports yet. Add one below and the ROI report reaches the chosen destination (a sales group's robot, say) on time.";
    schedule_needs_destination: "还没有推送目标：请先在“推送”页添加销售群机器人或 Webhook，再回来设置定时报表。", "No destinations yet: add a sales group's robot or a webhook on the Destinations page first, then come back here.";
    schedule_help: "每天的报表发送前一天的数据；每周的在所选星期发送上一周（周一至周日）；每月的在 1 日发送上个月。时间按报表时区计算：", "A daily report covers the day before; a weekly one goes on its weekday with the previous week (Monday to Sunday); a monthly one goes on the 1st with the previous month. Times are in the reporting time zone: ";
    schedule_any_events: "报表总会发到所选目标，不受其“推送的事件”和活动筛选限制。", "The report reaches its destination whatever that destination's event and campaign filters say.";
    destination: "推送目标", "Destination";
    choose: "请选择", "Choose…";
    every: "频率", "How often";
    send_time: "发送时间", "Sent";
    at_time: "时间（时:分）", "Time (HH:MM)";
    weekday: "星期（仅每周）", "Weekday (weekly only)";
    on_the_first: "1 日", "on the 1st";
    report_content: "报表内容", "Report";
    last_run: "上次定时发送", "Last scheduled send";
    next_run: "下次发送", "Next send";
    run_now: "立即发送", "Send now";
    ran: "报表已加入发送队列：", "The report is on its way: ";
    every_daily: "每天", "Daily";
    every_weekly: "每周", "Weekly";
    every_monthly: "每月", "Monthly";
    weekday_mon: "周一", "Mon";
    weekday_tue: "周二", "Tue";
    weekday_wed: "周三", "Wed";
    weekday_thu: "周四", "Thu";
    weekday_fri: "周五", "Fri";
    weekday_sat: "周六", "Sat";
    weekday_sun: "周日", "Sun";
    when: "时间", "When";
    follow_up_when: "跟进时间（留空 = 现在）", "When it happened (empty = now)";
    follow_up_when_invalid: "跟进时间应为日期和时间，如 2026-11-29T10:30（报表时区）", "The follow-up time must be a date and time like 2026-11-29T10:30 (reporting time zone)";
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
            "markov" => t.model_markov,
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
            "ok" => t.state_ok,
            "retrying" => t.state_retrying,
            "dead" => t.state_dead,
            "disabled" => t.state_disabled,
            "webhook" => t.dest_kind_webhook,
            "wecom" => t.dest_kind_wecom,
            "dingtalk" => t.dest_kind_dingtalk,
            "feishu" => t.dest_kind_feishu,
            "lead.created" => t.event_lead_created,
            "lead.updated" => t.event_lead_updated,
            "conversion.recorded" => t.event_conversion_recorded,
            "contact.erased" => t.event_contact_erased,
            "lead.overdue" => t.event_lead_overdue,
            "report.roi" => t.event_report_roi,
            "none" => t.assign_none,
            "owner" => t.assign_owner,
            "round_robin" => t.assign_round_robin,
            "call" => t.activity_call,
            "visit" => t.activity_visit,
            "message" => t.activity_message,
            "note" => t.activity_note,
            "daily" => t.every_daily,
            "weekly" => t.every_weekly,
            "monthly" => t.every_monthly,
            "mon" => t.weekday_mon,
            "tue" => t.weekday_tue,
            "wed" => t.weekday_wed,
            "thu" => t.weekday_thu,
            "fri" => t.weekday_fri,
            "sat" => t.weekday_sat,
            "sun" => t.weekday_sun,
            other => kind_label(self, other),
        }
    }
}

impl Lang {
    /// The app or OS a scan came from (`scanner::APPS`, `scanner::OSES`).
    pub fn scan_label(self, value: &str) -> &'static str {
        let (zh, en) = match value {
            "wecom" => ("企业微信", "WeCom"),
            "wechat" => ("微信", "WeChat"),
            "dingtalk" => ("钉钉", "DingTalk"),
            "feishu" => ("飞书", "Feishu / Lark"),
            "alipay" => ("支付宝", "Alipay"),
            "douyin" => ("抖音", "Douyin"),
            "qq" => ("QQ", "QQ"),
            "weibo" => ("微博", "Weibo"),
            "baidu" => ("百度 App", "Baidu app"),
            "browser" => ("浏览器", "Browser"),
            "ios" => ("iOS", "iOS"),
            "android" => ("Android", "Android"),
            "harmonyos" => ("鸿蒙", "HarmonyOS"),
            "windows" => ("Windows", "Windows"),
            "macos" => ("macOS", "macOS"),
            "linux" => ("Linux", "Linux"),
            _ => ("其他", "Other"),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
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
        let destinations = crate::delivery::Kind::ALL.map(|k| k.as_str());
        let events = crate::destination::EVENT_TYPES.map(|e| e.as_str());
        let states = [
            crate::destination::State::Ok,
            crate::destination::State::Retrying,
            crate::destination::State::Dead,
            crate::destination::State::Disabled,
        ]
        .map(|s| s.as_str());
        for value in destinations.iter().chain(&events).chain(&states) {
            assert_ne!(Lang::En.label(value), "Other", "{value}");
            assert_ne!(Lang::Zh.label(value), "其他", "{value}");
        }
        let activities = crate::activity::ActivityKind::ALL.map(|k| k.as_str());
        let modes = [
            crate::campaign::AssignMode::None,
            crate::campaign::AssignMode::Owner,
            crate::campaign::AssignMode::RoundRobin,
        ]
        .map(|m| m.as_str());
        for value in activities.iter().chain(&modes) {
            assert_ne!(Lang::En.label(value), "Other", "{value}");
            assert_ne!(Lang::Zh.label(value), "其他", "{value}");
        }
        let rhythms = crate::schedule::Every::ALL.map(|e| e.as_str());
        let weekdays = crate::schedule::period::WEEKDAYS;
        for value in rhythms.iter().chain(&weekdays) {
            assert_ne!(Lang::En.label(value), "Other", "{value}");
            assert_ne!(Lang::Zh.label(value), "其他", "{value}");
        }
        assert_eq!(Lang::Zh.label("email"), "邮件");
        assert_eq!(Lang::Zh.label("wecom"), "企业微信");
        assert_eq!(Lang::Zh.label("time_decay"), "时间衰减");
        assert_eq!(Lang::En.label("disqualified"), "Disqualified");
    }
}
