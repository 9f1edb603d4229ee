"""UI text of the monthly statement page, in English and Chinese."""

from ui.i18n import register

STRINGS = {
    "en": {
        "statement.title": "Statement",
        "statement.help": "A printable monthly statement for the selected organization: spend per project and "
        "model, credits applied, what is billable, and the limits. Months are calendar months "
        "in the organization's time zone.",
        "statement.month": "Month",
        "statement.period": "Period",
        "statement.generated": "generated",
        "statement.summary": "Summary",
        "statement.spend": "Spend",
        "statement.vs_previous": "vs previous month",
        "statement.credits": "Credits applied",
        "statement.billable": "Billable",
        "statement.soft": "Soft limit",
        "statement.hard": "Hard limit",
        "statement.quota": "Approved quota",
        "statement.not_set": "not set",
        "statement.used": "{pct} of the soft limit",
        "statement.credit_balance": "Credit balance now",
        "statement.billed": "Billed by providers",
        "statement.by_project": "By project",
        "statement.by_model": "By model",
        "statement.detail": "Project × model",
        "statement.previous": "Previous month",
        "statement.change": "Change",
        "statement.share": "Share",
        "statement.empty": "No usage in {month}. Pick another month, or bring usage in with `spendsight ingest` "
        "or a collector source.",
        "statement.unpriced": "{n} requests have no price in the catalog and are not in the totals (Prices page).",
        "statement.download_html": "Download printable statement",
        "statement.print_tip": "Open the downloaded file in a browser and print it (Ctrl/⌘+P) for a PDF.",
        "statement.file": "statement",
        "statement.notes": "Notes",
    },
    "zh": {
        "statement.title": "月度账单",
        "statement.help": "所选组织的可打印月度账单：按项目和模型的支出、已抵扣额度、应付金额及限额。月份为组织时区"
        "内的自然月。",
        "statement.month": "月份",
        "statement.period": "账期",
        "statement.generated": "生成于",
        "statement.summary": "摘要",
        "statement.spend": "支出",
        "statement.vs_previous": "对比上月",
        "statement.credits": "已抵扣额度",
        "statement.billable": "应付金额",
        "statement.soft": "软限额",
        "statement.hard": "硬限额",
        "statement.quota": "批准配额",
        "statement.not_set": "未设置",
        "statement.used": "已用软限额的 {pct}",
        "statement.credit_balance": "当前额度余额",
        "statement.billed": "提供商账单金额",
        "statement.by_project": "按项目",
        "statement.by_model": "按模型",
        "statement.detail": "项目 × 模型",
        "statement.previous": "上月",
        "statement.change": "变化",
        "statement.share": "占比",
        "statement.empty": "{month} 没有用量。请选择其他月份，或通过 `spendsight ingest` / 采集源导入用量。",
        "statement.unpriced": "有 {n} 个请求在价格目录中没有价格，未计入合计（见价格页面）。",
        "statement.download_html": "下载可打印账单",
        "statement.print_tip": "在浏览器中打开下载的文件并打印（Ctrl/⌘+P）即可生成 PDF。",
        "statement.file": "statement",
        "statement.notes": "说明",
    },
}

register(STRINGS)
