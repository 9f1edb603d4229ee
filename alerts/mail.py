"""SMTP delivery with smtplib: one connection per batch, failures sorted into retry-later and give-up.

The password comes from settings (SMTP_PASSWORD, a SecretStr) and only ever goes to `login`; error
texts are built from SMTP codes and server replies, never from settings.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate

from models.settings import Settings

# Long subjects stay on one line (SMTP allows 998 characters): folding makes some parsers keep a space.
POLICY = default_policy.clone(max_line_length=998)


class SendFailure(Exception):
    """A message was not accepted; `permanent` says whether trying again can help."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:900]
        self.permanent = permanent


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp.host)


def build_message(settings: Settings, to: str, subject: str, text: str, html: str, message_id: str) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = settings.smtp.sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id  # the same on every retry, so a receiving server can drop a repeat
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text}".strip()


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()


class Mailer:
    """`with Mailer(settings) as mailer: mailer.send(msg)`; (re)connects on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._unreachable: SendFailure | None = None  # a failed connect is not retried within one batch

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if not s.smtp.host:
            raise SendFailure("SMTP_HOST is not set; the email waits in the outbox")
        smtp: smtplib.SMTP | None = None
        try:
            if s.smtp.ssl:
                smtp = smtplib.SMTP_SSL(
                    s.smtp.host, s.smtp.port, timeout=s.smtp.timeout_seconds, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.smtp.host, s.smtp.port, timeout=s.smtp.timeout_seconds)
            return self._greet(smtp)
        except smtplib.SMTPAuthenticationError as exc:
            _close(smtp)
            raise SendFailure(f"SMTP login as {s.smtp.username} refused: {_reply(exc)}") from None
        except smtplib.SMTPResponseException as exc:
            _close(smtp)
            raise SendFailure(f"SMTP server {s.smtp.host}:{s.smtp.port} said {_reply(exc)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            _close(smtp)
            raise SendFailure(
                f"cannot reach SMTP server {s.smtp.host}:{s.smtp.port}: {type(exc).__name__}: {exc}"
            ) from None

    def _greet(self, smtp: smtplib.SMTP) -> smtplib.SMTP:
        s = self.settings
        smtp.ehlo()
        if s.smtp.starttls and not s.smtp.ssl:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if s.smtp.username:
            password = s.smtp.password.get_secret_value() if s.smtp.password else ""
            smtp.login(s.smtp.username, password)
        return smtp

    def send(self, msg: EmailMessage) -> None:
        if self._unreachable is not None:
            raise self._unreachable
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except SendFailure as failure:
                self._unreachable = failure
                raise
        try:
            refused = self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            raise SendFailure(f"recipient refused: {code} {text}", permanent=500 <= code < 600) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise SendFailure(f"SMTP server said {_reply(exc)}", permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise SendFailure(f"SMTP connection failed while sending: {type(exc).__name__}: {exc}") from None
        if refused:
            code, reply = next(iter(refused.values()))
            raise SendFailure(f"recipient refused: {code} {reply!r}", permanent=500 <= code < 600)
