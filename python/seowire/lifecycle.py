"""User lifecycle across the providers: what each one allows, from the seed pages, and the
manual path where there is no API."""

from __future__ import annotations

import copy
from typing import Any

from .exceptions import NotSupported

__all__ = ["capabilities", "MANUAL_STEPS"]

_CAPABILITIES: dict[str, dict[str, Any]] = {
    "ahrefs": {
        "user_api": False,
        "scim": {"available": True, "version": "2.0", "plan": "Enterprise",
                 "setup": "SAML SSO first; Ahrefs support enables SCIM and issues the base URL and bearer token",
                 "identity_providers": ["Okta", "Microsoft Entra ID"],
                 "operations": ["create users", "update attributes", "deactivate/remove users"]},
        "auth": "API key as Authorization: Bearer (Enterprise API v3); OAuth 2.0 authorization code + PKCE for Ahrefs Connect apps",
        "pagination": "limit (+ offset on a few endpoints); no total count or next link",
        "rate_limit_headers": False,
        "retry_after": False,
        "webhooks": False,
        "plan_limits": {"Enterprise": "API units in the package; at least 50 units per request; more purchasable",
                        "Lite/Standard/Advanced": "free test queries only (capped at 100 rows)"},
        "rate_limit": "60 requests/minute plus dynamic throttling (429)",
        "event_strategy": "polling",
    },
    "moz": {
        "user_api": False,
        "scim": {"available": False, "version": None, "plan": "Enterprise",
                 "setup": "no SCIM endpoint; OneLogin's Moz connector is the only semi-automated path"},
        "auth": "x-moz-token header (tokens since March 2024) or HTTP Basic with Access ID and Secret Key; v1 signed queries (legacy)",
        "pagination": "next_token (opaque cursor); limit 1..50, default 25",
        "rate_limit_headers": False,
        "retry_after": False,
        "webhooks": False,
        "plan_limits": {"free/trial": {"concurrent": 1}, "medium": {"concurrent": 5},
                        "large": {"concurrent": 10}, "premium": {"concurrent": 25}},
        "rate_limit": "rows per month and concurrent requests per plan",
        "event_strategy": "polling",
    },
    "semrush": {
        "user_api": False,
        "scim": {"available": False, "version": None, "plan": "Enterprise",
                 "setup": "no SCIM; SAML SSO (enabled by SEMrush support) authenticates only and does not provision"},
        "auth": "API key as the key= query parameter",
        "pagination": "display_limit + display_offset",
        "rate_limit_headers": False,
        "retry_after": False,
        "webhooks": False,
        "plan_limits": {"unit": "API units per returned line; monthly allocation plus purchased packages"},
        "rate_limit": "10 requests/second and 10 concurrent requests per account",
        "event_strategy": "polling",
        # providers-next.md §2.1 [C SRDOC4 release notes and migration overview].
        "versions": {
            "v3_deprecated": "2026-11-16",
            "v3_shutdown": "end of 2027 (the date announced at least 3 months ahead)",
            "version_specific_keys_since": "2026-07-15",
            "key_rule": "a v3 key works only on v3 and a v4 key only on v4; up to 100 v4 keys per account, each with its "
                        "own permissions and optional expiry; the v3 key is auto-generated and cannot be revoked",
            "v4_auth": "Authorization: Apikey <v4 key> (never in the URL)",
            "v4_envelope": "{meta: {success, status_code, request_id}, data | error: {code, message, retryable, details}}",
            "v4_pagination": "limit + offset, no total: the last page is the first short one",
        },
    },
}

#: The documented manual path where no API exists.
MANUAL_STEPS: dict[str, dict[str, str]] = {
    "moz": {
        "provision": "Moz has no user API. As an account admin in Moz Pro, go to Account Settings > Manage Users and send "
                     "an email invitation; or, if your organisation uses OneLogin, assign the user to OneLogin's Moz "
                     "connector, which provisions the seat.",
        "deprovision": "Moz has no user API. As an account admin in Moz Pro, go to Account Settings > Manage Users and "
                       "remove the user; with OneLogin, unassign the user and the Moz connector propagates the removal.",
    },
    "semrush": {
        "provision": "SEMrush has no user API or SCIM. As an account admin, go to Account Management > Users, click "
                     "'Invite User', enter the email and choose a role; SSO (if enabled by support) only authenticates.",
        "deprovision": "SEMrush has no user API or SCIM. As an account admin, go to Account Management > Users and "
                       "remove the user (revoke the seat); disabling them in Okta/Entra only blocks SSO login, it does "
                       "not remove them from the account.",
    },
    "ahrefs": {
        "provision": "Ahrefs provisions users only through SCIM 2.0 (Enterprise, SAML SSO first, enabled by Ahrefs "
                     "support, who issue the SCIM base URL and token). Pass scim=seowire.AhrefsScim(base_url, token) "
                     "to seowire.Ahrefs, or assign the user to the Ahrefs app in Okta or Entra ID.",
        "deprovision": "Ahrefs deprovisions users only through SCIM 2.0 (see provisioning). Pass "
                       "scim=seowire.AhrefsScim(base_url, token) to seowire.Ahrefs, or unassign the user in Okta or "
                       "Entra ID (Entra syncs about every 40 minutes).",
    },
}


def _moz_api() -> dict[str, Any]:
    """The Moz API (JSON-RPC) facts, from the catalog's copy of the reference."""
    from . import catalog

    facts = {k: v["value"] for k, v in catalog.catalog("moz")["facts"].items()}
    penalty = facts["penalty"]
    return {
        "endpoint": facts["endpoint"],
        "auth": f"{facts['auth_header']} header (the same token as Links v2); no OAuth, no scopes",
        "request_id": f"a string of at least {facts['min_id_length']} characters (seowire sends a UUIDv4)",
        "quota_pools": facts["pools"],
        "quota_rules": ["free", "per_call", "per_result", "per_value", "dynamic"],
        "pagination": {"offset": "offset {token, limit 1..50}; the reply's offset.token is null at the end",
                       "page": "page {n, limit}; no total: the last page is the first short one"},
        "penalty": (f"more than {penalty['errors']} requests ending in 4xx within {penalty['window_seconds'] // 60} minutes: "
                    f"throttled to {penalty['throttled_requests']} requests per {penalty['window_seconds'] // 60} minutes "
                    f"until {penalty['lift_after_seconds']} s pass without a 4xx"),
        "rate_limit_headers": facts["rate_headers"],
        "retry_after": False,
        "max_intersect_targets": facts["max_intersect_targets"],
    }


def capabilities(provider: str | None = None) -> dict[str, Any]:
    """The facts of each provider's user-management story (from the seed pages), as a dict:
    ``user_api``, ``scim`` (and its plan), ``auth``, ``pagination``, ``rate_limit_headers``,
    ``retry_after``, ``webhooks``, ``plan_limits`` and the recommended ``event_strategy``;
    for Moz also ``moz_api``: the JSON-RPC API's endpoint, auth, quota pools, paging kinds and
    the 4xx rule."""
    caps = copy.deepcopy(_CAPABILITIES)
    caps["moz"]["moz_api"] = _moz_api()
    if provider is None:
        return caps
    if provider not in caps:
        raise ValueError(f"unknown provider {provider!r}: {', '.join(caps)}")
    return caps[provider]


def not_supported(provider: str, action: str) -> NotSupported:
    return NotSupported(MANUAL_STEPS[provider][action], provider=provider)
