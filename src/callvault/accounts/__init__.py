"""Accounts: users, roles, teams, password hashes, API tokens, browser sessions and login
throttling, kept in the storage core's database (`Accounts(vault)`). Nothing here knows
about recordings."""

from callvault.accounts._records import (
    MAX_TOKEN_DAYS,
    MIN_PASSWORD_LENGTH,
    SCOPES,
    SESSION_ABSOLUTE,
    SESSION_IDLE,
    TOKEN_PREFIX,
    SessionRecord,
    TokenRecord,
    UserRecord,
    normalise_username,
)
from callvault.accounts._throttle import ThrottlePolicy
from callvault.accounts._users import Accounts

__all__ = [
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD_LENGTH",
    "SCOPES",
    "SESSION_ABSOLUTE",
    "SESSION_IDLE",
    "TOKEN_PREFIX",
    "Accounts",
    "SessionRecord",
    "ThrottlePolicy",
    "TokenRecord",
    "UserRecord",
    "normalise_username",
]
