"""Browser pages (server-rendered). ``install(app)`` adds them to the FastAPI application.

So far: the login form (GET/POST /login, CSRF double-submit token signed with the secret key), logout
(POST /logout, session CSRF token) and a minimal home page. Cookies: Secure, HttpOnly, SameSite=Strict.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from crms.errors import AuthenticationError, PermissionDenied, RateLimited

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - CRMS</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>CRMS - Criminal Record Office, Balochistan</h1>
{body}
</main></body></html>"""


def _html(title: str, body: str, status: int = 200) -> HTMLResponse:
    resp = HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _login_form(request: Request, message: str | None = None, status: int = 200) -> HTMLResponse:
    from crms.access.sessions import CSRF_COOKIE, CSRF_FIELD, cookie_options, new_login_csrf
    from crms.api.deps import app_secret

    nonce, token = new_login_csrf(app_secret(request))
    error = f'<p role="alert" class="error">{escape(message)}</p>' if message else ""
    body = f"""<h2>Log in</h2>{error}
<form method="post" action="/login" autocomplete="off">
<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">
<p><label>Username <input name="username" required maxlength="64"></label></p>
<p><label>Password <input name="password" type="password" required maxlength="256"></label></p>
<p><label>One-time code (if enrolled) <input name="totp" inputmode="numeric" maxlength="6"></label></p>
<p><button type="submit">Log in</button></p>
</form>"""
    resp = _html("Log in", body, status)
    resp.set_cookie(CSRF_COOKIE, nonce, **cookie_options(3600))
    return resp


def install(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request):
        return _login_form(request)

    @app.post("/login", include_in_schema=False)
    def login_post(
        request: Request,
        username: str = Form("", max_length=64),
        password: str = Form("", max_length=256),
        totp: str = Form("", max_length=10),
        csrf_token: str = Form("", max_length=200),
    ):
        from crms.access import audit
        from crms.access.sessions import (
            COOKIE,
            CSRF_COOKIE,
            IDLE_TIMEOUT,
            check_login_csrf,
            cookie_options,
            create_session,
        )
        from crms.access.users import login
        from crms.api.deps import anonymous, app_secret, client_address, get_db

        db = get_db(request)
        try:
            check_login_csrf(app_secret(request), request.cookies.get(CSRF_COOKIE), csrf_token)
        except PermissionDenied as exc:
            who = anonymous(request)
            audit.record_refusal(db, who, "auth.login", exc.message, query="POST /login", target_type="user")
            return _login_form(request, "Your form expired or was not sent by this site. Try again.", 403)
        try:
            principal = login(
                db, username, password, totp=totp or None, address=client_address(request), channel="web"
            )
        except (AuthenticationError, RateLimited) as exc:
            return _login_form(request, exc.message, exc.status)
        with db.transaction() as session:
            token = create_session(session, principal)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token, **cookie_options(int(IDLE_TIMEOUT.total_seconds()) * 24))
        resp.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout_post(request: Request, csrf_token: str = Form("", max_length=200)):
        from crms.access import audit
        from crms.access.sessions import COOKIE, check_csrf_for_session, end_session, principal_from_session
        from crms.api.deps import app_secret, client_address, get_db

        db = get_db(request)
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return RedirectResponse("/login", status_code=303)
        try:
            with db.transaction() as session:
                principal = principal_from_session(session, cookie, address=client_address(request))
        except AuthenticationError:
            return RedirectResponse("/login", status_code=303)
        try:
            check_csrf_for_session(app_secret(request), cookie, csrf_token)
        except PermissionDenied as exc:
            audit.record_refusal(db, principal, "access.refused", exc.message, query="POST /logout")
            return _html("Refused", "<p>Missing or invalid CSRF token.</p>", 403)
        with db.transaction() as session:
            end_session(session, cookie)
            audit.record(session, principal, "auth.logout", target_type="user", target_id=principal.user_id)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    if not any(getattr(r, "path", None) == "/" for r in app.routes):

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def home(request: Request):
            from crms.access.sessions import COOKIE, CSRF_FIELD, csrf_for_session, principal_from_session
            from crms.api.deps import app_secret, client_address, get_db

            cookie = request.cookies.get(COOKIE)
            if not cookie:
                return RedirectResponse("/login", status_code=303)
            try:
                with get_db(request).transaction() as session:
                    p = principal_from_session(session, cookie, address=client_address(request))
            except AuthenticationError:
                return RedirectResponse("/login", status_code=303)
            csrf = csrf_for_session(app_secret(request), cookie)
            who = f"<strong>{escape(p.username)}</strong> ({escape(p.role)}, {escape(p.unit)})"
            body = f"""<p>Logged in as {who}.</p>
<form method="post" action="/logout"><input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">
<button type="submit">Log out</button></form>
<p><a href="/api/docs">API documentation</a></p>"""
            return _html("Home", body)
