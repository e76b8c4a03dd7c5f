"""The command line's languages: table headers, titles and labels in Chinese or English.

One small catalogue, English text -> Chinese, used by the table printer (``api.cli_format``) for every
column header and by the commands for their titles. Only what people read is translated: CSV and JSON keys,
result codes and account names stay as they are, so scripts and greps do not depend on the language.

The language is ``--lang zh|en`` (before the command: ``fundledger --lang en trial-balance``) or
``FUNDLEDGER_LANG``; without either, Chinese when the locale is Chinese (``LC_ALL``, ``LC_MESSAGES`` or
``LANG`` starting with ``zh``, read in that order as POSIX does), English otherwise.
"""

from __future__ import annotations

import os
from enum import StrEnum


class Language(StrEnum):
    zh = "zh"
    en = "en"


LANGUAGE_ENV = "FUNDLEDGER_LANG"
# POSIX precedence: the first of these that is set and not empty names the locale.
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

CHINESE: dict[str, str] = {
    # columns of the ledger
    "book": "账簿",
    "account": "科目",
    "type": "类型",
    "currency": "币种",
    "debit": "借方",
    "credit": "贷方",
    "balance": "余额",
    "pending debits": "未决借方",
    "pending credits": "未决贷方",
    "total": "合计",
    "yes": "是",
    # voucher positions
    "program": "项目",
    "region": "地区",
    "year": "年度",
    "granted": "已授予",
    "reserved": "已预留",
    "used": "已使用",
    "expired": "已过期",
    "available": "可用",
    "paid (of used)": "已支付（含于已使用）",
    # subsidy caps
    "institution": "单位",
    "cap": "上限",
    "rule": "规则",
    "enforcement": "执行方式",
    "limit": "限额",
    "room": "剩余额度",
    "stop": "拒绝",
    "clip": "核减",
    "warn": "预警",
    # fund metrics
    "as of": "截至",
    "commitment": "认缴",
    "called": "实缴",
    "unfunded": "未实缴",
    "paid in": "实收",
    "distributed": "已分配",
    "NAV": "净值",
    "leverage": "撬动比",
    # risk-compensation pools
    "funder": "出资方",
    "level": "层级",
    "share": "份额",
    "contributed": "已出资",
    "compensation paid": "已补偿",
    "recovered": "已追回",
    "remaining": "余额",
    "bank": "银行",
    "suspended": "已暂停",
    "filed loans": "备案贷款数",
    "filed principal": "备案本金",
    "claims": "代偿申请",
    "entitled": "应补偿",
    "paid": "已支付",
    "owed": "待支付",
    # settlements
    "redemption": "兑付",
    "contract": "合同",
    "mode": "模式",
    "payable": "应付",
    "receivable": "应收",
    "payable (claims)": "应付（申请）",
    "receivable (claims)": "应收（申请）",
    "net payable": "净应付",
    "settled payable": "已结算应付",
    "settled receivable": "已结算应收",
    "cash paid": "已付现金",
    "unsettled": "未结算",
    "period": "期间",
    "counterparty": "对方地区",
    "totals": "合计",
    "settled on": "结算日",
    "approver": "审批人",
    # jobs and alerts
    "job": "作业",
    "jobs": "作业",
    "schedule": "计划",
    "schedule (Asia/Shanghai)": "计划（北京时间）",
    "next run": "下次运行",
    "last period": "上次期间",
    "status": "状态",
    "counts": "计数",
    "what it does": "说明",
    "first seen": "首次发现",
    "last seen": "最近发现",
    "severity": "级别",
    "kind": "种类",
    "subject": "对象",
    "amount": "金额",
    "excess": "超出",
    "resolved": "已解决",
    "message": "说明",
    "policy": "政策",
    "monitor": "监控",
    "id": "编号",
    # titles (templates: the fields in braces are filled in after translation)
    "trial balance of {book} as of {as_of}": "{book} 试算平衡表，截至 {as_of}",
    "every book": "全部账簿",
    "books of the demo: totals": "示例账簿：合计",
    "today (all postings)": "今日（全部记账）",
    "accounts of {book}": "{book} 科目余额",
    "voucher positions of {enterprise}": "{enterprise} 创新券额度",
    "subsidy program {program}: caps": "补助项目 {program}：上限",
    "every subsidy program: caps": "全部补助项目：上限",
    "sub-fund {code} as of {as_of}": "子基金 {code}，截至 {as_of}",
    "guidance fund {code} as of {as_of}": "引导基金 {code}，截至 {as_of}",
    "pool {pool}: funders": "风险补偿资金池 {pool}：出资方",
    "pool {pool}: banks": "风险补偿资金池 {pool}：合作银行",
    "settlement {settlement} {period}: {region} with {counterparty}": (
        "结算 {settlement} {period}：{region} 与 {counterparty}"
    ),
    "settlements of {region} with {counterparty}": "{region} 与 {counterparty} 的结算",
}
CATALOGUES: dict[Language, dict[str, str]] = {Language.zh: CHINESE, Language.en: {}}


def locale_language(environment: dict[str, str] | None = None) -> Language:
    """Chinese when the locale is Chinese, English otherwise (``FUNDLEDGER_LANG`` first when it is set)."""
    environment = os.environ if environment is None else environment
    chosen = environment.get(LANGUAGE_ENV, "").strip().lower()
    if chosen in Language.__members__:
        return Language(chosen)
    for name in LOCALE_VARIABLES:
        value = environment.get(name, "")
        if value:
            return Language.zh if value.lower().startswith("zh") else Language.en
    return Language.en


_current = [locale_language()]


def set_language(language: Language | None) -> Language:
    """The language of this command: the one asked for, else the locale's."""
    _current[0] = language if language is not None else locale_language()
    return _current[0]


def current_language() -> Language:
    return _current[0]


def label(text: str, **fields: object) -> str:
    """``text`` in the current language (English text is its own key; unknown text stays as it is), then
    its ``{fields}`` filled in as given: a code or a name is never translated."""
    template = CATALOGUES[_current[0]].get(text, text)
    return template.format(**fields) if fields else template
