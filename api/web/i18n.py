"""What the pages say, in Chinese (the default) and English, and how they show amounts and moments.

A dict per language: a missing key is a test failure (tests/web read every key the templates use), never a
silent English fallback. Amounts are integer fen from the services; the page shows them as ¥1,234,567.89
or in 万元 with two places, rounded for display only (HALF_UP, as a printed report rounds), never fed back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from ledger.money import DEFAULT_CURRENCY, from_fen
from ledger.numbers import SHANGHAI

YUAN_PER_WAN = Decimal(10_000)
WAN_DISPLAY_PLACES = Decimal("0.01")
CURRENCY_SIGNS = {"CNY": "¥"}


class Language(StrEnum):
    zh = "zh"
    en = "en"


class Unit(StrEnum):
    yuan = "yuan"
    wan = "wan"


MESSAGES: dict[Language, dict[str, str]] = {
    Language.zh: {
        "app.name": "科技金融账本",
        "nav.home": "首页",
        "nav.trial_balance": "试算平衡表",
        "nav.finance": "财政工作台",
        "nav.enterprise": "我的创新券",
        "nav.logout": "退出登录",
        "switch.language": "English",
        "switch.unit_wan": "以万元显示",
        "switch.unit_yuan": "以元显示",
        "login.title": "登录",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.failed": "用户名或密码不正确。",
        "login.expired": "会话已过期，请重新登录。",
        "signed_in_as": "当前用户",
        "role.admin": "系统管理员",
        "role.finance_office": "财政/科技局",
        "role.auditor": "审计",
        "role.fund_manager": "基金管理人",
        "role.enterprise": "企业",
        "role.bank": "合作银行",
        "role.service_provider": "服务机构",
        "home.title": "欢迎",
        "home.no_pages": "此角色的页面尚在建设中。",
        "home.enterprises": "企业",
        "error.title": "无法完成",
        "error.not_found": "页面不存在，或不在您的权限范围内。",
        "error.forbidden": "您的角色不能执行此操作。",
        "error.csrf": "表单已失效（CSRF 校验未通过），请刷新页面后重试。",
        "error.code": "规则代码",
        "error.back": "返回",
        "enterprise.title": "我的创新券",
        "enterprise.positions": "创新券额度（按项目和年度）",
        "enterprise.program": "项目",
        "enterprise.year": "年度",
        "enterprise.granted": "额度",
        "enterprise.reserved": "冻结",
        "enterprise.used": "已用",
        "enterprise.expired": "已过期",
        "enterprise.available": "可用",
        "enterprise.use_by": "使用截止",
        "enterprise.redeem_by": "兑付截止",
        "enterprise.redemptions": "兑付记录",
        "enterprise.provider": "服务机构",
        "enterprise.contract": "合同",
        "enterprise.claimed": "申领金额",
        "enterprise.status": "状态",
        "enterprise.payout": "支付状态",
        "enterprise.subsidies": "获得的补助",
        "enterprise.approved_by": "批准人",
        "enterprise.statement": "下载对账单",
        "enterprise.none": "暂无记录。",
        "finance.title": "财政工作台",
        "finance.budget_chart": "各项目预算、已承诺与已支出",
        "finance.budget": "预算",
        "finance.committed": "已承诺",
        "finance.spent": "已支出",
        "finance.caps": "各单位各年度补助与上限",
        "finance.institution": "单位",
        "finance.rule": "规则",
        "finance.enforcement": "执行方式",
        "finance.limit": "上限",
        "finance.room": "剩余额度",
        "finance.alerts": "未处理的预警",
        "finance.alert_kind": "类型",
        "finance.alert_subject": "对象",
        "finance.alert_message": "说明",
        "finance.first_seen": "首次发现",
        "finance.approvals": "待审批",
        "finance.recorded_by": "录入人",
        "finance.submitted_at": "录入时间",
        "finance.approve": "批准",
        "finance.reject": "驳回",
        "finance.reason": "驳回理由",
        "finance.approval_doc": "批复文号",
        "finance.queue_empty": "没有待审批的事项。",
        "finance.item": "事项",
        "finance.summary": "内容",
        "finance.preview": "预览",
        "finance.preview_of": "预览（未写入）",
        "finance.binding_cap": "起约束作用的上限",
        "finance.decided_approved": "已批准。",
        "finance.decided_rejected": "已驳回。",
        "finance.record_application": "录入补助申请",
        "finance.base_figure": "计算基数名称",
        "finance.base_amount": "基数金额（元）",
        "finance.submit": "提交",
        "finance.recorded": "已录入，等待另一人审批。",
        "enforcement.stop": "拒绝",
        "enforcement.clip": "核减",
        "enforcement.warn": "预警",
        "ledger.trial_balance": "试算平衡表",
        "ledger.as_of": "截至日期",
        "ledger.book": "账簿",
        "ledger.all_books": "全部账簿",
        "ledger.account": "科目",
        "ledger.type": "类型",
        "ledger.debit": "借方",
        "ledger.credit": "贷方",
        "ledger.show": "查询",
        "ledger.history": "明细账",
        "ledger.date": "日期",
        "ledger.from": "起始日期",
        "ledger.to": "截止日期",
        "ledger.amount": "金额",
        "ledger.balance": "余额",
        "ledger.memo": "摘要",
        "ledger.kind": "业务类型",
        "ledger.transaction": "凭证",
        "ledger.next_page": "下一页",
        "ledger.first_page": "第一页",
        "ledger.voucher": "记账凭证",
        "ledger.voucher_no": "凭证号",
        "ledger.actor": "录入人",
        "ledger.approver": "审批人",
        "ledger.recorded_at": "录入时间",
        "ledger.chain": "哈希链",
        "ledger.chain_sealed": "已封存（第 {seq} 环）",
        "ledger.chain_unsealed": "尚未封存（等待链接）",
        "ledger.postings": "分录",
        "ledger.reason": "原因",
        "ledger.none": "无",
        "fund.title": "引导基金",
        "fund.subfunds": "子基金指标",
        "fund.subfund": "子基金",
        "fund.commitment": "认缴",
        "fund.called": "已催缴",
        "fund.unfunded": "未缴",
        "fund.paid_in": "实缴",
        "fund.distributed": "已分配",
        "fund.leverage": "撬动比",
        "fund.guidance_total": "引导基金合计",
        "fund.tvpi_chart": "各子基金月末 TVPI",
        "provider.title": "服务机构",
        "provider.redemptions": "待申领与已申领的兑付",
        "provider.enterprise": "企业",
        "provider.contract_amount": "合同金额",
        "provider.paid_on": "支付日期",
        "nav.fund": "基金",
        "nav.provider": "我的兑付",
        "audit.title": "审计",
        "audit.runs": "各作业最近一次运行（含对账）",
        "audit.job": "作业",
        "audit.period": "期间",
        "audit.finished": "完成时间",
        "audit.counts": "计数",
        "audit.no_runs": "尚无作业运行记录。",
        "audit.chain_heads": "每日哈希链末端",
        "audit.links": "当日封存",
        "audit.head_seq": "末端序号",
        "audit.head_hash": "末端哈希",
        "nav.audit": "审计",
        "status.reserved": "已冻结",
        "status.claimed": "已申领",
        "status.cancelled": "已取消",
        "status.expired": "已过期",
        "status.approved": "已批准",
        "status.paid": "已支付",
        "status.clawed_back": "已追回",
        "payout.unpaid": "未支付",
        "payout.in_batch": "支付批次审批中",
        "payout.paid": "已支付",
        "payout.paid_by_enterprise": "企业已全额支付（通用）",
    },
    Language.en: {
        "app.name": "fundledger",
        "nav.home": "Home",
        "nav.trial_balance": "Trial balance",
        "nav.finance": "Finance office",
        "nav.enterprise": "My vouchers",
        "nav.logout": "Log out",
        "switch.language": "中文",
        "switch.unit_wan": "Show in 万元",
        "switch.unit_yuan": "Show in 元",
        "login.title": "Log in",
        "login.username": "User name",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.failed": "The user name or password is not right.",
        "login.expired": "Your session has ended; please log in again.",
        "signed_in_as": "Signed in as",
        "role.admin": "Administrator",
        "role.finance_office": "Finance office",
        "role.auditor": "Auditor",
        "role.fund_manager": "Fund manager",
        "role.enterprise": "Enterprise",
        "role.bank": "Partner bank",
        "role.service_provider": "Service provider",
        "home.title": "Welcome",
        "home.no_pages": "The pages for this role are still being built.",
        "home.enterprises": "Enterprises",
        "error.title": "Not done",
        "error.not_found": "There is no such page, or it is outside your scope.",
        "error.forbidden": "Your role may not do this.",
        "error.csrf": "The form has expired (CSRF check failed); reload the page and try again.",
        "error.code": "Rule code",
        "error.back": "Back",
        "enterprise.title": "My innovation vouchers",
        "enterprise.positions": "Voucher quota by program and year",
        "enterprise.program": "Program",
        "enterprise.year": "Year",
        "enterprise.granted": "Granted",
        "enterprise.reserved": "Reserved",
        "enterprise.used": "Used",
        "enterprise.expired": "Expired",
        "enterprise.available": "Available",
        "enterprise.use_by": "Use by",
        "enterprise.redeem_by": "Redeem by",
        "enterprise.redemptions": "Redemptions",
        "enterprise.provider": "Provider",
        "enterprise.contract": "Contract",
        "enterprise.claimed": "Claimed",
        "enterprise.status": "Status",
        "enterprise.payout": "Payout",
        "enterprise.subsidies": "Subsidies received",
        "enterprise.approved_by": "Approved by",
        "enterprise.statement": "Download statement",
        "enterprise.none": "Nothing yet.",
        "finance.title": "Finance office dashboard",
        "finance.budget_chart": "Budget, committed and spent per program",
        "finance.budget": "Budget",
        "finance.committed": "Committed",
        "finance.spent": "Spent",
        "finance.caps": "Subsidies per institution per year against each cap",
        "finance.institution": "Institution",
        "finance.rule": "Rule",
        "finance.enforcement": "Enforcement",
        "finance.limit": "Limit",
        "finance.room": "Room left",
        "finance.alerts": "Open alerts",
        "finance.alert_kind": "Kind",
        "finance.alert_subject": "Subject",
        "finance.alert_message": "Message",
        "finance.first_seen": "First seen",
        "finance.approvals": "Awaiting approval",
        "finance.recorded_by": "Recorded by",
        "finance.submitted_at": "Recorded at",
        "finance.approve": "Approve",
        "finance.reject": "Reject",
        "finance.reason": "Reason for rejecting",
        "finance.approval_doc": "Approval document (批复文号)",
        "finance.queue_empty": "Nothing is waiting for approval.",
        "finance.item": "Item",
        "finance.summary": "What",
        "finance.preview": "Preview",
        "finance.preview_of": "Preview (nothing written)",
        "finance.binding_cap": "Binding cap",
        "finance.decided_approved": "Approved.",
        "finance.decided_rejected": "Rejected.",
        "finance.record_application": "Record a subsidy application",
        "finance.base_figure": "Base figure name",
        "finance.base_amount": "Base amount (元)",
        "finance.submit": "Submit",
        "finance.recorded": "Recorded; waiting for a second person to approve.",
        "enforcement.stop": "stop",
        "enforcement.clip": "clip (核减)",
        "enforcement.warn": "warn",
        "ledger.trial_balance": "Trial balance",
        "ledger.as_of": "As of",
        "ledger.book": "Book",
        "ledger.all_books": "All books",
        "ledger.account": "Account",
        "ledger.type": "Type",
        "ledger.debit": "Debit",
        "ledger.credit": "Credit",
        "ledger.show": "Show",
        "ledger.history": "Account history",
        "ledger.date": "Date",
        "ledger.from": "From",
        "ledger.to": "To",
        "ledger.amount": "Amount",
        "ledger.balance": "Balance",
        "ledger.memo": "Memo",
        "ledger.kind": "Kind",
        "ledger.transaction": "Transaction",
        "ledger.next_page": "Next page",
        "ledger.first_page": "First page",
        "ledger.voucher": "Journal voucher",
        "ledger.voucher_no": "Voucher number",
        "ledger.actor": "Recorded by",
        "ledger.approver": "Approved by",
        "ledger.recorded_at": "Recorded at",
        "ledger.chain": "Hash chain",
        "ledger.chain_sealed": "sealed (link {seq})",
        "ledger.chain_unsealed": "not sealed yet (waiting for the chainer)",
        "ledger.postings": "Postings",
        "ledger.reason": "Reason",
        "ledger.none": "none",
        "fund.title": "Guidance fund",
        "fund.subfunds": "Sub-fund metrics",
        "fund.subfund": "Sub-fund",
        "fund.commitment": "Commitment",
        "fund.called": "Called",
        "fund.unfunded": "Unfunded",
        "fund.paid_in": "Paid-in",
        "fund.distributed": "Distributed",
        "fund.leverage": "Leverage",
        "fund.guidance_total": "Guidance fund total",
        "fund.tvpi_chart": "TVPI per sub-fund at each month end",
        "provider.title": "Service provider",
        "provider.redemptions": "Redemptions to claim and claimed",
        "provider.enterprise": "Enterprise",
        "provider.contract_amount": "Contract amount",
        "provider.paid_on": "Paid on",
        "nav.fund": "Fund",
        "nav.provider": "My redemptions",
        "audit.title": "Audit",
        "audit.runs": "Each job's last run (reconcile among them)",
        "audit.job": "Job",
        "audit.period": "Period",
        "audit.finished": "Finished",
        "audit.counts": "Counts",
        "audit.no_runs": "No job has run yet.",
        "audit.chain_heads": "Chain head at the end of each day",
        "audit.links": "Sealed that day",
        "audit.head_seq": "Head link",
        "audit.head_hash": "Head hash",
        "nav.audit": "Audit",
        "status.reserved": "reserved",
        "status.claimed": "claimed",
        "status.cancelled": "cancelled",
        "status.expired": "expired",
        "status.approved": "approved",
        "status.paid": "paid",
        "status.clawed_back": "clawed back",
        "payout.unpaid": "unpaid",
        "payout.in_batch": "in a payment batch awaiting approval",
        "payout.paid": "paid",
        "payout.paid_by_enterprise": "paid in full by the enterprise (通用)",
    },
}


def _merge_page_catalogues() -> None:
    """Each group of pages keeps its own catalogue module (so parallel work on pages never edits one dict);
    they are folded into MESSAGES here, and a key defined twice is a mistake caught at import."""
    from api.web import messages_forms_finance, messages_forms_partners, messages_views

    for module in (messages_forms_finance, messages_forms_partners, messages_views):
        for language, entries in module.MESSAGES.items():
            clashes = MESSAGES[language].keys() & entries.keys()
            if clashes:
                raise RuntimeError(f"page messages defined twice: {sorted(clashes)}")
            MESSAGES[language].update(entries)


_merge_page_catalogues()


def parse_language(text: str | None) -> Language:
    try:
        return Language(text or Language.zh)
    except ValueError:
        return Language.zh


def parse_unit(text: str | None) -> Unit:
    try:
        return Unit(text or Unit.yuan)
    except ValueError:
        return Unit.yuan


def translate(language: Language, key: str, **values: object) -> str:
    """The message for ``key``; a key missing from the catalogue raises (a test walks every template)."""
    text = MESSAGES[language][key]
    return text.format(**values) if values else text


def label(language: Language, prefix: str, value: str | None) -> str:
    """A stored status shown in the page's language; a status the catalogue does not know yet is shown as
    stored rather than failing the page (the test lists the ones it must know)."""
    if value is None:
        return ""
    return MESSAGES[language].get(f"{prefix}.{value}", value)


def money_text(fen: int | None, unit: Unit, currency: str = DEFAULT_CURRENCY) -> str:
    """¥1,234,567.89 in 元, or 123.46万元 (display rounding only); an empty cell for no amount."""
    if fen is None:
        return ""
    value = from_fen(int(fen), currency)
    if unit is Unit.wan and currency == DEFAULT_CURRENCY:
        wan = (value / YUAN_PER_WAN).quantize(WAN_DISPLAY_PLACES, rounding=ROUND_HALF_UP)
        return f"{wan:,}万元"
    sign = "-" if value < 0 else ""
    return f"{sign}{CURRENCY_SIGNS.get(currency, currency + ' ')}{abs(value):,}"


def moment_text(moment: datetime | None) -> str:
    """A stored moment (UTC, or naive UTC from SQLite) shown in Asia/Shanghai."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def recorded_text(text: str | None) -> str:
    """A date or an RFC 3339 moment as the API layer gives it in text, shown as the pages show dates and
    moments (a moment in Asia/Shanghai)."""
    if not text:
        return ""
    if "T" not in text:
        return text
    return moment_text(datetime.fromisoformat(text))


def date_text(day: date | None) -> str:
    return "" if day is None else day.isoformat()
