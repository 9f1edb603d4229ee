"""UI text of the prices page, in English and Chinese."""

from ui.i18n import register

STRINGS = {
    "en": {
        "prices.title": "Prices",
        "prices.help": "The effective price catalog: genai-prices' bundled data, overridden by your "
        "`prices.toml` (fine-tuned and self-hosted models, negotiated prices). Every cost in "
        "Spendsight is computed from these prices when read, so a change re-prices all history.",
        "prices.search": "Search models",
        "prices.search_placeholder": "e.g. gpt-4o mini, claude haiku, gemini flash",
        "prices.providers": "Providers",
        "prices.only_overrides": "Only overridden prices",
        "prices.as_of": "Prices in force on",
        "prices.count": "{shown} of {total} models · USD per million tokens, standard tier, short context",
        "prices.empty": "No model matches. Try fewer words, or add the model as an override below.",
        "prices.col.name": "Name",
        "prices.col.input_mtok": "Input / 1M",
        "prices.col.cache_read_mtok": "Cached input / 1M",
        "prices.col.cache_write_mtok": "Cache write / 1M",
        "prices.col.output_mtok": "Output / 1M",
        "prices.col.origin": "Source",
        "prices.col.notes": "Notes",
        "prices.col.line": "Line",
        "prices.col.since": "Since",
        "prices.col.prices": "Prices",
        "prices.col.note": "Note",
        "prices.overrides": "Your overrides ({path})",
        "prices.no_overrides": "No overrides yet.",
        "prices.edit": "Add or change an override",
        "prices.edit_help": "An entry for the same provider, model and start date replaces the existing one. A "
        "model may be a glob (ft:gpt-4o-mini:*). Prices are USD per million tokens; leave a "
        "field empty to keep genai-prices' behaviour for it.",
        "prices.provider": "Provider",
        "prices.model": "Model",
        "prices.since": "Applies from (UTC date)",
        "prices.use_since": "Only from a date",
        "prices.note": "Note",
        "prices.save": "Save override",
        "prices.saved": "Saved {entity}; all history is re-priced with it.",
        "prices.remove": "Remove an override",
        "prices.remove_pick": "Entry",
        "prices.remove_button": "Remove",
        "prices.removed": "Removed the entry on line {line}.",
        "prices.raw": "Edit prices.toml directly",
        "prices.raw_help": "The whole file is validated before it is saved; an error names the line and field "
        "and nothing is written.",
        "prices.raw_save": "Validate and save",
        "prices.readonly": "Prices apply to every organization, so only an owner of all of them can change "
        "them. Ask an owner, or edit `data/prices.toml` on the server.",
    },
    "zh": {
        "prices.title": "价格",
        "prices.help": "生效的价格目录：genai-prices 内置数据，并由您的 `prices.toml` 覆盖（微调模型、自托管模型、"
        "协议价格）。Spendsight 的所有费用都在读取时按这些价格计算，因此修改价格会重新计算全部历史。",
        "prices.search": "搜索模型",
        "prices.search_placeholder": "例如 gpt-4o mini、claude haiku、gemini flash",
        "prices.providers": "提供商",
        "prices.only_overrides": "只看覆盖价格",
        "prices.as_of": "价格生效日期",
        "prices.count": "{total} 个模型中的 {shown} 个 · 美元/百万令牌，标准等级，短上下文",
        "prices.empty": "没有匹配的模型。请减少关键词，或在下方把该模型添加为覆盖价格。",
        "prices.col.name": "名称",
        "prices.col.input_mtok": "输入 / 百万",
        "prices.col.cache_read_mtok": "缓存输入 / 百万",
        "prices.col.cache_write_mtok": "缓存写入 / 百万",
        "prices.col.output_mtok": "输出 / 百万",
        "prices.col.origin": "来源",
        "prices.col.notes": "说明",
        "prices.col.line": "行",
        "prices.col.since": "起始",
        "prices.col.prices": "价格",
        "prices.col.note": "备注",
        "prices.overrides": "您的覆盖价格（{path}）",
        "prices.no_overrides": "还没有覆盖价格。",
        "prices.edit": "添加或修改覆盖价格",
        "prices.edit_help": "相同提供商、模型和起始日期的条目会替换原有条目。模型名可以是通配符（ft:gpt-4o-mini:*）。"
        "价格单位为美元/百万令牌；留空的字段沿用 genai-prices 的规则。",
        "prices.provider": "提供商",
        "prices.model": "模型",
        "prices.since": "生效日期（UTC）",
        "prices.use_since": "仅从某日起生效",
        "prices.note": "备注",
        "prices.save": "保存覆盖价格",
        "prices.saved": "已保存 {entity}；全部历史已按其重新定价。",
        "prices.remove": "删除覆盖价格",
        "prices.remove_pick": "条目",
        "prices.remove_button": "删除",
        "prices.removed": "已删除第 {line} 行的条目。",
        "prices.raw": "直接编辑 prices.toml",
        "prices.raw_help": "保存前会校验整个文件；出错时会指出行号和字段，并且不会写入任何内容。",
        "prices.raw_save": "校验并保存",
        "prices.readonly": "价格适用于所有组织，因此只有所有组织的所有者才能修改。请联系所有者，或在服务器上编辑 "
        "`data/prices.toml`。",
    },
}

register(STRINGS)
