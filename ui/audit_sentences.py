"""Each audit row as a sentence a non-engineer reads: "owner@… raised the soft limit of search-rag from
$3,965 to $4,200". One clause per kind of change (models.access.audit.ACTIONS); the words are in the
locale files under `audit.say` and `audit.do`, so both languages say the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import reduce
from typing import Any

from ui.i18n import t

LIMIT_FIELDS = ("soft_usd", "hard_usd", "quota_usd")
ORG_FIELDS = ("name", "environment", "timezone")
Clause = Callable[[str, Any, Any], str]  # (entity, before, after) -> what the actor did


def _load(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _usd(value: object) -> str:
    """$3,965 or $3,965.50: whole dollars without cents, as people write limits; a dash for nothing."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return "–"
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else f"${amount:,.2f}"


def _joined(parts: list[str]) -> str:
    """Clauses joined as the language joins them ("a; b" / "a；b")."""
    return reduce(lambda a, b: t("audit.say.and", a=a, b=b), parts) if parts else ""


def _tail(entity: str) -> str:
    """What follows the kind in an entity: "credit:12" -> "12", "gateway_key:gk_1" -> "gk_1"."""
    return entity.split(":", 1)[1] if ":" in entity else entity


def _scope(entity: str) -> str:
    project = _tail(entity) if entity.startswith("limit:") else entity
    return t("audit.say.org_scope") if project in ("*", "") else project


def _do(action: str, **values: object) -> str:
    return t(f"audit.do.{action.replace('.', '_')}", **values)


def _limit_set(entity: str, before: Any, after: Any) -> str:
    scope, old, new = _scope(entity), _dict(before), _dict(after)
    parts = []
    for name in LIMIT_FIELDS:
        was, now = old.get(name), new.get(name)
        what = t(f"audit.say.{name}")
        if was == now:
            continue
        if now is None:
            parts.append(t("audit.say.removed", what=what, scope=scope, old=_usd(was)))
        elif was is None:
            parts.append(t("audit.say.set", what=what, scope=scope, new=_usd(now)))
        else:
            verb = "raised" if Decimal(str(now)) > Decimal(str(was)) else "lowered"
            parts.append(t(f"audit.say.{verb}", what=what, scope=scope, old=_usd(was), new=_usd(now)))
    if old.get("thresholds") != new.get("thresholds") and new.get("thresholds") is not None:
        marks = ", ".join(f"{v}%" for v in new["thresholds"])
        parts.append(t("audit.say.thresholds", scope=scope, new=marks))
    return _joined(parts) or t("audit.say.resaved", scope=scope)


def _member_set(entity: str, before: Any, after: Any) -> str:
    role = t(f"role.{_dict(after).get('role', 'reader')}")
    if isinstance(before, dict):
        was = t(f"role.{before.get('role', 'reader')}")
        return t("audit.say.member_change", email=entity, old=was, new=role)
    return t("audit.say.member_add", email=entity, role=role)


def _org_update(entity: str, before: Any, after: Any) -> str:
    old, new = _dict(before), _dict(after)
    changes = [
        t("audit.say.org_field", field=t(f"audit.field.{name}"), old=old.get(name, "–"), new=value)
        for name, value in new.items()
        if name in ORG_FIELDS and old.get(name) != value
    ]
    return _joined(changes) or t("audit.say.org_resaved")


def _changed(action: str, old: object, new: object, **values: object) -> str:
    """Set, changed or removed, by what was there before and after (`action`.set/.changed/.removed)."""
    if new in (None, "", {}):
        return _do(f"{action}.removed", old=old, **values)
    if old in (None, "", {}):
        return _do(f"{action}.set", new=new, **values)
    return _do(f"{action}.changed", old=old, new=new, **values)


def _recipient(action: str) -> Clause:
    def clause(entity: str, before: Any, after: Any) -> str:
        rule, _, email = _tail(entity).partition(":")
        return _do(action, email=email, rule=rule)

    return clause


def _credit(action: str) -> Clause:
    def clause(entity: str, before: Any, after: Any) -> str:
        grant = _dict(after) or _dict(before)
        expires = grant.get("expires_on") or t("audit.say.no_expiry")
        return _do(action, amount=_usd(grant.get("amount_usd")), since=grant.get("granted_on"), expires=expires)

    return clause


def _key_switch(action: str) -> Clause:
    def clause(entity: str, before: Any, after: Any) -> str:
        return _do(action, key=_tail(entity), reason=_dict(after).get("reason") or "–")

    return clause


def _key_link(action: str) -> Clause:
    def clause(entity: str, before: Any, after: Any) -> str:
        link = _dict(after) or _dict(before)
        return _do(action, key=_tail(entity), scope=link.get("project") or t("audit.say.org_scope"))

    return clause


def _gateway_key(action: str) -> Clause:
    def clause(entity: str, before: Any, after: Any) -> str:
        key = _dict(after) or _dict(before)
        project = key.get("project") or t("audit.say.org_scope")
        return _do(action, name=key.get("name") or "–", id=_tail(entity), project=project)

    return clause


def _upstream(entity: str, before: Any, after: Any) -> str:
    def where(value: Any) -> str:
        v = _dict(value)
        return f"{v.get('key_env')} @ {v.get('base_url')}" if v else ""

    return _changed("gateway.upstream", where(before), where(after), provider=_tail(entity))


def _webhook(entity: str, before: Any, after: Any) -> str:
    return _changed("alert.webhook", before or "", after or "")


def _fx(entity: str, before: Any, after: Any) -> str:
    _, currency, since = (entity.split(":") + ["", ""])[:3]
    was = _dict(before).get("rate")
    words = _do("fx.set", currency=currency, rate=_dict(after).get("rate"), since=since)
    return t("audit.say.was", what=words, old=was) if was else words


def _statement(entity: str, before: Any, after: Any, action: str) -> str:
    new = _dict(after)
    return _do(
        action,
        month=_tail(entity),
        total=_usd(new.get("total_usd")),
        old=_usd(_dict(before).get("total_usd")),
        diff=_usd(new.get("difference_usd")),
        reason=new.get("reason") or "–",
    )


def _subscription(entity: str, before: Any, after: Any, action: str) -> str:
    new = _dict(after)
    return _do(action, email=_tail(entity), lang=new.get("lang", "–"), currency=new.get("currency", "–"))


def _prices(entity: str, before: Any, after: Any, action: str) -> str:
    values = ", ".join(f"{k} {v}" for k, v in sorted(_dict(after).items()) if k not in ("sha", "note"))
    return _do(action, entity=entity, prices=values or "–")


def _source(entity: str, before: Any, after: Any, action: str) -> str:
    new = _dict(after)
    return _do(action, name=entity, provider=new.get("provider", "–"), key_env=new.get("key_env", "–"))


def _user(entity: str, before: Any, after: Any, action: str) -> str:
    new = _dict(after)
    if action == "user.add" and new.get("via") == "invite":
        return _do("user.add_invite", email=entity)
    if action == "user.preferences":
        return _do(action, email=entity, lang=new.get("lang", "–"), currency=new.get("currency", "–"))
    return _do(action, email=entity)


def _plain(action: str, fill: Callable[[str, Any, Any, str], str]) -> Clause:
    return lambda entity, before, after: fill(entity, before, after, action)


def _simple(entity: str, before: Any, after: Any, action: str) -> str:
    new = _dict(after)
    return _do(
        action,
        entity=_tail(entity),
        email=entity,
        name=new.get("name", "–"),
        n=new.get("requeued", 0),
        expires=str(new.get("expires_at", "–"))[:16],
        environment=new.get("environment", "–"),
        timezone=new.get("timezone", "–"),
    )


SENTENCES: dict[str, Clause] = {
    "limit.set": _limit_set,
    "limit.clear": lambda entity, before, after: t("audit.say.limit_clear", scope=_scope(entity)),
    "member.set": _member_set,
    "member.remove": lambda entity, before, after: t("audit.say.member_remove", email=entity),
    "org.update": _org_update,
    "alert.recipient.add": _recipient("alert.recipient.add"),
    "alert.recipient.remove": _recipient("alert.recipient.remove"),
    "alert.webhook.set": _webhook,
    "credit.add": _credit("credit.add"),
    "credit.remove": _credit("credit.remove"),
    "limit.key_deactivate": _key_switch("limit.key_deactivate"),
    "limit.key_reactivate": _key_switch("limit.key_reactivate"),
    "limit.key_link": _key_link("limit.key_link"),
    "limit.key_unlink": _key_link("limit.key_unlink"),
    "gateway.key.create": _gateway_key("gateway.key.create"),
    "gateway.key.revoke": _gateway_key("gateway.key.revoke"),
    "gateway.upstream.set": _upstream,
    "fx.set": _fx,
    **{a: _plain(a, _statement) for a in ("statement.close", "statement.restate")},
    **{a: _plain(a, _subscription) for a in ("statement.subscribe", "statement.unsubscribe")},
    **{a: _plain(a, _prices) for a in ("price.edit", "price.override", "price.override.remove")},
    **{a: _plain(a, _source) for a in ("source.add", "source.enable", "source.disable", "source.run")},
    **{a: _plain(a, _user) for a in ("user.add", "user.passwd", "user.remove", "user.preferences")},
    **{
        a: _plain(a, _simple)
        for a in (
            "alert.deliver",
            "alert.retry",
            "alert.test",
            "ingest_token.create",
            "ingest_token.revoke",
            "member.invite",
            "member.invite_cancel",
            "org.create",
        )
    },
}


def kind(action: str) -> str:
    """A kind of change as the audit page's filter names it ("Limit set"); unknown kinds as they are."""
    return t(f"audit.kind.{action.replace('.', '_')}") if action in SENTENCES else action


def sentence(actor: str, action: str, entity: str, before_text: str, after_text: str) -> str:
    """One audit row as a sentence; a kind this module does not know reads as its name and entity."""
    clause = SENTENCES.get(action)
    what = (
        clause(entity, _load(before_text), _load(after_text))
        if clause
        else t("audit.say.generic", action=action, entity=entity)
    )
    return t("audit.say.who", who=actor, what=what)
