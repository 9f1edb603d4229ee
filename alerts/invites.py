"""Invitation emails: an owner invites a member who has no account yet; the one-time link in the email
opens the sign-in front route's "set your password" page (gateway/signin.py)."""

from __future__ import annotations

import html
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from alerts import mail
from alerts.strings import ALERTS
from models.access.invites import NewInvite, cancel_invite, create_invite
from models.access.orgs import get_org
from models.access.preferences import get_preferences
from models.access.roles import Actor
from models.db import session_scope
from models.settings import get_settings
from models.validation import ValidationError, validate_email


def invite_link(token: str, lang: str = "en") -> str:
    """The front route's set-a-password page, in the email's language."""
    return f"{get_settings().auth.url}/auth/invite?{urlencode({'token': token, 'lang': lang})}"


def invite_member(actor: Actor, org_id: str, email: str, lang: str = "en", now: datetime | None = None) -> NewInvite:
    """Create a one-time link for `email` (an owner's act, audited) and email it, in the invitee's
    language if they chose one, else `lang` (the inviting owner's). A link that could not be sent is
    withdrawn, so no working link exists that nobody received."""
    settings = get_settings()
    email = validate_email(email)
    if not mail.smtp_configured(settings):
        raise ValidationError("invitations are sent by email: set SMTP_HOST (see docs/alerts.md) first")
    invite = create_invite(actor, org_id, email, timedelta(hours=settings.auth.invite_hours), now)
    with session_scope() as session:
        org_name = get_org(session, org_id).name
    chosen = get_preferences(email)
    lang = chosen.lang if chosen.lang != "en" else (lang if lang in ("en", "zh") else "en")
    link = invite_link(invite.token, lang)
    words = ALERTS.words(lang, "invite")
    inviter = actor.label
    expires = f"{invite.expires_at:%Y-%m-%d %H:%M}"
    body = ALERTS(lang, "invite.body", inviter=inviter, org=org_name)
    until = ALERTS(lang, "invite.expires", expires=expires)
    text = f"{words['greeting']}\n\n{body}\n\n{link}\n\n{until}\n{words['ignore']}\n"
    page = (
        f'<!doctype html><html lang="{lang}"><body style="font-family: sans-serif; max-width: 640px;">'
        f"<p>{html.escape(words['greeting'])}</p>"
        f"<p>{html.escape(ALERTS(lang, 'invite.body', inviter=inviter, org=org_name))}</p>"
        f'<p><a href="{html.escape(link)}" style="background: #2563eb; color: #ffffff; padding: 8px 14px; '
        f'border-radius: 6px; text-decoration: none;">{html.escape(words["button"])}</a></p>'
        f'<p style="font-size: 12px; color: #64748b;">{html.escape(until)}<br>{html.escape(words["ignore"])}</p>'
        "</body></html>"
    )
    subject = mail_subject(ALERTS(lang, "invite.subject", inviter=inviter, org=org_name))
    msg = mail.build_message(settings, email, subject, text, page, f"<invite-{uuid.uuid4().hex}@spendsight>")
    try:
        with mail.Mailer(settings) as mailer:
            mailer.send(msg)
    except mail.SendFailure as failure:
        cancel_invite(actor, org_id, email)
        raise ValidationError(f"the invitation to {email} was not sent: {failure.reason}") from None
    return invite


def mail_subject(text: str) -> str:
    """One line: a name with a newline must not add a header."""
    return " ".join(text.split())[:250]
