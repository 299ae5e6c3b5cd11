"""Sending mail over SMTP to a real local server (aiosmtpd)."""

from __future__ import annotations

import socket

import pytest
from mailsink import smtp_sink

from mirrorcal.mail import Mail, MailError, SmtpMailer, SmtpServer

SENDER = "mirrorcal <no-reply@mirrorcal.test>"


async def test_a_message_arrives_with_text_html_and_headers() -> None:
    with smtp_sink() as (sink, url):
        mailer = SmtpMailer(url, SENDER)
        mail = Mail(
            to="ana@example.test",
            subject="Interview request: Backend Engineer at Client A",
            text="Hello Ana,\nplease pick a time.",
            html="<p>Hello Ana,</p><p>please pick a time.</p>",
            reply_to="recruiter@example.test",
            headers=(("X-Mirrorcal-Kind", "invitation"),),
        )
        message_id = await mailer.send(mail)
        (got,) = sink.wait_for(1)
    assert got.recipients == ["ana@example.test"]
    assert got.sender == "no-reply@mirrorcal.test"
    assert got.message["Subject"] == mail.subject
    assert got.message["Message-ID"] == message_id
    assert got.message["Reply-To"] == "recruiter@example.test"
    assert got.message["X-Mirrorcal-Kind"] == "invitation"
    assert "please pick a time." in got.text()
    assert "<p>please pick a time.</p>" in got.html()


async def test_sign_in_is_used_and_a_wrong_password_is_a_clear_error() -> None:
    with smtp_sink(credentials=("relay", "s3cret")) as (sink, url):
        await SmtpMailer(url, SENDER).send(Mail(to="a@example.test", subject="s", text="t"))
        (got,) = sink.wait_for(1)
        assert got.authenticated
        wrong = url.replace("s3cret", "nope")
        with pytest.raises(MailError, match="refused the sign-in"):
            await SmtpMailer(wrong, SENDER).send(Mail(to="a@example.test", subject="s", text="t"))
        assert len(sink.received) == 1


async def test_a_refused_recipient_is_named() -> None:
    with smtp_sink() as (sink, url):
        sink.refuse.add("gone@example.test")
        with pytest.raises(MailError, match="refused the recipient gone@example.test"):
            await SmtpMailer(url, SENDER).send(Mail(to="gone@example.test", subject="s", text="t"))
        assert sink.received == []


async def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(MailError, match=f"could not reach the mail server at 127.0.0.1:{port}"):
            await SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER, timeout=3).send(Mail(to="a@example.test", subject="s", text="t"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.test", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://mail.example.test:x", "port"),
        ("smtp://u:p@mail.example.test:587", "in clear"),
    ],
)
def test_bad_server_addresses_are_refused(url: str, message: str) -> None:
    with pytest.raises(MailError, match=message):
        SmtpServer.from_url(url)


def test_server_addresses() -> None:
    assert SmtpServer.from_url("smtps://u%40x:p%2Fw@mail.example.test") == SmtpServer(
        "mail.example.test", 465, "u@x", "p/w", implicit_tls=True
    )
    tls = SmtpServer.from_url("smtp://u:p@mail.example.test:587?starttls=true")
    assert (tls.port, tls.starttls, tls.implicit_tls) == (587, True, False)


@pytest.mark.parametrize("to", ["not-an-address", "a@b", "a@example.test, b@example.test", "a@example.test\r\nBcc: x@y.z"])
def test_bad_recipients_are_refused_before_sending(to: str) -> None:
    with pytest.raises(MailError, match="not an e-mail address"):
        Mail(to=to, subject="s", text="t")


@pytest.mark.parametrize("sender", ["mirrorcal <no-reply@localhost>", "nobody", "a@example.test, b@example.test"])
def test_a_sender_that_cannot_work_is_refused_before_anything_is_sent(sender: str) -> None:
    with pytest.raises(MailError, match="not an e-mail address"):
        SmtpMailer("smtp://127.0.0.1:25", sender)
    assert SmtpMailer("smtp://127.0.0.1:25", "mirrorcal <no-reply@mirrorcal.localhost>").sender  # the default is fine


def test_a_subject_cannot_smuggle_headers() -> None:
    with pytest.raises(MailError, match="one line"):
        Mail(to="a@example.test", subject="hi\r\nBcc: x@example.test", text="t")
