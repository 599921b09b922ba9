"""What the Google emulators share: who may call them, and a throttle.

Google authenticates every call by its ``Authorization: Bearer`` header. A service account's key
reaches the API in one of two ways, both of which google-auth uses: the client signs a JWT with
the key and trades it at the key's ``token_uri`` for an access token (google-cloud-storage,
google-cloud-billing), or it sends the signed JWT itself as the bearer token (google-cloud-compute
over REST: a self-signed JWT). ``GoogleAuth`` knows service accounts by their public keys, serves
the token endpoint (``POST /token``, the JWT bearer grant of RFC 7523) and checks either kind of
token: a missing one answers 401 ``UNAUTHENTICATED``, as does one it did not issue or a JWT not
signed by the key it names; the token endpoint answers an OAuth error (``invalid_grant``) for an
assertion signed by another key. Each account holds grants per project; the emulators ask
``permits`` before they act and answer 403 naming the permission when it is missing.

``throttle(n)`` makes the next n API calls (not token requests) answer 429 ``RESOURCE_EXHAUSTED``,
as Google does when a quota per minute is spent, or with ``status=503`` ``UNAVAILABLE``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.emulators.http import Emulator, HttpError, Reply, Request

TOKEN_PATH = "/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
OWNER = "wedcloud@wedsync-prod.iam.gserviceaccount.com"
STATUS = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
EVERYTHING = None  # an account's grants when it may do anything anywhere (a project owner)


@cache
def _owner_key() -> rsa.RSAPrivateKey:
    """One key for the emulators' own account, made once a session (RSA key generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def google_error(status: int, message: str, reason: str) -> HttpError:
    body = {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN"),
                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}  # fmt: skip
    return HttpError(status, body)


@dataclass
class Account:
    email: str
    key_id: str
    public_key: rsa.RSAPublicKey
    grants: dict[str, frozenset[str]] | None = EVERYTHING  # project -> permissions


@dataclass
class GoogleAuth:
    accounts: dict[str, Account] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> account email
    issued: int = 0  # access tokens issued, for assertions

    def add(self, email: str, key: rsa.RSAPrivateKey, grants: dict[str, Iterable[str]] | None = EVERYTHING) -> str:
        key_id = secrets.token_hex(8)
        granted = None if grants is None else {p: frozenset(perms) for p, perms in grants.items()}
        self.accounts[email] = Account(email, key_id, key.public_key(), granted)
        return key_id

    def reset(self) -> None:
        self.accounts = {OWNER: self.accounts[OWNER]}
        self.tokens = {t: e for t, e in self.tokens.items() if e == OWNER}
        self.issued = 0

    def _verified(self, jwt: str) -> dict[str, Any]:
        """The claims of a JWT signed (RS256) by the key of the known account it names, unexpired."""
        try:
            head, body, signature = jwt.split(".")
            header, claims = json.loads(_b64decode(head)), json.loads(_b64decode(body))
        except ValueError:
            raise ValueError("the token is not a JWT") from None
        account = self.accounts.get(str(claims.get("iss")))
        if account is None or header.get("alg") != "RS256":
            raise ValueError(f"no such service account: {claims.get('iss')}")
        if header.get("kid") not in (None, account.key_id):
            raise ValueError("the JWT names a key the service account does not have")
        try:
            account.public_key.verify(
                _b64decode(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.") from None
        if float(claims.get("exp", 0)) < time.time():
            raise ValueError("the JWT has expired")
        return dict(claims)

    def token(self, request: Request) -> Reply:
        """The OAuth token endpoint: an access token for a JWT assertion signed by a known key."""
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        try:
            claims = self._verified(form.get("assertion", ""))
        except ValueError as error:
            return Reply(400, {"error": "invalid_grant", "error_description": str(error)})
        access = f"ya29.emulator-{secrets.token_urlsafe(16)}"
        self.tokens[access] = str(claims["iss"])
        self.issued += 1
        return Reply(200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    def principal(self, request: Request) -> str:
        """The account a request is made by, from its bearer token; 401 when there is none."""
        header = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise google_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                "required",
            )
        if token in self.tokens:
            return self.tokens[token]
        try:
            return str(self._verified(token)["iss"])
        except ValueError:
            raise google_error(401, "Request had invalid authentication credentials.", "authError") from None

    def permits(self, principal: str | None, project: str, permission: str) -> bool:
        account = self.accounts.get(principal or "")
        if account is None:
            return False
        return account.grants is EVERYTHING or permission in account.grants.get(project, frozenset())


class GoogleEmulator(Emulator):
    """An emulator of a Google API that throttles on demand, whose calls need a bearer token from
    a known service account; ``service_account()`` is the key JSON of an account it knows."""

    def __init__(self) -> None:
        super().__init__()
        self.auth = GoogleAuth()
        self._owner_key_id = self.auth.add(OWNER, _owner_key())
        self._throttled = (0, 429, "")

    def service_account(
        self, email: str = OWNER, grants: dict[str, Iterable[str]] | None = EVERYTHING, *, known: bool = True
    ) -> dict[str, str]:
        """A service account key as Google issues it, its ``token_uri`` this emulator's token
        endpoint. The emulators' own account (``OWNER``) may do anything; another gets a new key
        with ``grants`` (project -> permissions), or with ``known=False`` a key the emulator has
        never seen (an account whose key was replaced, say)."""
        with self.lock:
            if email == OWNER and known:
                key, key_id = _owner_key(), self._owner_key_id
            else:
                key = new_key()
                key_id = self.auth.add(email, key, grants) if known else self.auth.accounts[email].key_id
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": email.split("@")[1].split(".")[0],
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": "110000000000000000001",
            "token_uri": f"{self.url}{TOKEN_PATH}",
        }

    def throttle(self, requests: int, status: int = 429, path: str = "") -> None:
        """The next ``requests`` API calls (to paths starting with ``path``) answer ``status`` (429 or 503)."""
        with self.lock:
            self._throttled = (requests, status, path)

    def reset_auth(self) -> None:
        with self.lock:
            self.auth.reset()
            self._throttled = (0, 429, "")

    def permits(self, request: Request, project: str, permission: str) -> bool:
        with self.lock:
            return self.auth.permits(request.principal, project, permission)

    def dispatch(self, request: Request) -> Reply:
        with self.lock:
            if request.method == "POST" and request.path == TOKEN_PATH:
                return self.auth.token(request)
            remaining, status, path = self._throttled
            try:
                if remaining and request.path.startswith(path):
                    self._throttled = (remaining - 1, status, path)
                    message = "Quota exceeded" if status == 429 else "The service is currently unavailable."
                    raise google_error(status, message, "rateLimitExceeded" if status == 429 else "backendError")
                request.principal = self.auth.principal(request)
            except HttpError as error:
                return Reply(error.status, error.body)
        return super().dispatch(request)
